package daemon

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/sources"
)

// fakeSource is a Source whose revisions a test hands over itself.
type fakeSource struct{ revisions chan sources.Revision }

func (s fakeSource) Run(ctx context.Context) error              { <-ctx.Done(); return ctx.Err() }
func (s fakeSource) Revisions() <-chan sources.Revision         { return s.revisions }
func (fakeSource) Status() sources.Status                       { return sources.Status{} }
func (fakeSource) Spec() sources.Spec                           { return specOf("/config.git") }
func (s fakeSource) send(commit string) sources.Revision        { return s.give(revisionAt(commit)) }
func (s fakeSource) give(rev sources.Revision) sources.Revision { s.revisions <- rev; return rev }

func revisionAt(commit string) sources.Revision {
	return sources.Revision{URL: "file:///config.git", Ref: "refs/heads/main", Commit: commit}
}

// trees are commits' file systems by commit.
type trees map[string]fs.FS

func (t trees) FS(commit string) (fs.FS, error) {
	if fsys, ok := t[commit]; ok {
		return fsys, nil
	}
	return nil, fmt.Errorf("no commit %s", commit)
}

// fakeApplier records the targets it is given; a test hands the daemon
// the results itself.
type fakeApplier struct{ given [][]reconciler.Target }

func (a *fakeApplier) Run(ctx context.Context, results chan<- reconciler.Result) error {
	<-ctx.Done()
	return ctx.Err()
}

func (a *fakeApplier) SetTargets(targets []reconciler.Target) { a.given = append(a.given, targets) }

// last returns the revision of every tier the applier was last given, as
// tier@cluster.
func (a *fakeApplier) last() map[string]string {
	out := map[string]string{}
	if len(a.given) == 0 {
		return out
	}
	for _, t := range a.given[len(a.given)-1] {
		for _, ts := range t.Tiers {
			out[ts.Tier+"@"+t.Cluster] = ts.Revision
		}
	}
	return out
}

// broken is a repository whose solution does not parse.
var broken = fstest.MapFS{"tandem.yaml": {Data: []byte("apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: x\n")}}

// newTestDaemon is a daemon over the given commits, driven by calling its
// loop's steps (follow, observe) directly, as Run's loop does.
func newTestDaemon(t *testing.T, commits trees, stateDir string) (*Daemon, *fakeApplier) {
	t.Helper()
	a := &fakeApplier{}
	d := New(Config{Source: fakeSource{make(chan sources.Revision, 1)}, Trees: commits, Applier: a,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), StateDir: stateDir})
	return d, a
}

// ready is the final Ready result of the fixture's tier on cluster at rev.
func ready(cluster, tier string, rev sources.Revision) reconciler.Result {
	return reconciler.Result{Key: reconciler.Key{Cluster: cluster, Solution: "smart-factory", Tier: tier},
		Revision: rev.String(), Phase: reconciler.PhaseReady, Started: time.Now(), Finished: time.Now()}
}

func TestFollowReleasesTheFirstWaveAndAdvanceTheNextOnceReady(t *testing.T) {
	a1, b2 := revisionAt("a1"), revisionAt("b2")
	wave1 := []reconciler.Result{ready("cloud", "cloud", b2), ready("plant-a", "edge", b2), ready("plant-a", "platform-edge", b2)}
	tests := []struct {
		name string
		// results are what the applier reports after b2 is followed.
		results []reconciler.Result
		want    map[string]string
		// halted is what the rollout status says halts it, if anything.
		halted string
	}{{
		name: "no results: only the first wave has b2",
		want: map[string]string{"cloud@cloud": b2.String(), "edge@plant-a": b2.String(), "platform-edge@plant-a": b2.String(),
			"edge@plant-b": a1.String(), "platform-edge@plant-b": a1.String(), "edge@plant-c": a1.String(), "platform-edge@plant-c": a1.String()},
	}, {
		name:    "the first wave Ready: every site has b2",
		results: wave1,
		want: map[string]string{"cloud@cloud": b2.String(), "edge@plant-a": b2.String(), "platform-edge@plant-a": b2.String(),
			"edge@plant-b": b2.String(), "platform-edge@plant-b": b2.String(), "edge@plant-c": b2.String(), "platform-edge@plant-c": b2.String()},
	}, {
		name:    "Ready at the revision before is not Ready",
		results: []reconciler.Result{ready("cloud", "cloud", b2), ready("plant-a", "edge", a1), ready("plant-a", "platform-edge", b2)},
		want: map[string]string{"cloud@cloud": b2.String(), "edge@plant-a": b2.String(), "platform-edge@plant-a": b2.String(),
			"edge@plant-b": a1.String(), "platform-edge@plant-b": a1.String(), "edge@plant-c": a1.String(), "platform-edge@plant-c": a1.String()},
	}, {
		name: "a failure halts the rollout",
		results: append(slices.Clone(wave1[:2]), reconciler.Result{Key: wave1[2].Key, Revision: b2.String(),
			Phase: reconciler.PhaseFailed, Message: "health check failed", Finished: time.Now()}),
		want: map[string]string{"cloud@cloud": b2.String(), "edge@plant-a": b2.String(), "platform-edge@plant-a": b2.String(),
			"edge@plant-b": a1.String(), "platform-edge@plant-b": a1.String(), "edge@plant-c": a1.String(), "platform-edge@plant-c": a1.String()},
		halted: "wave 1 of 2: platform-edge on plant-a Failed since ",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, applier := newTestDaemon(t, trees{"a1": fixtures.SmartFactory(), "b2": fixtures.SmartFactory()}, "")
			ctx := context.Background()
			d.follow(ctx, a1)
			for _, k := range slices.Sorted(maps.Keys(applier.last())) {
				tier, cluster, _ := strings.Cut(k, "@")
				d.observe(ready(cluster, tier, a1))
			}
			if got := applier.last(); len(got) != 7 {
				t.Fatalf("after a1 was Ready everywhere the applier has %v, want all 7 tiers", got)
			}

			d.follow(ctx, b2)
			for _, res := range tt.results {
				d.observe(res)
			}
			d.publish()
			if got := applier.last(); !maps.Equal(got, tt.want) {
				t.Errorf("applier given\n%v\nwant\n%v", got, tt.want)
			}
			st := d.Status()
			if len(st.Rollouts) != 1 || !strings.HasPrefix(st.Rollouts[0].Halted, tt.halted) || (tt.halted == "") != (st.Rollouts[0].Halted == "") {
				t.Errorf("rollouts %+v, want halted %q", st.Rollouts, tt.halted)
			}
		})
	}
}

