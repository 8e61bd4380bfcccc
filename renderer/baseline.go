package renderer

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// baselinePrefix starts the name of every baseline rule, and of no other.
const baselinePrefix = "baseline/"

// allContainers is the CEL list of every container of a pod spec.
const allContainers = `(podSpec.?containers.orValue([]) + podSpec.?initContainers.orValue([]) + podSpec.?ephemeralContainers.orValue([]))`

// rbacBinding is the CEL condition that the object is a RoleBinding or a
// ClusterRoleBinding.
const rbacBinding = `object.?apiVersion.orValue('').startsWith('rbac.authorization.k8s.io/') && object.?kind.orValue('') in ['RoleBinding', 'ClusterRoleBinding']`

// The conditions the baseline asks of each container c, volume v and
// subject s.
const (
	notPrivileged = `c.?securityContext.?privileged.orValue(false) != true`
	pinned        = `c.?image.orValue('').contains('@sha256:') || allowedRegistries.exists(r, c.?image.orValue('').startsWith(r.endsWith('/') ? r : r + '/'))`
	requests      = `'cpu' in c.?resources.?requests.orValue({}) && 'memory' in c.?resources.?requests.orValue({})`
	noHostPath    = `!has(v.hostPath)`
	notAnonymous  = `!(s.?name.orValue('') in ['system:unauthenticated', 'system:anonymous'])`
)

// failing is the CEL list of the names of the items of list, over x, that
// do not meet cond.
func failing(list, x, cond string) string {
	return list + ".filter(" + x + ", !(" + cond + ")).map(" + x + ", string(" + x + ".?name.orValue('')))"
}

// baseline are the built-in rules spec.policy.baseline switches on. Each
// may say which objects it can refuse (only: its expression allows every
// other object, so the render does not evaluate it there) and what in a
// refused object breaks it (culprits: a CEL list of names, of the things
// noun names, added to the message).
var baseline = []struct {
	PolicyRule
	only           func(o *unstructured.Unstructured, podSpec map[string]any) bool
	culprits, noun string
}{
	{PolicyRule{Name: "baseline/no-privileged", Message: "containers must not be privileged",
		Expression: allContainers + `.all(c, ` + notPrivileged + `)`}, withPods, failing(allContainers, "c", notPrivileged), "container"},
	{PolicyRule{Name: "baseline/no-host-path", Message: "pods must not mount hostPath volumes",
		Expression: `podSpec.?volumes.orValue([]).all(v, ` + noHostPath + `)`}, withPods, failing(`podSpec.?volumes.orValue([])`, "v", noHostPath), "volume"},
	{PolicyRule{Name: "baseline/no-host-namespaces", Message: "pods must not share the host's network, PID or IPC namespace",
		Expression: `podSpec.?hostNetwork.orValue(false) != true && podSpec.?hostPID.orValue(false) != true && podSpec.?hostIPC.orValue(false) != true`},
		withPods, `['hostNetwork', 'hostPID', 'hostIPC'].filter(f, podSpec[?f].orValue(false) == true)`, ""},
	{PolicyRule{Name: "baseline/image-pinned", Message: "images must be pinned by digest (@sha256:) or come from spec.policy.allowedRegistries",
		Expression: allContainers + `.all(c, ` + pinned + `)`}, withPods, failing(allContainers, "c", pinned), "container"},
	{PolicyRule{Name: "baseline/resource-requests", Message: "containers must request cpu and memory",
		Expression: `(podSpec.?containers.orValue([]) + podSpec.?initContainers.orValue([])).all(c, ` + requests + `)`},
		withPods, failing(`(podSpec.?containers.orValue([]) + podSpec.?initContainers.orValue([]))`, "c", requests), "container"},
	{PolicyRule{Name: "baseline/no-anonymous-binding", Message: "bindings must not grant roles to system:unauthenticated or system:anonymous",
		Expression: `!(` + rbacBinding + `) || object.?subjects.orValue([]).all(s, ` + notAnonymous + `)`}, rbacBindings, "", ""},
	{PolicyRule{Name: "baseline/no-cluster-admin-binding", Message: "bindings must not grant cluster-admin",
		Expression: `!(` + rbacBinding + `) || object.?roleRef.?name.orValue('') != 'cluster-admin'`}, rbacBindings, "", ""},
	{PolicyRule{Name: "baseline/no-kube-system", Message: "objects must not be placed in namespace kube-system",
		Expression: `object.?metadata.?namespace.orValue('') != 'kube-system'`}, nil, "", ""},
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
		out[i] = &policyRule{name: b.Name, message: b.Message, only: b.only, program: program, noun: b.noun}
		if b.culprits != "" {
			if out[i].culprits, err = compileCulprits(b.culprits); err != nil {
				return nil, fmt.Errorf("built-in rule %s: culprits: %w", b.Name, err)
			}
		}
	}
	return out, nil
})

// compileCulprits compiles the culprits expression of a baseline rule: a
// list of names.
func compileCulprits(expression string) (cel.Program, error) {
	env, err := policyEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(expression)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if !ast.OutputType().IsAssignableType(cel.ListType(cel.StringType)) {
		return nil, fmt.Errorf("returns %s, want list(string)", ast.OutputType())
	}
	return env.Program(ast, cel.CostLimit(policyCostLimit))
}

// culpritsOf says what the culprits program of r names for vars, as
// "containers a, b", or "" when it has none or names none.
func (r *policyRule) culpritsOf(vars map[string]any) string {
	if r.culprits == nil {
		return ""
	}
	out, _, err := r.culprits.Eval(vars)
	if err != nil {
		return ""
	}
	v, err := out.ConvertToNative(reflect.TypeFor[[]string]())
	names, _ := v.([]string)
	switch {
	case err != nil || len(names) == 0:
		return ""
	case r.noun == "":
		return strings.Join(names, ", ")
	case len(names) == 1:
		return r.noun + " " + names[0]
	}
	return r.noun + "s " + strings.Join(names, ", ")
}
