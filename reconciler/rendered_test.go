package reconciler

import (
	"context"
	"os"
	"testing"

	"github.com/tandem-gitops/tandem/renderer"
)

func TestTargetsForGroupsTheFixtureByCluster(t *testing.T) {
	res, err := renderer.Render(context.Background(), os.DirFS("../fixtures/smart-factory"), renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	targets := TargetsFor(res, "main@sha1:abc")

	perCluster := map[string]int{}
	for _, t := range res.Targets {
		perCluster[t.Cluster]++
	}
	if len(targets) != len(perCluster) {
		t.Fatalf("got %d targets, want one per cluster (%d)", len(targets), len(perCluster))
	}
	for _, target := range targets {
		if got, want := len(target.Tiers), perCluster[target.Cluster]; got != want {
			t.Errorf("cluster %s: %d tier sets, want %d", target.Cluster, got, want)
		}
		for _, ts := range target.Tiers {
			if ts.Revision != "main@sha1:abc" {
				t.Errorf("cluster %s tier %s: revision %q", target.Cluster, ts.Tier, ts.Revision)
			}
			if len(ts.Objects) == 0 {
				t.Errorf("cluster %s tier %s: no objects", target.Cluster, ts.Tier)
			}
		}
	}
}
