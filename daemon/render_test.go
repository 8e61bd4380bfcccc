package daemon

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
)

// objectsOf returns the objects of tier on cluster in targets.
func objectsOf(targets []reconciler.Target, cluster, tier string) []*unstructured.Unstructured {
	for _, t := range targets {
		for _, ts := range t.Tiers {
			if t.Cluster == cluster && ts.Tier == tier {
				return ts.Objects
			}
		}
	}
	return nil
}

func TestFollowRendersARevisionFromWhatTheRevisionBeforeShares(t *testing.T) {
	a1, err := fixtures.SmartFactoryWithSites(0)
	if err != nil {
		t.Fatal(err)
	}
	b2 := fstest.MapFS{}
	for name, f := range a1 {
		b2[name] = f
	}
	site := b2["sites/plant-c.yaml"]
	b2["sites/plant-c.yaml"] = &fstest.MapFile{Data: bytes.Replace(site.Data, []byte("weight: 0.5"), []byte("weight: 1"), 1), Mode: site.Mode}
	d, applier := newTestDaemon(t, trees{"a1": a1, "b2": b2}, "")
	// settle reports every tier the applier was given Ready at its
	// revision until the rollout releases nothing more: every wave.
	settle := func() []reconciler.Target {
		for range 5 {
			given := len(applier.given)
			for _, tg := range applier.given[given-1] {
				for _, ts := range tg.Tiers {
					d.observe(reconciler.Result{Key: reconciler.Key{Cluster: tg.Cluster, Solution: ts.Solution, Tier: ts.Tier},
						Revision: ts.Revision, Phase: reconciler.PhaseReady, Started: time.Now(), Finished: time.Now()})
				}
			}
			if len(applier.given) == given {
				break
			}
		}
		return applier.given[len(applier.given)-1]
	}
	ctx := context.Background()
	d.follow(ctx, revisionAt("a1"))
	before := settle()
	d.follow(ctx, revisionAt("b2"))
	after := settle()
	for _, tg := range after {
		for _, ts := range tg.Tiers {
			if ts.Revision != revisionAt("b2").String() {
				t.Fatalf("%s on %s is at %s once settled, want b2", ts.Tier, tg.Cluster, ts.Revision)
			}
		}
	}

	fresh, err := renderer.Render(ctx, b2, renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range fresh.Targets {
		got := objectsOf(after, tg.Cluster, tg.Tier)
		if !reflect.DeepEqual(got, tg.Objects) {
			t.Errorf("%s on %s: the daemon's objects differ from a fresh render's", tg.Tier, tg.Cluster)
		}
		old := objectsOf(before, tg.Cluster, tg.Tier)
		reused := len(got) > 0 && len(old) > 0 && got[0] == old[0]
		if want := tg.Cluster != "plant-c" || tg.Tier == "platform-edge"; reused != want {
			t.Errorf("%s on %s: objects of the revision before reused %t, want %t", tg.Tier, tg.Cluster, reused, want)
		}
	}
}
