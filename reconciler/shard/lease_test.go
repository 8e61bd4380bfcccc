package shard

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/tandem-gitops/tandem/reconciler"
)

// fakeLease is one Lease in memory; conflict makes the next write fail as
// when another replica wrote first.
type fakeLease struct {
	record   *resourcelock.LeaderElectionRecord
	conflict bool
	writes   int
}

func (f *fakeLease) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	if f.record == nil {
		return nil, nil, apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "tandem-shard-0")
	}
	rec := *f.record
	return &rec, []byte(rec.HolderIdentity), nil
}

func (f *fakeLease) write(_ context.Context, rec resourcelock.LeaderElectionRecord) error {
	if f.conflict {
		f.conflict = false
		return errors.New("the object has been modified")
	}
	f.writes++
	f.record = &rec
	return nil
}

func (f *fakeLease) Create(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	return f.write(ctx, rec)
}

func (f *fakeLease) Update(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	return f.write(ctx, rec)
}

func (*fakeLease) RecordEvent(string) {}
func (*fakeLease) Identity() string   { return "replica-a" }
func (*fakeLease) Describe() string   { return "tandem-system/tandem-shard-0" }

// recordingInner records the clusters it was last given.
type recordingInner struct{ clusters []string }

func (*recordingInner) Run(ctx context.Context, _ chan<- reconciler.Result) error {
	<-ctx.Done()
	return ctx.Err()
}

func (r *recordingInner) SetTargets(targets []reconciler.Target) { r.clusters = names(targets) }

// TestLockGatesAcquisitionsAndRenewsHeldShards drives two shards' locks as
// electors do: reads note the holders, an acquisition the spread rule
// refuses writes nothing, a held shard's renewals always go through, and
// every acquisition hands the shard's clusters over.
func TestLockGatesAcquisitionsAndRenewsHeldShards(t *testing.T) {
	ctx := context.Background()
	inner := &recordingInner{}
	a := New(inner, Config{Shards: 2, Identity: "replica-a", LeaseDuration: time.Hour})
	first, second := clusterOn(t, 0, 2), clusterOn(t, 1, 2)
	a.SetTargets([]reconciler.Target{target(first, first), target(second, second)})
	leases := []*fakeLease{{}, {}}
	locks := []*lock{{Interface: leases[0], shard: 0, a: a}, {Interface: leases[1], shard: 1, a: a}}
	me := resourcelock.LeaderElectionRecord{HolderIdentity: "replica-a"}

	// Another replica wins the race for shard 0: nothing is held.
	leases[0].conflict = true
	locks[0].Get(ctx)
	if err := locks[0].Create(ctx, me); err == nil {
		t.Fatal("a conflicting write succeeded")
	}
	if len(inner.clusters) != 0 {
		t.Fatalf("clusters %v handed over after a lost race", inner.clusters)
	}

	// Shard 0 free again: taken, its cluster handed over.
	locks[0].Get(ctx)
	if err := locks[0].Create(ctx, me); err != nil {
		t.Fatal(err)
	}
	if want := []string{first}; !slices.Equal(inner.clusters, want) {
		t.Fatalf("clusters %v handed over, want %v", inner.clusters, want)
	}

	// Shard 1 is free, but this replica holds one: the write waits.
	locks[1].Get(ctx)
	if err := locks[1].Create(ctx, me); !errors.Is(err, errSpread) || leases[1].writes != 0 {
		t.Fatalf("acquiring a second shard at once: %v, %d writes; want it refused", err, leases[1].writes)
	}
	// Renewing the shard held goes through, however many it holds.
	for range 3 {
		if err := locks[0].Update(ctx, me); err != nil {
			t.Fatalf("renewal refused: %v", err)
		}
	}

	// Another replica holds shard 1, then dies: its shard is taken at once.
	leases[1].record = &resourcelock.LeaderElectionRecord{HolderIdentity: "replica-b"}
	locks[1].Get(ctx)
	if _, owner := a.Placement(second); owner != "replica-b" {
		t.Errorf("owner of %s %q, want replica-b", second, owner)
	}
	if err := locks[1].Update(ctx, me); err != nil {
		t.Fatalf("taking over a dead replica's shard: %v", err)
	}
	if want := []string{first, second}; !slices.Equal(inner.clusters, want) {
		t.Fatalf("clusters %v handed over, want %v", inner.clusters, want)
	}
	a.lost(1)
	if want := []string{first}; !slices.Equal(inner.clusters, want) {
		t.Fatalf("clusters %v after losing shard 1, want %v", inner.clusters, want)
	}
}