func TestFollowLeavesTheTargetsOfARevisionThatDoesNotRender(t *testing.T) {
	d, applier := newTestDaemon(t, trees{"a1": fixtures.SmartFactory(), "bad": broken}, "")
	ctx := context.Background()
	d.follow(ctx, revisionAt("a1"))
	before := len(applier.given)
	d.follow(ctx, revisionAt("bad"))
	d.follow(ctx, revisionAt("gone"))
	if len(applier.given) != before {
		t.Errorf("revisions that do not render gave the applier targets %d times", len(applier.given)-before)
	}
	d.publish()
	st := d.Status().Render
	if st.LastGoodRevision != revisionAt("a1").String() || !strings.Contains(st.Error, "no commit gone") {
		t.Errorf("render status %+v, want a1 still good and the missing commit named", st)
	}
}

func TestFollowDoesNotRenderTheCommitAProcessDiedRendering(t *testing.T) {
	dir := t.TempDir()
	d, applier := newTestDaemon(t, trees{"a1": fixtures.SmartFactory(), "b2": fixtures.SmartFactory()}, dir)
	if err := d.marker.write("a1"); err != nil {
		t.Fatal(err)
	}
	d.interrupted, _ = d.marker.read()
	d.follow(context.Background(), revisionAt("a1"))
	if len(applier.given) != 0 {
		t.Fatalf("the commit being rendered when the process died was applied: %v", applier.given)
	}
	d.follow(context.Background(), revisionAt("b2"))
	if len(applier.given) != 1 {
		t.Errorf("the next commit gave the applier targets %d times, want once", len(applier.given))
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "rendering-*")); len(files) != 0 {
		t.Errorf("marker left after rendering b2: %v", files)
	}
}

func TestReleaseLeavesAClusterTheRevisionDroppedWithNoTiersOnceItsWaveComes(t *testing.T) {
	without, err := fixtures.SmartFactoryWithSites(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := without["sites/plant-c.yaml"]; !ok {
		t.Fatalf("the fixture has no sites/plant-c.yaml: %v", slices.Sorted(maps.Keys(without)))
	}
	delete(without, "sites/plant-c.yaml")
	d, applier := newTestDaemon(t, trees{"a1": fixtures.SmartFactory(), "b2": without}, "")
	ctx := context.Background()
	d.follow(ctx, revisionAt("a1"))
	for _, k := range slices.Sorted(maps.Keys(applier.last())) {
		tier, cluster, _ := strings.Cut(k, "@")
		d.observe(ready(cluster, tier, revisionAt("a1")))
	}
	d.follow(ctx, revisionAt("b2"))
	for _, k := range []reconciler.Key{{Cluster: "cloud", Solution: "smart-factory", Tier: "cloud"},
		{Cluster: "plant-a", Solution: "smart-factory", Tier: "edge"}, {Cluster: "plant-a", Solution: "smart-factory", Tier: "platform-edge"}} {
		d.observe(ready(k.Cluster, k.Tier, revisionAt("b2")))
	}
	d.publish()
	for _, st := range d.Status().Targets {
		if st.Cluster == "plant-c" && !st.Removed {
			t.Errorf("plant-c, which b2 no longer has, still has a target status %+v once its wave is released", st)
		}
	}
	found := false
	for _, target := range applier.given[len(applier.given)-1] {
		if target.Cluster == "plant-c" {
			found = true
			if len(target.Tiers) != 0 {
				t.Errorf("plant-c still given tiers %+v after its wave", target.Tiers)
			}
		}
	}
	if !found {
		t.Error("plant-c is no longer a target: what it ran would never be pruned")
	}
}
