package renderer

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// goodPod is a pod spec every baseline rule allows.
const goodPod = `{containers: [{name: a, image: "example.com/app@sha256:0123", resources: {requests: {cpu: 100m, memory: 64Mi}}}]}`

// refusedBy evaluates the baseline rules on the object in doc and returns
// the names of those that refuse it.
func refusedBy(t *testing.T, doc string, registries ...string) []string {
	t.Helper()
	rules, err := baselineRules()
	if err != nil {
		t.Fatal(err)
	}
	o := objects(t, doc)[0]
	vars, spec := policyVars(o, policySite{Name: "a", Labels: map[string]string{}, Weight: 1, Cluster: "a"}, registries)
	var refused []string
	for _, r := range rules {
		if r.only != nil && !r.only(o, spec) {
			continue
		}
		if msg, _ := r.check(context.Background(), vars); msg != "" {
			if !strings.HasSuffix(msg, "(rule "+r.name+")") {
				t.Errorf("rule %s: %s; want a refusal, not an error", r.name, msg)
			}
			refused = append(refused, r.name)
		}
	}
	return refused
}

func TestBaselineRefusesEachBadObjectAndAllowsTheGoodOne(t *testing.T) {
	binding := func(kind, roleRef, subject string) string {
		return "apiVersion: rbac.authorization.k8s.io/v1\nkind: " + kind + "\nmetadata: {name: b, namespace: shop}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: " + roleRef + "}\n" +
			"subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: '" + subject + "'}]\n"
	}
	pod := func(s string) string { return strings.Replace(goodPod, "{containers:", s, 1) }
	tests := []struct {
		name       string
		doc        string
		registries []string
		want       []string
	}{
		{"a good Deployment", workload("Deployment", "app", "1", goodPod), nil, nil},
		{"a good Pod", workload("Pod", "app", "", goodPod), nil, nil},
		{"a privileged DaemonSet", workload("DaemonSet", "app", "",
			`{containers: [{name: a, image: "x@sha256:1", resources: {requests: {cpu: 1, memory: 1Gi}}, securityContext: {privileged: true}}]}`), nil,
			[]string{"baseline/no-privileged"}},
		{"a privileged container", workload("Deployment", "app", "1",
			`{containers: [{name: a, image: "x@sha256:1", resources: {requests: {cpu: 1, memory: 1Gi}}, securityContext: {privileged: true}}]}`), nil,
			[]string{"baseline/no-privileged"}},
		{"a privileged init container in a StatefulSet", workload("StatefulSet", "app", "1",
			pod(`{initContainers: [{name: i, image: "x@sha256:1", resources: {requests: {cpu: 1, memory: 1Gi}}, securityContext: {privileged: true}}], containers:`)), nil,
			[]string{"baseline/no-privileged"}},
		{"a privileged ephemeral container in a Pod", workload("Pod", "app", "",
			pod(`{ephemeralContainers: [{name: e, image: "x@sha256:1", securityContext: {privileged: true}}], containers:`)), nil,
			[]string{"baseline/no-privileged"}},
		{"privileged: false", workload("DaemonSet", "app", "",
			`{containers: [{name: a, image: "x@sha256:1", resources: {requests: {cpu: 1, memory: 1Gi}}, securityContext: {privileged: false}}]}`), nil, nil},
		{"a hostPath volume", workload("ReplicaSet", "app", "1", pod(`{volumes: [{name: v, hostPath: {path: /etc}}], containers:`)), nil,
			[]string{"baseline/no-host-path"}},
		{"an emptyDir volume", workload("ReplicaSet", "app", "1", pod(`{volumes: [{name: v, emptyDir: {}}], containers:`)), nil, nil},
		{"hostNetwork", workload("Job", "app", "", pod(`{hostNetwork: true, containers:`)), nil, []string{"baseline/no-host-namespaces"}},
		{"hostPID", workload("Deployment", "app", "1", pod(`{hostPID: true, containers:`)), nil, []string{"baseline/no-host-namespaces"}},
		{"hostIPC", workload("ReplicationController", "app", "1", pod(`{hostIPC: true, containers:`)), nil, []string{"baseline/no-host-namespaces"}},
		{"hostNetwork false", workload("Deployment", "app", "1", pod(`{hostNetwork: false, containers:`)), nil, nil},
		{"a CronJob's image by tag",
			"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c, namespace: shop}\nspec: {schedule: '* * * * *', jobTemplate: {spec: {template: {spec: " +
				strings.Replace(goodPod, "example.com/app@sha256:0123", "example.com/app:1", 1) + "}}}}\n", nil,
			[]string{"baseline/image-pinned"}},
		{"an image by tag from an allowed registry", workload("Deployment", "app", "1", strings.Replace(goodPod, "example.com/app@sha256:0123", "registry.example.com/iot/app:1", 1)),
			[]string{"registry.example.com/iot"}, nil},
		{"an allowed registry matches whole path segments", workload("Deployment", "app", "1", strings.Replace(goodPod, "example.com/app@sha256:0123", "registry.example.com/iot-evil/app:1", 1)),
			[]string{"registry.example.com/iot"}, []string{"baseline/image-pinned"}},
		{"an allowed registry ending in a slash", workload("Deployment", "app", "1", strings.Replace(goodPod, "example.com/app@sha256:0123", "registry.example.com/app:1", 1)),
			[]string{"other.example.com/", "registry.example.com/"}, nil},
		{"a container without a memory request", workload("Deployment", "app", "1", strings.Replace(goodPod, ", memory: 64Mi", "", 1)), nil,
			[]string{"baseline/resource-requests"}},
		{"an init container without requests", workload("Deployment", "app", "1", pod(`{initContainers: [{name: i, image: "x@sha256:1"}], containers:`)), nil,
			[]string{"baseline/resource-requests"}},
		{"a binding to system:unauthenticated", binding("RoleBinding", "view", "system:unauthenticated"), nil, []string{"baseline/no-anonymous-binding"}},
		{"a binding to system:anonymous", binding("ClusterRoleBinding", "view", "system:anonymous"), nil, []string{"baseline/no-anonymous-binding"}},
		{"a binding of cluster-admin", binding("ClusterRoleBinding", "cluster-admin", "ops"), nil, []string{"baseline/no-cluster-admin-binding"}},
		{"a binding of view to a group", binding("RoleBinding", "view", "ops"), nil, nil},
		{"a ConfigMap in kube-system", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: kube-system}\n", nil, []string{"baseline/no-kube-system"}},
		{"a Deployment in kube-system", strings.Replace(workload("Deployment", "app", "1", goodPod), "namespace: shop", "namespace: kube-system", 1), nil,
			[]string{"baseline/no-kube-system"}},
		{"a cluster-scoped object", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: []\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, refusedBy(t, tt.doc, tt.registries...)); diff != "" {
				t.Errorf("refused by (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBaselineNamesWhatBreaksTheRule(t *testing.T) {
	tests := []struct {
		name, rule, podSpec, want string
	}{
		{"two privileged containers", "baseline/no-privileged",
			`{initContainers: [{name: init, image: "x@sha256:1", securityContext: {privileged: true}}], containers: [{name: a, image: "x@sha256:1", securityContext: {privileged: true}}, {name: b, image: "x@sha256:1"}]}`,
			"containers must not be privileged: containers a, init (rule baseline/no-privileged)"},
		{"a hostPath volume", "baseline/no-host-path",
			`{volumes: [{name: cache, emptyDir: {}}, {name: dev, hostPath: {path: /dev}}], containers: [{name: a, image: "x@sha256:1"}]}`,
			"pods must not mount hostPath volumes: volume dev (rule baseline/no-host-path)"},
		{"two host namespaces", "baseline/no-host-namespaces",
			`{hostNetwork: true, hostPID: true, hostIPC: false, containers: [{name: a, image: "x@sha256:1"}]}`,
			"pods must not share the host's network, PID or IPC namespace: hostNetwork, hostPID (rule baseline/no-host-namespaces)"},
		{"an image by tag", "baseline/image-pinned",
			`{containers: [{name: a, image: "x@sha256:1"}, {name: gateway, image: "x:1"}]}`,
			"images must be pinned by digest (@sha256:) or come from spec.policy.allowedRegistries: container gateway (rule baseline/image-pinned)"},
		{"a container without requests", "baseline/resource-requests",
			`{containers: [{name: a, image: "x@sha256:1"}]}`,
			"containers must request cpu and memory: container a (rule baseline/resource-requests)"},
	}
	rules, err := baselineRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := objects(t, workload("Deployment", "app", "1", tt.podSpec))[0]
			vars, _ := policyVars(o, policySite{Labels: map[string]string{}, Weight: 1, Cluster: "a"}, nil)
			i := slices.IndexFunc(rules, func(r *policyRule) bool { return r.name == tt.rule })
			if got, _ := rules[i].check(context.Background(), vars); got != tt.want {
				t.Errorf("check = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestBaselineSkipsOnlyObjectsItAllows(t *testing.T) {
	rules, err := baselineRules()
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t,
		"apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop}\nspec: {ports: [{port: 80}]}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\ndata: {privileged: 'true', hostPath: /}\n",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cluster-admin}\nrules: []\n",
		"apiVersion: example.com/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: shop}\nroleRef: {name: cluster-admin}\nsubjects: [{name: 'system:anonymous'}]\n",
		workload("Deployment", "app", "1", goodPod),
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: empty, namespace: shop}\nspec: {}\n",
	)
	for _, o := range objs {
		vars, spec := policyVars(o, policySite{Labels: map[string]string{}, Weight: 1, Cluster: "cloud"}, nil)
		for _, r := range rules {
			if r.only == nil || r.only(o, spec) {
				continue
			}
			if msg, _ := r.check(context.Background(), vars); msg != "" {
				t.Errorf("rule %s skips %s/%s but would refuse it: %s", r.name, o.GetKind(), o.GetName(), msg)
			}
		}
	}
}

func TestGuardrailsDocShowsEveryBaselineRuleAsShipped(t *testing.T) {
	data, err := os.ReadFile("../docs/guardrails.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, r := range BaselineRules() {
		if want := fmt.Sprintf("- **`%s`** — %s.\n\n  ```cel\n  %s\n  ```\n", r.Name, r.Message, r.Expression); !strings.Contains(doc, want) {
			t.Errorf("docs/guardrails.md does not show rule %s as shipped:\n%s", r.Name, want)
		}
	}
}

func TestBaselineRuleNamesAreStableAndPrefixed(t *testing.T) {
	var names []string
	for _, r := range BaselineRules() {
		if !strings.HasPrefix(r.Name, baselinePrefix) {
			t.Errorf("rule %s does not start with %s", r.Name, baselinePrefix)
		}
		names = append(names, r.Name)
	}
	want := []string{"baseline/no-privileged", "baseline/no-host-path", "baseline/no-host-namespaces", "baseline/image-pinned",
		"baseline/resource-requests", "baseline/no-anonymous-binding", "baseline/no-cluster-admin-binding", "baseline/no-kube-system"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("baseline rule names (-want +got):\n%s", diff)
	}
}
