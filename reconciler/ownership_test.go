package reconciler

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// instance returns a Reconciler acting as the named tandem instance.
func instance(t *testing.T, name string, takeOver bool) *Reconciler {
	t.Helper()
	opts := testOptions(t)
	opts.Instance, opts.TakeOver = name, takeOver
	return New(fleetResolver(testFleet(t), nil), opts)
}

// shopTier is a tier of a namespace and the named ConfigMaps.
func shopTier(sol, ns, rev string, names ...string) TierSet {
	objs := []*unstructured.Unstructured{namespace(ns)}
	for _, n := range names {
		objs = append(objs, configMap(ns, n, map[string]any{"k": n}))
	}
	return TierSet{Solution: sol, Tier: "edge", Revision: rev, Objects: objs}
}

func parent(t *testing.T, kube client.Client, sol, tier string) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: applyset.Namespace, Name: applyset.ParentName(sol, tier)}, &s); err != nil {
		t.Fatalf("read the parent of %s/%s: %v", sol, tier, err)
	}
	return &s
}

func TestAnotherInstanceNeitherPrunesNorRewritesTiersItDoesNotOwn(t *testing.T) {
	a, b := instance(t, "repo-a@main", false), instance(t, "repo-c@main", false)
	kube := kubeClient(t, testFleet(t), "plant-a")
	ctx := context.Background()
	requirePhase(t, onlyResult(t, a.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("a-shop", "a-shop", "a1", "x", "y")}}}, nil)), PhaseReady)
	before := parent(t, kube, "a-shop", "edge")

	// B's target is all B runs on the cluster: A's tier is not B's to remove.
	results := b.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("b-shop", "b-shop", "b1", "z")}}}, nil)
	requirePhase(t, onlyResult(t, results), PhaseReady)
	if results[0].Solution != "b-shop" {
		t.Errorf("B reported on %s/%s", results[0].Solution, results[0].Tier)
	}
	for _, n := range []string{"x", "y"} {
		if _, ok := exists(t, kube, "a-shop", n); !ok {
			t.Errorf("ConfigMap/a-shop/%s of instance A is gone", n)
		}
	}
	after := parent(t, kube, "a-shop", "edge")
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("B rewrote A's parent: annotations now %v", after.Annotations)
	}
	if got := parent(t, kube, "b-shop", "edge").Annotations[applyset.OwnerAnnotation]; got != "repo-c@main" {
		t.Errorf("B's parent names owner %q, want repo-c@main", got)
	}
}

func TestSameTierOfAnotherInstanceIsAConflictUntilTakenOver(t *testing.T) {
	a := instance(t, "repo-a@main", false)
	kube := kubeClient(t, testFleet(t), "plant-a")
	ctx := context.Background()
	requirePhase(t, onlyResult(t, a.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("shop", "shop", "a1", "x", "y")}}}, nil)), PhaseReady)

	// The same solution name in another repository: refused, nothing of
	// A's touched, though B's render lacks y.
	b := instance(t, "repo-c@main", false)
	res := onlyResult(t, b.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("shop", "shop", "c1", "x")}}}, nil))
	requirePhase(t, res, PhaseFailed)
	for _, want := range []string{`"repo-a@main"`, `"repo-c@main"`, "--take-over", "nothing applied or pruned"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("conflict message %q does not say %s", res.Message, want)
		}
	}
	if _, ok := exists(t, kube, "shop", "y"); !ok {
		t.Error("ConfigMap/shop/y of instance A was pruned by B")
	}
	p := parent(t, kube, "shop", "edge")
	if p.Annotations[applyset.OwnerAnnotation] != "repo-a@main" || p.Annotations[applyset.PhaseAnnotation] != string(PhaseReady) || p.Annotations[applyset.RevisionAnnotation] != "a1" {
		t.Errorf("B rewrote A's parent: %v", p.Annotations)
	}

	// Handed over explicitly, B prunes only what its render lacks.
	b = instance(t, "repo-c@main", true)
	res = onlyResult(t, b.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("shop", "shop", "c1", "x")}}}, nil))
	requirePhase(t, res, PhaseReady)
	if _, ok := exists(t, kube, "shop", "y"); ok {
		t.Error("ConfigMap/shop/y, which the new owner's render lacks, was not pruned")
	}
	if _, ok := exists(t, kube, "shop", "x"); !ok {
		t.Error("ConfigMap/shop/x is gone")
	}
	if got := parent(t, kube, "shop", "edge").Annotations[applyset.OwnerAnnotation]; got != "repo-c@main" {
		t.Errorf("owner after take-over is %q, want repo-c@main", got)
	}

	// And now A is the one refused.
	requirePhase(t, onlyResult(t, a.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("shop", "shop", "a2", "x", "y")}}}, nil)), PhaseFailed)
}

