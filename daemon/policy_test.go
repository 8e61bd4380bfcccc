package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
)

// policyRepo is a solution with one tier on six sites, canary-1 in the
// first wave, main-1 to main-3 in the second and late-1 to late-2 in the
// third, rolled out as rollout (the YAML of spec.rollout, indented).
func policyRepo(t *testing.T, rollout string) *renderer.Result {
	t.Helper()
	res, err := renderer.Render(context.Background(), policyFS(rollout), renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// policyFS is the repository of policyRepo.
func policyFS(rollout string) fstest.MapFS {
	repo := fstest.MapFS{
		"tandem.yaml": {Data: []byte(`apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata: {name: plant}
spec:
  scale: 1
  tiers:
  - name: edge
    path: edge
    targets: {sites: {matchLabels: {tier: edge}}}
  rollout:
` + rollout)},
		"edge/kustomization.yaml": {Data: []byte("resources: [config.yaml]\n")},
		"edge/config.yaml":        {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: plant}\ndata: {k: v}\n")},
	}
	for _, s := range []string{"canary-1", "main-1", "main-2", "main-3", "late-1", "late-2"} {
		ring, _, _ := strings.Cut(s, "-")
		repo["sites/"+s+".yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"apiVersion: tandem.dev/v1alpha1\nkind: Site\nmetadata: {name: %s, labels: {tier: edge, ring: %s}}\nspec: {}\n", s, ring))}
	}
	return repo
}

// clock is a test's time, moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time                { return c.t }
func (c *clock) add(d time.Duration) time.Time { c.t = c.t.Add(d); return c.t }

// pass reports a final pass of the plant's edge tier on cluster at B.
func pass(r *rollout, now time.Time, cluster string, phase reconciler.Phase) {
	r.observe(reconciler.Result{Key: reconciler.Key{Cluster: cluster, Solution: "plant", Tier: "edge"},
		Revision: "B", Phase: phase, Started: now, Finished: now})
}

// given returns the sites given revision B, sorted.
func given(r *rollout) []string {
	var out []string
	for _, t := range r.targets() {
		for _, ts := range t.Tiers {
			if ts.Revision == "B" {
				out = append(out, t.Cluster)
			}
		}
	}
	slices.Sort(out)
	return out
}

func state(r *rollout, now time.Time) RolloutStatus { return r.status(now)[0] }

func TestRolloutSoaksAWaveBeforeReleasingTheNext(t *testing.T) {
	res := policyRepo(t, "    soak: 10m\n    waves:\n    - {matchLabels: {ring: canary}}\n    - {matchLabels: {ring: main}}\n")
	c := &clock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	r := newRollout(res, "B", reconciler.TargetsFor(res, "A"), c.now())
	if got := given(r); !slices.Equal(got, []string{"canary-1"}) {
		t.Fatalf("first wave %v, want canary-1", got)
	}
	pass(r, c.now(), "canary-1", reconciler.PhaseReady)
	r.advance(c.now())
	st := state(r, c.now())
	if st.State != RolloutSoaking || st.SoakUntil == nil || !st.SoakUntil.Equal(c.now().Add(10*time.Minute)) {
		t.Fatalf("after the canary is Ready: %+v, want Soaking until 10m later", st)
	}
	if w := r.nextWake(c.now()); !w.Equal(c.now().Add(10 * time.Minute)) {
		t.Errorf("next wake %v, want the soak's end", w)
	}
	// Unhealthy during the soak: the soak starts again once healthy.
	pass(r, c.add(5*time.Minute), "canary-1", reconciler.PhaseFailed)
	r.advance(c.now())
	pass(r, c.add(time.Minute), "canary-1", reconciler.PhaseReady)
	r.advance(c.now())
	if r.advance(c.add(9 * time.Minute)); len(given(r)) != 1 {
		t.Fatalf("released %v 9m into a soak restarted: the soak must start again", given(r))
	}
	r.advance(c.add(time.Minute))
	if got := given(r); !slices.Equal(got, []string{"canary-1", "main-1", "main-2", "main-3"}) {
		t.Errorf("after the soak: %v, want the main ring next", got)
	}
}

func TestRolloutUpdatesAtMostMaxConcurrencySitesAndToleratesMaxFailures(t *testing.T) {
	res := policyRepo(t, "    waves:\n    - {matchLabels: {ring: main}, maxConcurrency: 1, maxFailures: 1}\n    - {matchLabels: {ring: late}}\n")
	c := &clock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	r := newRollout(res, "B", reconciler.TargetsFor(res, "A"), c.now())
	if got := given(r); !slices.Equal(got, []string{"main-1"}) {
		t.Fatalf("first wave at concurrency 1: %v, want main-1", got)
	}
	pass(r, c.now(), "main-1", reconciler.PhaseFailed)
	r.advance(c.now())
	if got := given(r); !slices.Equal(got, []string{"main-1", "main-2"}) {
		t.Fatalf("after one failure within the budget: %v, want main-2 next", got)
	}
	pass(r, c.now(), "main-2", reconciler.PhaseReady)
	r.advance(c.now())
	pass(r, c.now(), "main-3", reconciler.PhaseReady)
	r.advance(c.now())
	if got := given(r); !slices.Contains(got, "late-1") {
		t.Errorf("with 1 of 3 failed and maxFailures 1, the next wave is not released: %v", got)
	}

	// A second failure halts: the budget is spent.
	r = newRollout(res, "B", reconciler.TargetsFor(res, "A"), c.now())
	pass(r, c.now(), "main-1", reconciler.PhaseFailed)
	r.advance(c.now())
	pass(r, c.now(), "main-2", reconciler.PhaseUnreachable)
	r.advance(c.now())
	st := state(r, c.now())
	if got := given(r); st.State != RolloutHalted || slices.Contains(got, "main-3") || !strings.Contains(st.Halted, "edge on main-1 Failed") || !strings.Contains(st.Halted, "edge on main-2 Unreachable") {
		t.Errorf("two failures, budget one: %+v given %v, want halted naming both, main-3 held", st, got)
	}
}

func TestRolloutHaltsAtItsProgressDeadlineUntilResumed(t *testing.T) {
	res := policyRepo(t, "    progressDeadline: 15m\n    waves:\n    - {matchLabels: {ring: canary}}\n")
	c := &clock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	r := newRollout(res, "B", reconciler.TargetsFor(res, "A"), c.now())
	if w := r.nextWake(c.now()); !w.Equal(c.now().Add(15 * time.Minute)) {
		t.Errorf("next wake %v, want the deadline", w)
	}
	r.advance(c.add(15 * time.Minute))
	st := state(r, c.now())
	if st.State != RolloutHalted || !strings.Contains(st.Halted, "not Ready within its progress deadline of 15m0s") {
		t.Fatalf("past the deadline: %+v, want halted by it", st)
	}
	pass(r, c.now(), "canary-1", reconciler.PhaseReady)
	if r.advance(c.now()); len(given(r)) != 1 {
		t.Fatalf("a halted rollout went on: %v", given(r))
	}
	if err := r.resume("plant", c.now()); err != nil {
		t.Fatal(err)
	}
	if got := given(r); len(got) != 6 {
		t.Errorf("after resume with the canary Ready: %v, want every site", got)
	}
	if err := r.resume("plant", c.now()); err == nil {
		t.Error("resuming a rollout that is not halted was accepted")
	}
}

func TestRolloutWaitsForApprovalAndAbortGivesEverySiteItsPreviousRevision(t *testing.T) {
	res := policyRepo(t, "    waves:\n    - {matchLabels: {ring: canary}}\n    - {matchLabels: {ring: main}, approve: true}\n")
	c := &clock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	r := newRollout(res, "B", reconciler.TargetsFor(res, "A"), c.now())
	if err := r.approve("plant", c.now()); err == nil {
		t.Error("approved a wave whose turn has not come")
	}
	pass(r, c.now(), "canary-1", reconciler.PhaseReady)
	r.advance(c.now())
	if st := state(r, c.now()); st.State != RolloutWaitingForApproval || len(given(r)) != 1 {
		t.Fatalf("canary Ready: %+v given %v, want waiting for approval", st, given(r))
	}
	if err := r.approve("plant", c.now()); err != nil {
		t.Fatal(err)
	}
	if got := given(r); len(got) != 4 {
		t.Fatalf("after approval: %v, want the canary and the main ring", got)
	}
	if err := r.abort("plant", c.now()); err != nil {
		t.Fatal(err)
	}
	if got, st := given(r), state(r, c.now()); len(got) != 0 || st.State != RolloutAborted {
		t.Errorf("after abort: %v given B, state %s; want none, Aborted", got, st.State)
	}
	if err := r.approve("elsewhere", c.now()); err == nil {
		t.Error("approved the rollout of a solution the revision does not have")
	}
}

func TestRolloutPolicyDefaultsFromTheRolloutAndPercentages(t *testing.T) {
	res := policyRepo(t, "    maxConcurrency: 50%\n    maxFailures: 34%\n    waves:\n    - {matchLabels: {ring: main}}\n    - {matchLabels: {ring: late}, maxConcurrency: 1}\n")
	sol := res.Solutions[0]
	if p := sol.Policy(0, 3); p.MaxConcurrency != 2 || p.MaxFailures != 1 {
		t.Errorf("wave 1 of 3 sites: %+v, want concurrency 2 (50%% rounded up), failures 1 (34%% rounded down)", p)
	}
	if p := sol.Policy(1, 2); p.MaxConcurrency != 1 || p.MaxFailures != 0 {
		t.Errorf("wave 2 of 2 sites: %+v, want its own concurrency 1 and failures 0", p)
	}
}

func TestRolloutWhoseFirstWaveAsksForApprovalReleasesNothingUntilApproved(t *testing.T) {
	res := policyRepo(t, "    waves:\n    - {matchLabels: {ring: canary}, approve: true}\n")
	c := &clock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	r := newRollout(res, "B", reconciler.TargetsFor(res, "A"), c.now())
	if got := given(r); len(got) != 0 {
		t.Fatalf("before approval: %v given B, want none", got)
	}
	if err := r.approve("plant", c.now()); err != nil {
		t.Fatal(err)
	}
	if got := given(r); !slices.Equal(got, []string{"canary-1"}) {
		t.Errorf("after approval: %v, want the canary", got)
	}
}

func TestRolloutHoldsASiteOutsideItsMaintenanceWindowAndReleasesItWhenItOpens(t *testing.T) {
	repo := policyFS("    progressDeadline: 30m\n")
	repo["sites/main-2.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: tandem.dev/v1alpha1\nkind: Site\n" +
		"metadata: {name: main-2, labels: {tier: edge, ring: main}}\n" +
		"spec:\n  windows: [{schedule: \"0 22 * * *\", duration: 4h, timeZone: Europe/Berlin}]\n")}
	res, err := renderer.Render(context.Background(), repo, renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 20:00 in Berlin on 1 December: two hours before main-2's window.
	c := &clock{time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)}
	r := newRollout(res, "B", reconciler.TargetsFor(res, "A"), c.now())
	if got := given(r); slices.Contains(got, "main-2") || len(got) != 5 {
		t.Fatalf("outside its window: %v given B, want every site but main-2", got)
	}
	st := state(r, c.now())
	if len(st.Waiting) != 1 || !strings.Contains(st.Waiting[0], "main-2: waiting for its window, opens at 2026-12-01T21:00:00Z") {
		t.Errorf("status %+v, want main-2 waiting for 21:00 UTC", st)
	}
	for _, s := range []string{"canary-1", "main-1", "main-3", "late-1", "late-2"} {
		pass(r, c.now(), s, reconciler.PhaseReady)
	}
	r.advance(c.now())
	// An hour past the 30m deadline, the wave only waits for main-2's
	// window: it is not halted.
	if r.advance(c.add(time.Hour)); state(r, c.now()).State == RolloutHalted {
		t.Fatalf("halted while only waiting for a window: %+v", state(r, c.now()))
	}
	if w := r.nextWake(c.now()); w.After(time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)) {
		t.Errorf("next wake %v, after the window opens at 21:00 UTC", w)
	}
	r.advance(c.add(time.Hour))
	if got := given(r); !slices.Contains(got, "main-2") {
		t.Errorf("at 22:00 in Berlin main-2 is still held: %v", got)
	}
}

func TestAFailedSiteRetryingStaysFailedUntilAPassEndsReady(t *testing.T) {
	res := policyRepo(t, "    waves:\n    - {matchLabels: {ring: canary}}\n")
	c := &clock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	r := newRollout(res, "B", reconciler.TargetsFor(res, "A"), c.now())
	failedAt := c.now()
	r.observe(reconciler.Result{Key: reconciler.Key{Cluster: "canary-1", Solution: "plant", Tier: "edge"},
		Revision: "B", Phase: reconciler.PhaseFailed, Message: "health check of revision B: Deployment/plant/app not Available",
		Started: failedAt, Finished: failedAt})
	// The retry waits for health, Progressing.
	c.add(30 * time.Second)
	r.observe(reconciler.Result{Key: reconciler.Key{Cluster: "canary-1", Solution: "plant", Tier: "edge"},
		Revision: "B", Phase: reconciler.PhaseProgressing, Started: c.now()})
	r.advance(c.now())
	st := state(r, c.now())
	if st.State != RolloutHalted || !strings.Contains(st.Halted, "edge on canary-1 Failed since "+failedAt.Format(time.RFC3339)+" (health check of revision B: Deployment/plant/app not Available)") || len(given(r)) != 1 {
		t.Fatalf("a failed canary retrying: %+v given %v, want halted since its first failure", st, given(r))
	}
	pass(r, c.add(time.Second), "canary-1", reconciler.PhaseReady)
	r.advance(c.now())
	if got := given(r); len(got) != 6 {
		t.Errorf("after the canary passed Ready: %v, want every site", got)
	}
}
