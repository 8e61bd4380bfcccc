package e2e

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/daemon"
)

// targetID names one tier of one solution on one cluster. The tests find a
// target in a status by it, never by its position in the list, which
// changes as targets come and go.
type targetID struct{ cluster, solution, tier string }

func (id targetID) String() string {
	return id.solution + "/" + id.tier + " on " + id.cluster
}

func idOf(ts daemon.TargetStatus) targetID { return targetID{ts.Cluster, ts.Solution, ts.Tier} }

// compareIDs orders targets by cluster, solution, then tier.
func compareIDs(a, b targetID) int {
	return cmp.Or(cmp.Compare(a.cluster, b.cluster), cmp.Compare(a.solution, b.solution), cmp.Compare(a.tier, b.tier))
}

// targetOf returns the status of a tier of a solution on a cluster.
func targetOf(st daemon.Status, solution, tier, cluster string) (daemon.TargetStatus, bool) {
	want := targetID{cluster, solution, tier}
	for _, ts := range st.Targets {
		if idOf(ts) == want {
			return ts, true
		}
	}
	return daemon.TargetStatus{}, false
}

// lastPasses maps the targets of st that keep says to keep, every one when
// keep is nil, to when their latest pass ended: the zero time for one no
// pass has reached yet.
func lastPasses(st daemon.Status, keep func(targetID) bool) map[targetID]time.Time {
	out := map[targetID]time.Time{}
	for _, ts := range st.Targets {
		if id := idOf(ts); keep == nil || keep(id) {
			var last time.Time
			if ts.LastReconcile != nil {
				last = *ts.LastReconcile
			}
			out[id] = last
		}
	}
	return out
}

// passedAgain says which target of since has not finished a pass after the
// time since gives it, as st reports it, or nil when every one has. A
// target missing from st has not passed again.
func passedAgain(st daemon.Status, since map[targetID]time.Time) error {
	if len(since) == 0 {
		return fmt.Errorf("no targets to wait for")
	}
	now := map[targetID]daemon.TargetStatus{}
	for _, ts := range st.Targets {
		now[idOf(ts)] = ts
	}
	for _, id := range slices.SortedFunc(maps.Keys(since), compareIDs) {
		ts, ok := now[id]
		switch {
		case !ok:
			return fmt.Errorf("%s is not in the status", id)
		case ts.LastReconcile == nil || !ts.LastReconcile.After(since[id]):
			return fmt.Errorf("%s has not reconciled again since %s (%s: %s)", id, since[id].Format(time.RFC3339Nano), ts.Phase, ts.Message)
		}
	}
	return nil
}

// waitPassedAgain waits until every target named in since has finished a
// pass after the time since gives it, and returns the status that shows
// it. It is how a test knows a window passed in which something could
// have happened: a pass that ended later saw the whole of it.
func (e *fleetEnv) waitPassedAgain(since map[targetID]time.Time, timeout time.Duration) daemon.Status {
	e.t.Helper()
	var st daemon.Status
	e.eventually(timeout, fmt.Sprintf("a new pass on %d targets", len(since)), func() error {
		var err error
		if st, err = e.status(); err != nil {
			return err
		}
		return passedAgain(st, since)
	})
	return st
}

// waitDriftPass waits until every target of the current status has
// finished a pass after it was read, and returns the status that shows it.
func (e *fleetEnv) waitDriftPass(timeout time.Duration) daemon.Status {
	e.t.Helper()
	before, err := e.status()
	if err != nil {
		e.t.Fatal(err)
	}
	return e.waitPassedAgain(lastPasses(before, nil), timeout)
}

// rolloutOf returns the rollout of a solution.
func rolloutOf(st daemon.Status, solution string) (daemon.RolloutStatus, bool) {
	for _, ro := range st.Rollouts {
		if ro.Solution == solution {
			return ro, true
		}
	}
	return daemon.RolloutStatus{}, false
}

func TestPassedAgainFindsTargetsByIdentityNotPosition(t *testing.T) {
	at := func(s int) *time.Time { v := time.Unix(1000+int64(s), 0); return &v }
	target := func(cluster, tier string, last *time.Time) daemon.TargetStatus {
		return daemon.TargetStatus{Cluster: cluster, Solution: "factory", Tier: tier, Phase: "Ready", LastReconcile: last}
	}
	before := daemon.Status{Targets: []daemon.TargetStatus{
		target("cloud", "cloud", at(0)), target("plant-a", "edge", at(1)), target("plant-b", "edge", nil),
	}}
	since := lastPasses(before, nil)
	for _, c := range []struct {
		name  string
		after []daemon.TargetStatus
		fails string
	}{
		{"every target passed again, listed in another order",
			[]daemon.TargetStatus{target("plant-b", "edge", at(2)), target("plant-a", "edge", at(2)), target("cloud", "cloud", at(2))}, ""},
		{"a target not passed again, where another stood in the list before",
			[]daemon.TargetStatus{target("cloud", "cloud", at(2)), target("plant-b", "edge", at(2)), target("plant-a", "edge", at(1))},
			"factory/edge on plant-a has not reconciled again"},
		{"a target never reached before is reached now",
			[]daemon.TargetStatus{target("cloud", "cloud", at(2)), target("plant-a", "edge", at(2)), target("plant-b", "edge", nil)},
			"factory/edge on plant-b has not reconciled again"},
		{"a target gone from the status, another in its place",
			[]daemon.TargetStatus{target("cloud", "cloud", at(2)), target("plant-a", "edge", at(2)), target("plant-c", "edge", at(2))},
			"factory/edge on plant-b is not in the status"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := passedAgain(daemon.Status{Targets: c.after}, since)
			switch {
			case c.fails == "" && err != nil:
				t.Errorf("passedAgain = %v, want nil", err)
			case c.fails != "" && (err == nil || !strings.Contains(err.Error(), c.fails)):
				t.Errorf("passedAgain = %v, want an error saying %q", err, c.fails)
			}
		})
	}
	if err := passedAgain(before, map[targetID]time.Time{}); err == nil {
		t.Error("passedAgain of no targets = nil, want an error: nothing was waited for")
	}
}