func TestParentWithoutOwnerIsClaimedByTheFirstInstanceThatRendersIt(t *testing.T) {
	a := instance(t, "repo-a@main", false)
	kube := kubeClient(t, testFleet(t), "plant-a")
	ctx := context.Background()
	requirePhase(t, onlyResult(t, a.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("legacy", "legacy", "r1", "x")}}}, nil)), PhaseReady)
	p := parent(t, kube, "legacy", "edge")
	delete(p.Annotations, applyset.OwnerAnnotation)
	if err := kube.Update(ctx, p); err != nil {
		t.Fatal(err)
	}

	// Another instance not rendering it leaves it alone...
	b := instance(t, "repo-c@main", false)
	if res := b.Apply(ctx, []Target{{Cluster: "plant-a"}}, nil); len(res) != 0 {
		t.Errorf("an instance rendering nothing passed over an unowned parent: %+v", res)
	}
	// ...and the first to render it claims it.
	requirePhase(t, onlyResult(t, b.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("legacy", "legacy", "r2", "x")}}}, nil)), PhaseReady)
	if got := parent(t, kube, "legacy", "edge").Annotations[applyset.OwnerAnnotation]; got != "repo-c@main" {
		t.Errorf("owner is %q, want repo-c@main", got)
	}
}

func TestPruneLeavesCopiesOutsideTheApplySetAndNamesThem(t *testing.T) {
	_, kube, apply := pruneFixture(t, "copied")
	ctx := context.Background()
	// kubectl get -o yaml | sed | kubectl create: the label and all.
	for _, ns := range []string{"kube-system", "elsewhere"} {
		if ns == "elsewhere" {
			if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}}); err != nil {
				t.Fatal(err)
			}
		}
		cm, _ := exists(t, kube, "copied", "b")
		cp := cm.DeepCopy()
		cp.Namespace, cp.ResourceVersion, cp.UID = ns, "", ""
		if err := kube.Create(ctx, cp); err != nil {
			t.Fatal(err)
		}
	}
	// One made by hand in the ApplySet's own namespace, label and all.
	hand := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "by-hand", Namespace: "copied"}}
	hand.Labels = map[string]string{applyset.PartOfLabel: applyset.ID(applyset.ParentName("copied", "edge"))}
	if err := kube.Create(ctx, hand); err != nil {
		t.Fatal(err)
	}

	res := apply("rev-2", "a", "c")
	requirePhase(t, res, PhaseReady)
	if _, ok := exists(t, kube, "copied", "b"); ok {
		t.Error("ConfigMap/copied/b, which left the render, was not pruned")
	}
	for _, key := range [][2]string{{"kube-system", "b"}, {"elsewhere", "b"}, {"copied", "by-hand"}} {
		if _, ok := exists(t, kube, key[0], key[1]); !ok {
			t.Errorf("ConfigMap/%s/%s, which only carries the label, was deleted", key[0], key[1])
		}
	}
	if c := res.Counts(); c.Deleted != 1 {
		t.Errorf("%d deleted, want 1\n%s", c.Deleted, res.ChangeSet)
	}
	var named []string
	for _, ig := range res.Ignored {
		named = append(named, ig.Subject)
	}
	want := []string{"ConfigMap/copied/by-hand", "ConfigMap/elsewhere/b", "ConfigMap/kube-system/b"}
	if strings.Join(named, " ") != strings.Join(want, " ") {
		t.Errorf("left alone %v, want %v", named, want)
	}
}

