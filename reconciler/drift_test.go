package reconciler

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// drifted is a Deployment and a ConfigMap to which a second field manager
// adds a privileged sidecar, an env var and a key, as kubectl patch, kubectl
// set env and kubectl edit would.
func drift(t *testing.T, ctx context.Context, kube client.Client, ns string) {
	t.Helper()
	patches := []struct {
		obj     client.Object
		manager string
		patch   string
	}{
		{&appsv1.Deployment{}, "kubectl-patch", `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"registry.example/sidecar:1.0","securityContext":{"privileged":true}}]}}}}`},
		{&appsv1.Deployment{}, "kubectl-set", `{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"DEBUG","value":"1"}]}]}}}}`},
		{&corev1.ConfigMap{}, "kubectl-edit", `{"data":{"extra":"added by hand"}}`},
	}
	for _, p := range patches {
		name := "inference"
		if _, ok := p.obj.(*corev1.ConfigMap); ok {
			name = "settings"
		}
		p.obj.SetNamespace(ns)
		p.obj.SetName(name)
		if err := kube.Patch(ctx, p.obj, client.RawPatch(types.StrategicMergePatchType, []byte(p.patch)), client.FieldOwner(p.manager)); err != nil {
			t.Fatalf("patch %s as %s: %v", name, p.manager, err)
		}
	}
}

func driftTarget(ns string, report bool) []Target {
	return []Target{{Cluster: "plant-a", Tiers: []TierSet{{Solution: ns, Tier: "edge", Revision: "rev-1", NoWait: true, ReportDrift: report,
		Objects: []*unstructured.Unstructured{
			namespace(ns),
			configMap(ns, "settings", map[string]any{"mode": "edge"}),
			deployment(ns, "inference", 2),
		}}}}}
}

func liveState(t *testing.T, ctx context.Context, kube client.Client, ns string) (containers int, env int, keys int) {
	t.Helper()
	var d appsv1.Deployment
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "inference"}, &d); err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, &cm); err != nil {
		t.Fatal(err)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "app" {
			env = len(c.Env)
		}
	}
	return len(d.Spec.Template.Spec.Containers), env, len(cm.Data)
}

func TestDriftCorrectRemovesFieldsOtherManagersAddedInOnePass(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	kube := kubeClient(t, f, "plant-a")
	counter := &requestCounter{}
	r := New(fleetResolver(f, counter), testOptions(t))
	target := driftTarget("drift-correct", false)
	requirePhase(t, onlyResult(t, r.Apply(ctx, target, nil)), PhaseReady)
	drift(t, ctx, kube, "drift-correct")
	if c, e, k := liveState(t, ctx, kube, "drift-correct"); c != 2 || e != 1 || k != 2 {
		t.Fatalf("after kubectl: %d containers, %d env vars, %d keys; want 2, 1, 2", c, e, k)
	}

	plans := r.Plan(ctx, target)
	var planned []string
	for _, p := range plans {
		for _, c := range p.Changes {
			if c.Drift != nil {
				planned = append(planned, string(c.Action)+" "+c.Subject)
			}
		}
	}
	if want := []string{"configured ConfigMap/drift-correct/settings", "configured Deployment/drift-correct/inference"}; !slices.Equal(planned, want) {
		t.Errorf("plan of the drift: %v, want %v", planned, want)
	}

	res := onlyResult(t, r.Apply(ctx, target, nil))
	requirePhase(t, res, PhaseReady)
	if res.Corrected != 2 {
		t.Errorf("corrected %d, want 2\n%s", res.Corrected, res.ChangeSet)
	}
	var fields []string
	for _, d := range res.Drift {
		for _, f := range d.Fields {
			fields = append(fields, d.Subject+" "+f.Path+" by "+f.Manager)
		}
	}
	want := []string{
		`ConfigMap/drift-correct/settings .data.extra by kubectl-edit`,
		`Deployment/drift-correct/inference .spec.template.spec.containers[name="sidecar"] by kubectl-patch`,
		`Deployment/drift-correct/inference .spec.template.spec.containers[name="app"].env by kubectl-set`,
	}
	if !slices.Equal(fields, want) {
		t.Errorf("drift\n%s\nwant\n%s", strings.Join(fields, "\n"), strings.Join(want, "\n"))
	}
	if c, e, k := liveState(t, ctx, kube, "drift-correct"); c != 1 || e != 0 || k != 1 {
		t.Errorf("after the pass: %d containers, %d env vars, %d keys; want 1, 0, 1", c, e, k)
	}

	// The pass after records its plain message on the ApplySet parent; the
	// one after that writes nothing.
	for pass := range 2 {
		counter.reset()
		res = onlyResult(t, r.Apply(ctx, target, nil))
		requirePhase(t, res, PhaseReady)
		if len(res.Drift) != 0 || res.Corrected != 0 || counter.writes.Load() != int64(1-pass) {
			t.Errorf("pass %d after the correction: drift %+v, corrected %d, %d writes; want none, 0, %d", pass, res.Drift, res.Corrected, counter.writes.Load(), 1-pass)
		}
	}
}

func TestDriftReportLeavesFieldsOtherManagersAddedAndReportsThem(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	kube := kubeClient(t, f, "plant-a")
	counter := &requestCounter{}
	r := New(fleetResolver(f, counter), testOptions(t))
	target := driftTarget("drift-report", true)
	requirePhase(t, onlyResult(t, r.Apply(ctx, target, nil)), PhaseReady)
	drift(t, ctx, kube, "drift-report")

	for pass := range 2 {
		counter.reset()
		res := onlyResult(t, r.Apply(ctx, target, nil))
		requirePhase(t, res, PhaseReady)
		if len(res.Drift) != 2 || res.Drift[0].Corrected || res.Corrected != 0 {
			t.Errorf("pass %d: drift %+v, corrected %d; want 2 objects reported, none corrected", pass, res.Drift, res.Corrected)
		}
		if !strings.Contains(res.Message, "drift left in place") {
			t.Errorf("pass %d: message %q does not say drift was left", pass, res.Message)
		}
		// The first records its message on the ApplySet parent; neither
		// touches the objects.
		if w := counter.writes.Load(); w != int64(1-pass) {
			t.Errorf("pass %d wrote %d times, want %d", pass, w, 1-pass)
		}
	}
	if c, e, k := liveState(t, ctx, kube, "drift-report"); c != 2 || e != 1 || k != 2 {
		t.Errorf("after reporting passes: %d containers, %d env vars, %d keys; want kubectl's 2, 1, 2 kept", c, e, k)
	}
	for _, p := range r.Plan(ctx, target) {
		for _, c := range p.Changes {
			if c.Drift != nil && c.Action != ssa.UnchangedAction {
				t.Errorf("plan %s %s, want unchanged: drift: report leaves it", c.Action, c.Subject)
			}
		}
	}
}
