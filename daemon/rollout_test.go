package daemon

import (
	"context"
	"maps"
	"strings"
	"testing"

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

func TestRolloutReleasesWavesInOrderOnceTheFormerAreReady(t *testing.T) {
	res := renderFixture(t)
	previous := reconciler.TargetsFor(res, "A")
	r := newRollout(res, "B", previous)

	got := revisions(r.targets())
	want := map[string]string{
		"cloud@cloud": "B", "edge@plant-a": "B", "platform-edge@plant-a": "B",
		"edge@plant-b": "A", "platform-edge@plant-b": "A", "edge@plant-c": "A", "platform-edge@plant-c": "A",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("first wave: %v, want %v", got, want)
	}

	ready := map[targetKey]bool{}
	readyAt := func(k targetKey, rev string) bool { return rev == "B" && ready[k] }
	ready[targetKey{"smart-factory", "cloud", "cloud"}] = true
	ready[targetKey{"smart-factory", "platform-edge", "plant-a"}] = true
	if r.advance(readyAt) {
		t.Fatal("released the second wave while plant-a's edge tier is not Ready")
	}
	ready[targetKey{"smart-factory", "edge", "plant-a"}] = true
	if !r.advance(readyAt) {
		t.Fatal("did not release the second wave once the first was Ready")
	}
	for k, rev := range revisions(r.targets()) {
		if rev != "B" {
			t.Errorf("%s at %s after the last wave, want B", k, rev)
		}
	}
	if r.advance(func(targetKey, string) bool { return true }) {
		t.Error("advanced past the last wave")
	}
}

func TestRolloutLeavesSitesWithoutPreviousTargetsAloneUntilTheirWave(t *testing.T) {
	r := newRollout(renderFixture(t), "B", nil)
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
	r := newRollout(res, "B", previous)
	if rev := revisions(r.targets())["legacy@plant-b"]; rev != "A" {
		t.Fatalf("dropped tier before plant-b's wave: %q, want kept at A", rev)
	}
	r.advance(func(targetKey, string) bool { return true })
	if rev, ok := revisions(r.targets())["legacy@plant-b"]; ok {
		t.Errorf("dropped tier still given (%s) after plant-b's wave was released", rev)
	}
}

func TestRolloutStatusNamesWhatHaltsIt(t *testing.T) {
	r := newRollout(renderFixture(t), "B", nil)
	st := r.status(func(k targetKey) (string, bool) {
		if k.cluster == "plant-a" && k.tier == "edge" {
			return "Failed", false
		}
		return "Ready", true
	})
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
	r := newRollout(res, "B", previous)
	if rev := revisions(r.targets())["edge@plant-z"]; rev != "A" {
		t.Fatalf("plant-z's tier before its wave: %q, want kept at A", rev)
	}
	r.advance(func(targetKey, string) bool { return true })
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
