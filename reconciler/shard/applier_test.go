package shard

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/renderer"
)

func configMap(site string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion("v1")
	o.SetKind("ConfigMap")
	o.SetNamespace("edge")
	o.SetName("settings")
	labels := map[string]string{renderer.LabelSolution: "factory", renderer.LabelTier: "edge"}
	if site != "" {
		labels[renderer.LabelSite] = site
	}
	o.SetLabels(labels)
	return o
}

func target(cluster string, sites ...string) reconciler.Target {
	t := reconciler.Target{Cluster: cluster}
	for i, site := range sites {
		t.Tiers = append(t.Tiers, reconciler.TierSet{Solution: "factory", Tier: fmt.Sprintf("tier-%d", i),
			Revision: "main@abc", Objects: []*unstructured.Unstructured{configMap(site)}})
	}
	return t
}

// clusterOn returns a cluster name that Of puts on shard i of n.
func clusterOn(t *testing.T, i, n int) string {
	t.Helper()
	for j := range 1000 {
		if name := fmt.Sprintf("site-%d", j); Of(name, n) == i {
			return name
		}
	}
	t.Fatalf("no site name lands on shard %d of %d", i, n)
	return ""
}

func TestPlaceKeepsNamedClustersOnTheFirstShard(t *testing.T) {
	const n = 5
	site := clusterOn(t, 3, n)
	for _, tc := range []struct {
		name   string
		target reconciler.Target
		want   int
	}{
		{"a site's tiers", target(site, site, site), 3},
		{"a tier on named clusters", target(site, ""), 0},
		{"a named tier beside a site's", target(site, site, ""), 0},
		{"no tiers left: by name", target(site), 3},
	} {
		if got := Place(tc.target, n); got != tc.want {
			t.Errorf("%s: Place = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestSplitHandsOverTheTargetsOfShardsHeld(t *testing.T) {
	targets := []reconciler.Target{target("cloud", ""), target("a", "a"), target("b", "b"), target("c", "c")}
	shardOf := map[string]int{"cloud": 0, "a": 1, "b": 2, "c": 1}
	for _, tc := range []struct {
		held         []bool
		mine, others []string
	}{
		{[]bool{false, false, false}, nil, []string{"cloud", "a", "b", "c"}},
		{[]bool{true, false, false}, []string{"cloud"}, []string{"a", "b", "c"}},
		{[]bool{false, true, false}, []string{"a", "c"}, []string{"cloud", "b"}},
		{[]bool{true, true, true}, []string{"cloud", "a", "b", "c"}, nil},
	} {
		mine, others := split(targets, shardOf, tc.held)
		if got := names(mine); !slices.Equal(got, tc.mine) {
			t.Errorf("held %v: mine %v, want %v", tc.held, got, tc.mine)
		}
		if got := names(others); !slices.Equal(got, tc.others) {
			t.Errorf("held %v: others %v, want %v", tc.held, got, tc.others)
		}
	}
}

func names(targets []reconciler.Target) []string {
	var out []string
	for _, t := range targets {
		out = append(out, t.Cluster)
	}
	return out
}

func TestObservedReadsTheHoldersRecords(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	tg := target("plant-a", "plant-a", "plant-a")
	record := func(tier, owner, revision, phase string) applyset.Record {
		return applyset.Record{Solution: "factory", Tier: tier, Owner: owner, Revision: revision, Phase: phase}
	}
	for _, tc := range []struct {
		name    string
		records []applyset.Record
		want    []string // tier phase final
	}{
		{"no parents yet: Pending", nil, nil},
		{"another instance's parents count for nothing",
			[]applyset.Record{record("tier-0", "other", "main@abc", "Ready")}, nil},
		{"Ready at the revision",
			[]applyset.Record{record("tier-0", "tandem", "main@abc", "Ready"), record("tier-1", "tandem", "main@abc", "Failed")},
			[]string{"tier-0 Ready final", "tier-1 Failed final"}},
		{"waiting for health at the revision",
			[]applyset.Record{record("tier-0", "tandem", "main@abc", "Progressing")},
			[]string{"tier-0 Progressing"}},
		{"an older revision: the holder is on its way",
			[]applyset.Record{record("tier-1", "tandem", "main@old", "Ready")},
			[]string{"tier-1 Progressing"}},
	} {
		var got []string
		for _, res := range observed(tg, tc.records, "tandem", "replica-b (shard 1)", now) {
			if res.Revision != "main@abc" || res.Cluster != "plant-a" {
				t.Errorf("%s: result %s at %s, want plant-a at main@abc", tc.name, res.Key, res.Revision)
			}
			s := res.Tier + " " + string(res.Phase)
			if !res.Finished.IsZero() {
				s += " final"
			}
			got = append(got, s)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// blockingResolver stands for clusters that take forever to reach: each
// resolution says it started and, once its context ends, that it was
// canceled.
type blockingResolver struct {
	started, canceled chan string
}

func (b blockingResolver) Resolve(ctx context.Context, cluster string) (*rest.Config, error) {
	b.started <- cluster
	<-ctx.Done()
	b.canceled <- cluster
	return nil, ctx.Err()
}

var _ clusters.Resolver = blockingResolver{}

// TestLosingAShardStopsItsWorkAtOnce runs the reconciler under an Applier
// and gains and loses shards as the Lease locks do: the work on a lost
// shard's cluster is canceled, the other shard's goes on.
func TestLosingAShardStopsItsWorkAtOnce(t *testing.T) {
	const n = 2
	first, second := clusterOn(t, 0, n), clusterOn(t, 1, n)
	res := blockingResolver{started: make(chan string, 4), canceled: make(chan string, 4)}
	a := New(reconciler.New(res, reconciler.Options{}), Config{Shards: n, Identity: "replica-a", LeaseDuration: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan reconciler.Result, 16)
	done := make(chan error)
	go func() { done <- a.inner.Run(ctx, results) }()
	defer func() {
		cancel()
		<-done
	}()
	a.SetTargets([]reconciler.Target{target(first, first), target(second, second)})

	gain := func(i int) {
		t.Helper()
		if _, ok := a.mayAcquire(i); !ok {
			t.Fatalf("may not acquire shard %d", i)
		}
		a.acquired(i, true)
	}
	expect := func(ch chan string, want, what string) {
		t.Helper()
		select {
		case got := <-ch:
			if got != want {
				t.Fatalf("%s %s, want %s", what, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: nothing for %s within 10s", what, want)
		}
	}
	gain(0)
	expect(res.started, first, "started reconciling")
	if _, owner := a.Placement(first); owner != "replica-a" {
		t.Errorf("owner of %s %q, want replica-a", first, owner)
	}
	a.own.grace = 0 // the second shard, at once
	gain(1)
	expect(res.started, second, "started reconciling")

	a.lost(0)
	expect(res.canceled, first, "canceled")
	if _, owner := a.Placement(first); owner != "" {
		t.Errorf("owner of %s after losing its shard %q, want none", first, owner)
	}
	select {
	case c := <-res.canceled:
		t.Fatalf("%s canceled too, its shard is still held", c)
	default:
	}
	a.lost(1)
	expect(res.canceled, second, "canceled")
}
