package reconciler

import (
	"context"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

func TestApplyCreatesObjectsAndRecordsInventory(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	r := New(fleetResolver(f, nil), testOptions(t))
	set := TierSet{Solution: "inventory", Tier: "edge", Revision: "rev-1", Objects: []*unstructured.Unstructured{
		namespace("inventory"),
		configMap("inventory", "settings", map[string]any{"mode": "edge"}),
		deployment("inventory", "inference", 1),
	}}

	res := onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{set}}}, nil))
	requirePhase(t, res, PhaseReady)
	if c := res.Counts(); c.Created != 3 {
		t.Errorf("counts %+v, want 3 created\n%s", c, res.ChangeSet)
	}

	kube := kubeClient(t, f, "plant-a")
	var parent corev1.Secret
	if err := kube.Get(ctx, client.ObjectKey{Namespace: applyset.Namespace, Name: "inventory.edge"}, &parent); err != nil {
		t.Fatal(err)
	}
	id := applyset.ID("inventory.edge")
	for key, want := range map[string]string{
		applyset.GroupKindsAnnotation: "ConfigMap,Deployment.apps,Namespace",
		applyset.ToolingAnnotation:    "tandem/v0.1.0",
		applyset.NamespacesAnnotation: "inventory",
		applyset.RevisionAnnotation:   "rev-1",
		applyset.PhaseAnnotation:      "Ready",
	} {
		if got := parent.Annotations[key]; got != want {
			t.Errorf("parent annotation %s = %q, want %q", key, got, want)
		}
	}
	if parent.Labels[applyset.IDLabel] != id {
		t.Errorf("parent label %s = %q, want %q", applyset.IDLabel, parent.Labels[applyset.IDLabel], id)
	}
	var cm corev1.ConfigMap
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "inventory", Name: "settings"}, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Labels[applyset.PartOfLabel] != id {
		t.Errorf("member label %s = %q, want %q", applyset.PartOfLabel, cm.Labels[applyset.PartOfLabel], id)
	}

	records, err := applyset.ReadRecords(ctx, f.Cluster("plant-a").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rec := range records {
		if rec.Solution == "inventory" && rec.Tier == "edge" {
			found = true
			if rec.Revision != "rev-1" || rec.Phase != string(PhaseReady) || rec.ID != id || len(rec.GroupKinds) != 3 || rec.Since.IsZero() {
				t.Errorf("record %+v", rec)
			}
		}
	}
	if !found {
		t.Errorf("no record of inventory/edge in %+v", records)
	}
}

func TestSecondApplyWritesNothing(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	counter := &requestCounter{}
	r := New(fleetResolver(f, counter), testOptions(t))
	target := []Target{{Cluster: "plant-a", Tiers: []TierSet{{Solution: "noop", Tier: "edge", Revision: "rev-1", Objects: []*unstructured.Unstructured{
		namespace("noop"),
		configMap("noop", "settings", map[string]any{"mode": "edge", "threshold": "0.5"}),
		configMap("noop", "labels", map[string]any{"site": "plant-a"}),
		deployment("noop", "inference", 2),
		deployment("noop", "ingest", 1),
	}}}}}

	requirePhase(t, onlyResult(t, r.Apply(ctx, target, nil)), PhaseReady)
	t.Logf("first pass: %d requests, %d writes", counter.requests.Load(), counter.writes.Load())

	counter.reset()
	res := onlyResult(t, r.Apply(ctx, target, nil))
	requirePhase(t, res, PhaseReady)
	if c := res.Counts(); c.Unchanged != 5 || c.Created+c.Configured+c.Deleted != 0 {
		t.Errorf("second pass counts %+v, want 5 unchanged\n%s", c, res.ChangeSet)
	}
	requests, writes := counter.requests.Load(), counter.writes.Load()
	t.Logf("second pass: %d requests, %d writes for 5 objects of 3 group-kinds:\n%s", requests, writes, counter)
	if writes != 0 {
		t.Errorf("second pass wrote %d times, want 0", writes)
	}
	// One list of ApplySet parents for the site, one list per group-kind.
	if requests > 1+3 {
		t.Errorf("second pass made %d requests, want at most 4", requests)
	}
	if res.Corrected != 0 {
		t.Errorf("corrected %d, want 0", res.Corrected)
	}
	_ = ssa.UnchangedAction
}

func TestNoOpPassOverObjectsTheServerNormalisesOnlyLists(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	kube := kubeClient(t, f, "plant-a")
	counter := &requestCounter{}
	r := New(fleetResolver(f, counter), testOptions(t))
	target := []Target{{Cluster: "plant-a", Tiers: []TierSet{{Solution: "normalised", Tier: "edge", Revision: "rev-1",
		Objects: tenObjects("normalised")}}}}
	// The first pass creates; the second proves in sync, through dry-runs,
	// what the server stores otherwise than it was written.
	for range 2 {
		requirePhase(t, onlyResult(t, r.Apply(ctx, target, nil)), PhaseReady)
	}

	counter.reset()
	res := onlyResult(t, r.Apply(ctx, target, nil))
	requirePhase(t, res, PhaseReady)
	if c := res.Counts(); c.Unchanged != 10 {
		t.Errorf("counts %+v, want 10 unchanged\n%s", c, res.ChangeSet)
	}
	// One list of ApplySet parents, one list per group-kind.
	if requests, writes := counter.requests.Load(), counter.writes.Load(); requests != 1+8 || writes != 0 {
		t.Errorf("third pass made %d requests and %d writes, want 9 and 0:\n%s", requests, writes, counter)
	}

	// A change to a proven object ends its proof: the drift is undone.
	var secret corev1.Secret
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "normalised", Name: "credentials"}, &secret); err != nil {
		t.Fatal(err)
	}
	secret.Data["token"] = []byte("changed")
	if err := kube.Update(ctx, &secret); err != nil {
		t.Fatal(err)
	}
	res = onlyResult(t, r.Apply(ctx, target, nil))
	requirePhase(t, res, PhaseReady)
	if res.Corrected != 1 {
		t.Errorf("corrected %d, want 1: the changed Secret/normalised/credentials\n%s", res.Corrected, res.ChangeSet)
	}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "normalised", Name: "credentials"}, &secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data["token"]) != "s3cr3t" {
		t.Errorf("Secret/normalised/credentials token %q after the pass, want it put back", secret.Data["token"])
	}
}
