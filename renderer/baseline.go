package renderer

import (
	"fmt"
	"sync"
)

// allContainers is the CEL list of every container of a pod spec.
const allContainers = `(podSpec.?containers.orValue([]) + podSpec.?initContainers.orValue([]) + podSpec.?ephemeralContainers.orValue([]))`

// rbacBinding is the CEL condition that the object is a RoleBinding or a
// ClusterRoleBinding.
const rbacBinding = `object.?apiVersion.orValue('').startsWith('rbac.authorization.k8s.io/') && object.?kind.orValue('') in ['RoleBinding', 'ClusterRoleBinding']`

// baseline are the built-in rules spec.policy.baseline switches on. The
// first ones are about pods: they allow every object without a pod spec,
// so the render skips them on such objects.
var baseline = []struct {
	PolicyRule
	podOnly bool
}{
	{PolicyRule{Name: "baseline/no-privileged", Message: "containers must not be privileged",
		Expression: allContainers + `.all(c, c.?securityContext.?privileged.orValue(false) != true)`}, true},
	{PolicyRule{Name: "baseline/no-host-path", Message: "pods must not mount hostPath volumes",
		Expression: `podSpec.?volumes.orValue([]).all(v, !has(v.hostPath))`}, true},
	{PolicyRule{Name: "baseline/no-host-namespaces", Message: "pods must not share the host's network, PID or IPC namespace",
		Expression: `podSpec.?hostNetwork.orValue(false) != true && podSpec.?hostPID.orValue(false) != true && podSpec.?hostIPC.orValue(false) != true`}, true},
	{PolicyRule{Name: "baseline/image-pinned", Message: "images must be pinned by digest (@sha256:) or come from spec.policy.allowedRegistries",
		Expression: allContainers + `.all(c, c.?image.orValue('').contains('@sha256:') || allowedRegistries.exists(r, c.?image.orValue('').startsWith(r.endsWith('/') ? r : r + '/')))`}, true},
	{PolicyRule{Name: "baseline/resource-requests", Message: "containers must request cpu and memory",
		Expression: `(podSpec.?containers.orValue([]) + podSpec.?initContainers.orValue([])).all(c, 'cpu' in c.?resources.?requests.orValue({}) && 'memory' in c.?resources.?requests.orValue({}))`}, true},
	{PolicyRule{Name: "baseline/no-anonymous-binding", Message: "bindings must not grant roles to system:unauthenticated or system:anonymous",
		Expression: `!(` + rbacBinding + `) || object.?subjects.orValue([]).all(s, !(s.?name.orValue('') in ['system:unauthenticated', 'system:anonymous']))`}, false},
	{PolicyRule{Name: "baseline/no-cluster-admin-binding", Message: "bindings must not grant cluster-admin",
		Expression: `!(` + rbacBinding + `) || object.?roleRef.?name.orValue('') != 'cluster-admin'`}, false},
	{PolicyRule{Name: "baseline/no-kube-system", Message: "objects must not be placed in namespace kube-system",
		Expression: `object.?metadata.?namespace.orValue('') != 'kube-system'`}, false},
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
		out[i] = &policyRule{name: b.Name, message: b.Message, podOnly: b.podOnly, program: program}
	}
	return out, nil
})
