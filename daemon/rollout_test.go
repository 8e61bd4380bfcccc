package daemon

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
)

// The fixture rolls out to the canary plant-a (with the cloud) first, then
// to plant-b and plant-c.
func renderFixture(t *testing.T) *renderer.Result {
	t.Helper()
	res, err := renderer.Render(context.Background(), fixtures.SmartFactory(), renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// revisions returns the revision every tier of every cluster is given.
func revisions(targets []reconciler.Target) map[string]string {
	out := map[string]string{}
	for _, t := range targets {
		for _, ts := range t.Tiers {
			out[ts.Tier+"@"+t.Cluster] = ts.Revision
		}
	}
	return out
}

// passed is the final result of a pass over the fixture's tier on cluster.
func passed(cluster, tier, revision string, phase reconciler.Phase) reconciler.Result {
	return reconciler.Result{Key: reconciler.Key{Cluster: cluster, Solution: "smart-factory", Tier: tier},
		Revision: revision, Phase: phase, Started: time.Now(), Finished: time.Now()}
}

// allReady tells r that every target of its revision passed Ready.
func allReady(r *rollout) {
	for k := range r.next {
		r.observe(passed(k.Cluster, k.Tier, r.revision, reconciler.PhaseReady))
	}
}

func TestRolloutReleasesWavesInOrderOnceTheFormerAreReady(t *testing.T) {
	res := renderFixture(t)
	previous := reconciler.TargetsFor(res, "A")
	r := newRollout(res, "B", previous, time.Now())

	got := revisions(r.targets())
	want := map[string]string{
		"cloud@cloud": "B", "edge@plant-a": "B", "platform-edge@plant-a": "B",
		"edge@plant-b": "A", "platform-edge@plant-b": "A", "edge@plant-c": "A", "platform-edge@plant-c": "A",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("first wave: %v, want %v", got, want)
	}

	r.observe(passed("cloud", "cloud", "B", reconciler.PhaseReady))
	r.observe(passed("plant-a", "platform-edge", "B", reconciler.PhaseReady))
	// Ready at the revision before, or still waiting for health at this
	// one, is not Ready at the revision.
	r.observe(passed("plant-a", "edge", "A", reconciler.PhaseReady))
	progressing := passed("plant-a", "edge", "B", reconciler.PhaseReady)
	progressing.Finished = time.Time{}
	r.observe(progressing)
	if r.advance(time.Now()) {
		t.Fatal("released the second wave while plant-a's edge tier is not Ready")
	}
	r.observe(passed("plant-a", "edge", "B", reconciler.PhaseReady))
	if !r.advance(time.Now()) {
		t.Fatal("did not release the second wave once the first was Ready")
	}
	for k, rev := range revisions(r.targets()) {
		if rev != "B" {
			t.Errorf("%s at %s after the last wave, want B", k, rev)
		}
	}
	allReady(r)
	if r.advance(time.Now()) {
		t.Error("advanced past the last wave")
	}
}

func TestRolloutLeavesSitesWithoutPreviousTargetsAloneUntilTheirWave(t *testing.T) {
	r := newRollout(renderFixture(t), "B", nil, time.Now())
	for _, target := range r.targets() {
		if target.Cluster == "plant-b" || target.Cluster == "plant-c" {
			t.Errorf("cluster %s targeted before its wave", target.Cluster)
		}
	}
}

func TestRolloutKeepsADroppedTierUntilItsClusterIsReleased(t *testing.T) {
	res := renderFixture(t)
	previous := reconciler.TargetsFor(res, "A")
	for i := range previous {
		if previous[i].Cluster == "plant-b" {
			previous[i].Tiers = append(previous[i].Tiers, reconciler.TierSet{Solution: "smart-factory", Tier: "legacy", Revision: "A"})
		}
	}
	r := newRollout(res, "B", previous, time.Now())
	if rev := revisions(r.targets())["legacy@plant-b"]; rev != "A" {
		t.Fatalf("dropped tier before plant-b's wave: %q, want kept at A", rev)
	}
	allReady(r)
	r.advance(time.Now())
	if rev, ok := revisions(r.targets())["legacy@plant-b"]; ok {
		t.Errorf("dropped tier still given (%s) after plant-b's wave was released", rev)
	}
}

func TestRolloutStatusNamesWhatHaltsIt(t *testing.T) {
	r := newRollout(renderFixture(t), "B", nil, time.Now())
	allReady(r)
	r.observe(passed("plant-a", "edge", "B", reconciler.PhaseFailed))
	st := r.status(time.Now())
	if len(st) != 1 {
		t.Fatalf("%d rollouts, want 1", len(st))
	}
	got := st[0]
	if got.Wave != 1 || got.Waves != 2 || got.Complete || !strings.Contains(got.Halted, "edge on plant-a Failed") {
		t.Errorf("rollout status %+v, want wave 1 of 2 halted by plant-a's edge tier", got)
	}
}

func TestRolloutKeepsAClusterTheRevisionNoLongerTargetsWithNoTiers(t *testing.T) {
	res := renderFixture(t)
	previous := append(reconciler.TargetsFor(res, "A"), reconciler.Target{Cluster: "plant-z", Tiers: []reconciler.TierSet{
		{Solution: "smart-factory", Tier: "edge", Revision: "A"},
	}})
	r := newRollout(res, "B", previous, time.Now())
	if rev := revisions(r.targets())["edge@plant-z"]; rev != "A" {
		t.Fatalf("plant-z's tier before its wave: %q, want kept at A", rev)
	}
	allReady(r)
	r.advance(time.Now())
	var found bool
	for _, target := range r.targets() {
		if target.Cluster == "plant-z" {
			found = true
			if len(target.Tiers) != 0 {
				t.Errorf("plant-z keeps tiers %+v after its wave", target.Tiers)
			}
		}
	}
	if !found {
		t.Error("plant-z is no longer a target: what it ran would never be pruned")
	}
}
