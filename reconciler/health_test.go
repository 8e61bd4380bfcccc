package reconciler

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestDependentTierWaitsForItsDependencyToBeReady(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	kube := kubeClient(t, f, "plant-a")
	// A Deployment no node can run fails its health check soon; one that
	// runs gets testOptions' generous timeout, for loaded machines.
	opts := testOptions(t)
	opts.HealthTimeout = 3 * time.Second
	impatient := New(fleetResolver(f, nil), opts)
	r := New(fleetResolver(f, nil), testOptions(t))

	platform := func(rev string, schedulable bool) TierSet {
		d := deployment("deps", "gateway", 1)
		if !schedulable {
			// No node matches: the Deployment never becomes Available.
			_ = unstructured.SetNestedStringMap(d.Object, map[string]string{"zone": "nowhere"}, "spec", "template", "spec", "nodeSelector")
		}
		return TierSet{Solution: "deps", Tier: "platform", Revision: rev, Objects: []*unstructured.Unstructured{namespace("deps"), d}}
	}
	app := TierSet{Solution: "deps", Tier: "app", Revision: "rev-1", DependsOn: []string{"platform"},
		Objects: []*unstructured.Unstructured{configMap("deps", "app", map[string]any{"k": "v"})}}

	results := impatient.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{app, platform("rev-1", false)}}}, nil)
	requirePhase(t, results[1], PhaseFailed) // platform
	requirePhase(t, results[0], PhaseFailed) // app
	if !strings.Contains(results[0].Message, "dependency platform is Failed") {
		t.Errorf("app message %q does not name its dependency", results[0].Message)
	}
	if _, ok := exists(t, kube, "deps", "app"); ok {
		t.Fatal("tier app was applied before tier platform was Ready")
	}

	app.Revision = "rev-2"
	results = r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{app, platform("rev-2", true)}}}, nil)
	requirePhase(t, results[1], PhaseReady)
	requirePhase(t, results[0], PhaseReady)
	if results[0].Started.Before(results[1].Finished) {
		t.Errorf("tier app started at %s, before tier platform was Ready at %s", results[0].Started, results[1].Finished)
	}
	if _, ok := exists(t, kube, "deps", "app"); !ok {
		t.Error("tier app was not applied once platform was Ready")
	}
}

func TestRejectedObjectFailsNamingItAndTheFixConverges(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	kube := kubeClient(t, f, "plant-a")
	r := New(fleetResolver(f, nil), testOptions(t))
	apply := func(rev string, objs ...*unstructured.Unstructured) Result {
		return onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{
			{Solution: "reject", Tier: "edge", Revision: rev, Objects: append([]*unstructured.Unstructured{namespace("reject")}, objs...)},
		}}}, nil))
	}
	requirePhase(t, apply("rev-1", deployment("reject", "ingest", 1)), PhaseReady)

	bad := deployment("reject", "inference", 1)
	_ = unstructured.SetNestedField(bad.Object, int64(-3), "spec", "replicas")
	res := apply("rev-2", deployment("reject", "ingest", 2), bad)
	requirePhase(t, res, PhaseFailed)
	if !strings.Contains(res.Message, "Deployment/reject/inference") {
		t.Errorf("message %q does not name Deployment/reject/inference", res.Message)
	}

	res = apply("rev-3", deployment("reject", "ingest", 2), deployment("reject", "inference", 1))
	requirePhase(t, res, PhaseReady)
	var list appsv1.DeploymentList
	if err := kube.List(ctx, &list, client.InNamespace("reject")); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range list.Items {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != "inference,ingest" {
		t.Errorf("deployments %v, want exactly inference and ingest", names)
	}
}

func TestDriftIsCorrected(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	kube := kubeClient(t, f, "plant-a")
	r := New(fleetResolver(f, nil), testOptions(t))
	target := []Target{{Cluster: "plant-a", Tiers: []TierSet{{Solution: "drift", Tier: "edge", Revision: "rev-1",
		Objects: []*unstructured.Unstructured{namespace("drift"), deployment("drift", "inference", 2)}}}}}
	requirePhase(t, onlyResult(t, r.Apply(ctx, target, nil)), PhaseReady)

	// As kubectl scale does: through the scale subresource, as another
	// field manager.
	var d appsv1.Deployment
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "drift", Name: "inference"}, &d); err != nil {
		t.Fatal(err)
	}
	scale := &autoscalingv1.Scale{}
	if err := kube.SubResource("scale").Patch(ctx, &d, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":5}}`)),
		client.FieldOwner("kubectl"), &client.SubResourcePatchOptions{SubResourceBody: scale}); err != nil {
		t.Fatal(err)
	}

	res := onlyResult(t, r.Apply(ctx, target, nil))
	requirePhase(t, res, PhaseReady)
	if res.Corrected != 1 {
		t.Errorf("corrected %d, want 1\n%s", res.Corrected, res.ChangeSet)
	}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "drift", Name: "inference"}, &d); err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d after the pass, want 2", *d.Spec.Replicas)
	}
}

func TestAPassWaitsForNoObjectOfAKindWithoutStatus(t *testing.T) {
	f := testFleet(t)
	r := New(fleetResolver(f, nil), testOptions(t))
	ctx := context.Background()
	secret := func(value string) *unstructured.Unstructured {
		return obj("v1", "Secret", "statusless", "token", map[string]any{"stringData": map[string]any{"token": value}})
	}
	service := func(port int64) *unstructured.Unstructured {
		return obj("v1", "Service", "statusless", "broker", map[string]any{"spec": map[string]any{
			"selector": map[string]any{"app": "broker"}, "ports": []any{map[string]any{"port": port}}}})
	}
	pass := func(revision string, port int64, objs ...*unstructured.Unstructured) (Result, []Result) {
		t.Helper()
		progress := make(chan Result, 16)
		res := onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{{Solution: "statusless", Tier: "edge", Revision: revision,
			Objects: append([]*unstructured.Unstructured{namespace("statusless"), service(port)}, objs...)}}}}, progress))
		close(progress)
		requirePhase(t, res, PhaseReady)
		var waits []Result
		for p := range progress {
			if p.Phase == PhaseProgressing {
				waits = append(waits, p)
			}
		}
		return res, waits
	}
	pass("rev-1", 1883, configMap("statusless", "settings", map[string]any{"mode": "a"}), secret("a"))

	res, waits := pass("rev-2", 1883, configMap("statusless", "settings", map[string]any{"mode": "b"}), secret("b"))
	if c := res.Counts(); c.Configured != 2 {
		t.Fatalf("rev-2 configured %d objects, want the ConfigMap and the Secret: %s", c.Configured, res.Message)
	}
	if len(waits) != 0 {
		t.Errorf("a pass that changed only a ConfigMap and a Secret waited for health: %+v", waits)
	}

	// A Service has a status: a change to it is waited for.
	if _, waits := pass("rev-3", 8883, configMap("statusless", "settings", map[string]any{"mode": "b"}), secret("b")); len(waits) == 0 {
		t.Error("a pass that changed a Service did not wait for it")
	}
}