func TestExistingObjectIsAConflictUnlessTheTierOrObjectAllowsAdoption(t *testing.T) {
	f := testFleet(t)
	kube := kubeClient(t, f, "plant-a")
	r := New(fleetResolver(f, nil), testOptions(t))
	ctx := context.Background()
	if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "adopt"}}); err != nil {
		t.Fatal(err)
	}
	made := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "adopt"}, Data: map[string]string{"k": "by-hand", "operator-key": "keep"}}
	if err := kube.Create(ctx, made); err != nil {
		t.Fatal(err)
	}
	tier := TierSet{Solution: "adopt", Tier: "edge", Revision: "rev-1", Objects: []*unstructured.Unstructured{
		configMap("adopt", "settings", map[string]any{"k": "from-git"}),
		configMap("adopt", "other", map[string]any{"k": "from-git"}),
	}}

	res := onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{tier}}}, nil))
	requirePhase(t, res, PhaseFailed)
	for _, want := range []string{"ConfigMap/adopt/settings exists and was not created by tandem", "adopt: true", AdoptAnnotation} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q does not say %q", res.Message, want)
		}
	}
	if _, ok := exists(t, kube, "adopt", "other"); ok {
		t.Error("a tier refused for a conflict applied its other objects")
	}
	if cm, _ := exists(t, kube, "adopt", "settings"); cm.Data["k"] != "by-hand" {
		t.Errorf("the hand-made ConfigMap was overwritten: %v", cm.Data)
	}

	// The live object opts in.
	cm, _ := exists(t, kube, "adopt", "settings")
	cm.Annotations = map[string]string{AdoptAnnotation: "true"}
	if err := kube.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	res = onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{tier}}}, nil))
	requirePhase(t, res, PhaseReady)
	if len(res.Adopted) != 1 || res.Adopted[0].Subject != "ConfigMap/adopt/settings" || !strings.Contains(res.Adopted[0].Previous, `"by-hand"`) {
		t.Errorf("adoptions %+v, want ConfigMap/adopt/settings with its previous data", res.Adopted)
	}
	if !strings.Contains(res.Message, "adopted ConfigMap/adopt/settings") {
		t.Errorf("message %q does not name the adoption", res.Message)
	}
	if cm, _ := exists(t, kube, "adopt", "settings"); cm.Data["k"] != "from-git" {
		t.Errorf("the adopted ConfigMap holds %v, want k=from-git", cm.Data)
	}
}

func TestTierAllowingAdoptionTakesOverExistingObjects(t *testing.T) {
	f := testFleet(t)
	kube := kubeClient(t, f, "plant-a")
	r := New(fleetResolver(f, nil), testOptions(t))
	ctx := context.Background()
	if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "adopt-tier"}}); err != nil {
		t.Fatal(err)
	}
	tier := TierSet{Solution: "adopt-tier", Tier: "edge", Revision: "rev-1", Adopt: true,
		Objects: []*unstructured.Unstructured{namespace("adopt-tier")}}
	res := onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{tier}}}, nil))
	requirePhase(t, res, PhaseReady)
	if len(res.Adopted) != 1 || res.Adopted[0].Subject != "Namespace/adopt-tier" {
		t.Errorf("adoptions %+v, want Namespace/adopt-tier", res.Adopted)
	}
	// Adopted once, it is tandem's: the next pass adopts nothing.
	res = onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{tier}}}, nil))
	requirePhase(t, res, PhaseReady)
	if len(res.Adopted) != 0 {
		t.Errorf("second pass adopted %+v again", res.Adopted)
	}
}

