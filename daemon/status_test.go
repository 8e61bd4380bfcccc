package daemon

import (
	"errors"
	"testing"
	"time"

	"github.com/fluxcd/pkg/ssa"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

func revision(commit string) sources.Revision {
	return sources.Revision{URL: "https://git.example.com/config.git", Ref: "refs/heads/main", Commit: commit}
}

func targetsAt(rev sources.Revision, clusters ...string) []reconciler.Target {
	var targets []reconciler.Target
	for _, c := range clusters {
		targets = append(targets, reconciler.Target{Cluster: c, Tiers: []reconciler.TierSet{
			{Solution: "smart-factory", Tier: "edge", Revision: rev.String()},
		}})
	}
	return targets
}

func result(cluster string, rev sources.Revision, phase reconciler.Phase, entries ...ssa.ChangeSetEntry) reconciler.Result {
	cs := ssa.NewChangeSet()
	cs.Append(entries)
	return reconciler.Result{Key: reconciler.Key{Cluster: cluster, Solution: "smart-factory", Tier: "edge"}, Revision: rev.String(),
		Phase: phase, ChangeSet: cs, Started: time.Now(), Finished: time.Now()}
}

func TestStatusFollowsRendersAndPasses(t *testing.T) {
	s := newStatusStore()
	first, second := revision("1111111111111111111111111111111111111111"), revision("2222222222222222222222222222222222222222")

	s.rendered(first, &renderer.Result{})
	s.setTargets(targetsAt(first, "plant-a", "plant-b"))
	st := s.snapshot()
	if len(st.Targets) != 2 || st.Targets[0].Phase != PhasePending || st.Targets[0].DesiredRevision != first.String() {
		t.Fatalf("after the first render: %+v, want two Pending targets at %s", st.Targets, first)
	}

	s.observe(result("plant-a", first, reconciler.PhaseReady, ssa.ChangeSetEntry{Action: ssa.CreatedAction}))
	s.observe(result("plant-b", first, reconciler.PhaseFailed))
	st = s.snapshot()
	if a := st.Targets[0]; a.Phase != "Ready" || a.AppliedRevision != first.String() || a.Changes.Created != 1 || a.LastReconcile == nil {
		t.Errorf("plant-a after a Ready pass: %+v", a)
	}
	if b := st.Targets[1]; b.Phase != "Failed" || b.AppliedRevision != "" {
		t.Errorf("plant-b after a failed pass: %+v, want Failed with nothing applied", b)
	}

	// A broken revision changes nothing the clusters were given.
	s.renderFailed(second, errors.New("tandem.yaml:9: spec.scale: must be ≥ 0"))
	st = s.snapshot()
	if st.Render.Error == "" || st.Render.LastGoodRevision != first.String() || st.Targets[0].DesiredRevision != first.String() {
		t.Errorf("after a failed render: render %+v, target %+v", st.Render, st.Targets[0])
	}

	// A new render drops plant-b; a late result of the old revision is ignored.
	s.rendered(second, &renderer.Result{})
	if dropped := s.setTargets(targetsAt(second, "plant-a")); len(dropped) != 1 || dropped[0].Cluster != "plant-b" {
		t.Errorf("setTargets dropped %v, want plant-b's edge tier", dropped)
	}
	s.observe(result("plant-a", first, reconciler.PhaseFailed))
	st = s.snapshot()
	if len(st.Targets) != 1 {
		t.Fatalf("after plant-b left the render: %d targets, want 1", len(st.Targets))
	}
	if a := st.Targets[0]; a.Phase != PhasePending || a.DesiredRevision != second.String() || a.AppliedRevision != first.String() {
		t.Errorf("plant-a while the second revision is pending: %+v, want Pending with the first applied", a)
	}
}

func TestStatusReportsTheSource(t *testing.T) {
	now := time.Now()
	src := sourceStatus(sources.Status{
		Revision:            revision("3333333333333333333333333333333333333333"),
		LastSuccess:         now,
		LastError:           errors.New("remote unreachable"),
		ConsecutiveFailures: 2,
	}, sources.Spec{URL: "https://git.example.com/config.git", Ref: sources.Ref{Branch: "main"}})
	if src.Ref != "refs/heads/main" || src.LastError != "remote unreachable" || src.ConsecutiveFailures != 2 ||
		src.LastSuccess == nil || src.LastAttempt != nil || src.Revision == "" {
		t.Errorf("source status %+v", src)
	}
}

func TestStatusShowsARemovedTierUntilItIsPruned(t *testing.T) {
	s := newStatusStore()
	rev := revision("4444444444444444444444444444444444444444")
	s.setTargets(targetsAt(rev, "plant-a"))
	refused := result("plant-b", rev, reconciler.PhaseFailed)
	refused.Message = "refusing to prune all 7 objects; set spec.allowEmpty on solution smart-factory to prune them"
	s.observe(refused)
	st := s.snapshot()
	if len(st.Targets) != 2 || !st.Targets[1].Removed || st.Targets[1].Phase != "Failed" || st.Targets[1].Message != refused.Message {
		t.Fatalf("after a refused prune: %+v, want plant-b listed as removed and Failed", st.Targets)
	}
	s.setTargets(targetsAt(rev, "plant-a", "plant-b")) // the removal reverted
	s.observe(result("plant-b", rev, reconciler.PhaseReady))
	if st := s.snapshot(); len(st.Targets) != 2 || st.Targets[1].Removed || st.Targets[1].Phase != "Ready" {
		t.Errorf("after the removal was reverted: %+v, want plant-b a Ready target again", st.Targets)
	}
	s.setTargets(targetsAt(rev, "plant-a"))
	s.observe(refused)
	s.observe(result("plant-b", rev, reconciler.PhaseReady))
	if st := s.snapshot(); len(st.Targets) != 1 {
		t.Errorf("after plant-b was pruned: %+v, want it gone", st.Targets)
	}
	s.observe(result("plant-c", rev, reconciler.PhaseReady))
	if st := s.snapshot(); len(st.Targets) != 1 {
		t.Errorf("a Ready pass over a tier no target has was listed: %+v", st.Targets)
	}
}

// An agent repeats its latest results in every report: a repeat is not
// taken in twice, but the same result is taken in again once the target
// is given its revision anew, as after an aborted rollout.
func TestStatusAwaitsARepeatedResultOnlyAfterItsRevisionIsGivenAgain(t *testing.T) {
	s := newStatusStore()
	a, b := "main@sha1:aaa", "main@sha1:bbb"
	give := func(rev string) {
		s.setTargets([]reconciler.Target{{Cluster: "plant-c", Tiers: []reconciler.TierSet{{Solution: "shop", Tier: "edge", Revision: rev}}}})
	}
	started := time.Now()
	ready := reconciler.Result{Key: reconciler.Key{Cluster: "plant-c", Solution: "shop", Tier: "edge"}, Revision: a,
		Phase: reconciler.PhaseReady, Started: started, Finished: started.Add(time.Second)}

	give(a)
	if !s.awaits(ready) {
		t.Fatal("a target at revision a does not await the first Ready result at a")
	}
	s.observe(ready)
	if s.awaits(ready) {
		t.Error("the same result, repeated, is awaited again")
	}
	give(b)
	if s.awaits(ready) {
		t.Error("a target at revision b awaits a result at a")
	}
	give(a) // the rollout of b aborted
	if !s.awaits(ready) {
		t.Error("a target given revision a again does not await the result at a it had before")
	}
	s.observe(ready)
	if st := s.snapshot().Targets[0]; st.Phase != string(reconciler.PhaseReady) || st.AppliedRevision != a {
		t.Errorf("after the repeated result: %s at %q, want Ready at a", st.Phase, st.AppliedRevision)
	}
}
