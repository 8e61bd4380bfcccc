package renderer

import (
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// allContainers is the CEL list of every container of a pod spec.
const allContainers = `(podSpec.?containers.orValue([]) + podSpec.?initContainers.orValue([]) + podSpec.?ephemeralContainers.orValue([]))`

// rbacBinding is the CEL condition that the object is a RoleBinding or a
// ClusterRoleBinding.
const rbacBinding = `object.?apiVersion.orValue('').startsWith('rbac.authorization.k8s.io/') && object.?kind.orValue('') in ['RoleBinding', 'ClusterRoleBinding']`

// baseline are the built-in rules spec.policy.baseline switches on, each
// with the objects it can refuse: its expression allows every other
// object, so the render does not evaluate it there.
var baseline = []struct {
	PolicyRule
	only func(o *unstructured.Unstructured, podSpec map[string]any) bool
}{
	{PolicyRule{Name: "baseline/no-privileged", Message: "containers must not be privileged",
		Expression: allContainers + `.all(c, c.?securityContext.?privileged.orValue(false) != true)`}, withPods},
	{PolicyRule{Name: "baseline/no-host-path", Message: "pods must not mount hostPath volumes",
		Expression: `podSpec.?volumes.orValue([]).all(v, !has(v.hostPath))`}, withPods},
	{PolicyRule{Name: "baseline/no-host-namespaces", Message: "pods must not share the host's network, PID or IPC namespace",
		Expression: `podSpec.?hostNetwork.orValue(false) != true && podSpec.?hostPID.orValue(false) != true && podSpec.?hostIPC.orValue(false) != true`}, withPods},
	{PolicyRule{Name: "baseline/image-pinned", Message: "images must be pinned by digest (@sha256:) or come from spec.policy.allowedRegistries",
		Expression: allContainers + `.all(c, c.?image.orValue('').contains('@sha256:') || allowedRegistries.exists(r, c.?image.orValue('').startsWith(r.endsWith('/') ? r : r + '/')))`}, withPods},
	{PolicyRule{Name: "baseline/resource-requests", Message: "containers must request cpu and memory",
		Expression: `(podSpec.?containers.orValue([]) + podSpec.?initContainers.orValue([])).all(c, 'cpu' in c.?resources.?requests.orValue({}) && 'memory' in c.?resources.?requests.orValue({}))`}, withPods},
	{PolicyRule{Name: "baseline/no-anonymous-binding", Message: "bindings must not grant roles to system:unauthenticated or system:anonymous",
		Expression: `!(` + rbacBinding + `) || object.?subjects.orValue([]).all(s, !(s.?name.orValue('') in ['system:unauthenticated', 'system:anonymous']))`}, rbacBindings},
	{PolicyRule{Name: "baseline/no-cluster-admin-binding", Message: "bindings must not grant cluster-admin",
		Expression: `!(` + rbacBinding + `) || object.?roleRef.?name.orValue('') != 'cluster-admin'`}, rbacBindings},
	{PolicyRule{Name: "baseline/no-kube-system", Message: "objects must not be placed in namespace kube-system",
		Expression: `object.?metadata.?namespace.orValue('') != 'kube-system'`}, nil},
}

// withPods reports whether an object runs pods.
func withPods(_ *unstructured.Unstructured, podSpec map[string]any) bool { return len(podSpec) > 0 }

// rbacBindings reports whether an object is a RoleBinding or a
// ClusterRoleBinding.
func rbacBindings(o *unstructured.Unstructured, _ map[string]any) bool {
	apiVersion, _ := o.Object["apiVersion"].(string)
	kind, _ := o.Object["kind"].(string)
	return strings.HasPrefix(apiVersion, "rbac.authorization.k8s.io/") && (kind == "RoleBinding" || kind == "ClusterRoleBinding")
}

// BaselineRules returns the built-in rules spec.policy.baseline switches
// on, in the order they are checked, without tiers.
func BaselineRules() []PolicyRule {
	out := make([]PolicyRule, len(baseline))
	for i, b := range baseline {
		out[i] = b.PolicyRule
	}
	return out
}

// baselineRules returns the baseline rules compiled, once per process:
// they are the same for every solution but their tiers and fields.
var baselineRules = sync.OnceValues(func() ([]*policyRule, error) {
	out := make([]*policyRule, len(baseline))
	for i, b := range baseline {
		program, err := compileRule(b.Expression)
		if err != nil {
			return nil, fmt.Errorf("built-in rule %s: %w", b.Name, err)
		}
		out[i] = &policyRule{name: b.Name, message: b.Message, only: b.only, program: program}
	}
	return out, nil
})
