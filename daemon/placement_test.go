package daemon

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/sources"
)

// placedApplier holds the shard of plant-a only; another replica holds
// the rest.
type placedApplier struct{ fakeApplier }

func (*placedApplier) Identity() string { return "replica-a" }

func (*placedApplier) Placement(cluster string) (int, string) {
	switch cluster {
	case "plant-a":
		return 1, "replica-a"
	case "plant-b":
		return 2, ""
	}
	return 0, "replica-b"
}

func TestStatusNamesTheReplicaHoldingEachTarget(t *testing.T) {
	a := &placedApplier{}
	d := New(Config{Source: fakeSource{make(chan sources.Revision, 1)}, Trees: trees{"a1": fixtures.SmartFactory()}, Applier: a,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	d.follow(context.Background(), revisionAt("a1"))
	d.publish()
	st := d.Status()
	if st.Replica != "replica-a" {
		t.Errorf("replica %q, want replica-a", st.Replica)
	}
	if len(st.Targets) == 0 {
		t.Fatal("no targets")
	}
	want := map[string]struct {
		shard int
		owner string
	}{"cloud": {0, "replica-b"}, "plant-a": {1, "replica-a"}, "plant-b": {2, ""}, "plant-c": {0, "replica-b"}}
	for _, ts := range st.Targets {
		w := want[ts.Cluster]
		if ts.Shard == nil || *ts.Shard != w.shard || ts.Owner != w.owner {
			t.Errorf("%s/%s on %s: shard %v owner %q, want %d %q", ts.Solution, ts.Tier, ts.Cluster, ts.Shard, ts.Owner, w.shard, w.owner)
		}
	}
	if again := d.published.Load(); len(again.Targets) > 0 && again.Targets[0].Shard != nil {
		t.Error("Status wrote the placement into the published status, which readers share")
	}
}