func TestParentOfAnotherToolIsNeverWritten(t *testing.T) {
	r := instance(t, "repo-a@main", false)
	kube := kubeClient(t, testFleet(t), "plant-a")
	ctx := context.Background()
	requirePhase(t, onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("warm", "warm", "r1", "x")}}}, nil)), PhaseReady)
	name := applyset.ParentName("kc", "edge")
	kubectlParent := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: applyset.Namespace, Name: name,
		Labels:      map[string]string{applyset.IDLabel: applyset.ID(name), "tandem.dev/solution": "kc", "tandem.dev/tier": "edge"},
		Annotations: map[string]string{applyset.ToolingAnnotation: "kubectl/v1.37.2", applyset.GroupKindsAnnotation: "ConfigMap"}}}
	if err := kube.Create(ctx, kubectlParent); err != nil {
		t.Fatal(err)
	}
	for pass := 1; pass <= 2; pass++ {
		for _, res := range r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("warm", "warm", "r1", "x"), shopTier("kc", "kc", "r1", "y")}}}, nil) {
			if res.Solution == "kc" && (res.Phase != PhaseFailed || !strings.Contains(res.Message, `managed by "kubectl/v1.37.2"`)) {
				t.Errorf("pass %d: kc/edge %s %q; want Failed, naming kubectl", pass, res.Phase, res.Message)
			}
		}
		if got := parent(t, kube, "kc", "edge").Annotations; got[applyset.ToolingAnnotation] != "kubectl/v1.37.2" || got[applyset.OwnerAnnotation] != "" {
			t.Fatalf("pass %d rewrote kubectl's parent: %v", pass, got)
		}
	}
}

func TestParentWithoutOwnerOfARemovedSolutionIsClaimedAndPrunedWhenAllowed(t *testing.T) {
	r := instance(t, "repo-a@main", false)
	kube := kubeClient(t, testFleet(t), "plant-a")
	ctx := context.Background()
	requirePhase(t, onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("retired", "retired", "r1", "x")}}}, nil)), PhaseReady)
	p := parent(t, kube, "retired", "edge")
	delete(p.Annotations, applyset.OwnerAnnotation)
	if err := kube.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	// The way to remove a solution: allowEmpty and no targets.
	res := onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", AllowEmpty: []string{"retired"}}}, nil))
	requirePhase(t, res, PhaseReady)
	if _, ok := exists(t, kube, "retired", "x"); ok {
		t.Error("ConfigMap/retired/x of a solution removed with allowEmpty was not pruned")
	}
}

func TestObjectOfAnotherInstancesTierIsAConflictNamingThatTier(t *testing.T) {
	a := instance(t, "repo-a@main", false)
	ctx := context.Background()
	requirePhase(t, onlyResult(t, a.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{shopTier("holder", "shared", "r1", "x")}}}, nil)), PhaseReady)
	b := instance(t, "repo-c@main", true)
	wants := shopTier("taker", "shared", "r1", "x")
	wants.Adopt = true
	res := onlyResult(t, b.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{wants}}}, nil))
	requirePhase(t, res, PhaseFailed)
	for _, want := range []string{"ConfigMap/shared/x belongs to solution holder tier edge of tandem instance \"repo-a@main\"", "remove it from that tier first"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q does not say %q", res.Message, want)
		}
	}
	if strings.Contains(res.Message, "adopt: true") {
		t.Errorf("message %q offers adoption, which cannot take another instance's object", res.Message)
	}
}

func TestPreviousStateMasksSecretValuesAndDropsKubectlsCopy(t *testing.T) {
	s := obj("v1", "Secret", "ns", "db", map[string]any{"data": map[string]any{"password": "aHVudGVyMg=="}})
	s.SetAnnotations(map[string]string{lastApplied: `{"apiVersion":"v1","data":{"password":"aHVudGVyMg=="},"kind":"Secret"}`, "team": "db"})
	prev := previousState(s)
	if strings.Contains(prev, "aHVudGVyMg==") || !strings.Contains(prev, `"password":"***"`) || !strings.Contains(prev, `"team":"db"`) {
		t.Errorf("previous state %s: want the value masked, kubectl's copy gone, other annotations kept", prev)
	}
}
