package shard

import (
	"testing"
	"time"
)

// TestOwnershipSpreadsShards plays sequences of Lease reads and writes
// through one replica's bookkeeping and checks which acquisitions the
// spread rule allows.
func TestOwnershipSpreadsShards(t *testing.T) {
	const grace = 10 * time.Second
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	type step struct {
		saw     string // the holder a read of the shard's Lease found, "-" for no read
		shard   int
		at      time.Duration
		want    bool // mayAcquire's answer
		written bool // whether the write succeeds, when allowed
	}
	for _, tc := range []struct {
		name  string
		steps []step
		held  []bool
	}{{
		name: "a replica holding nothing takes a free shard at once",
		steps: []step{
			{saw: "", shard: 1, want: true, written: true},
		},
		held: []bool{false, true, false},
	}, {
		name: "an acquisition under way counts: the second free shard waits a grace period",
		steps: []step{
			{saw: "", shard: 0, want: true, written: true},
			{saw: "", shard: 1, at: time.Second, want: false},
			{saw: "-", shard: 1, at: grace, want: false},
			{saw: "-", shard: 1, at: grace + time.Second, want: true, written: true},
		},
		held: []bool{true, true, false},
	}, {
		name: "holding two, a free shard waits two grace periods",
		steps: []step{
			{saw: "", shard: 0, want: true, written: true},
			{saw: "", shard: 1, want: false},
			{saw: "-", shard: 1, at: grace, want: true, written: true},
			{saw: "", shard: 2, at: grace, want: false},
			{saw: "-", shard: 2, at: 2*grace + time.Second, want: false},
			{saw: "-", shard: 2, at: 3 * grace, want: true, written: true},
		},
		held: []bool{true, true, true},
	}, {
		name: "a shard another replica held is taken over at once once its Lease expires",
		steps: []step{
			{saw: "", shard: 0, want: true, written: true},
			{saw: "replica-b", shard: 1, at: time.Second, want: true, written: true},
		},
		held: []bool{true, true, false},
	}, {
		name: "a shard released by a replica seen holding it is taken at once",
		steps: []step{
			{saw: "", shard: 0, want: true, written: true},
			{saw: "", shard: 2, at: time.Second, want: false},
			{saw: "replica-b", shard: 2, at: 2 * time.Second},
			{saw: "", shard: 2, at: 3 * time.Second, want: true, written: true},
		},
		held: []bool{true, false, true},
	}, {
		name: "a shard taken over counts: a free one waits after it",
		steps: []step{
			{saw: "replica-b", shard: 1},
			{saw: "", shard: 1, want: true, written: true},
			{saw: "", shard: 0, want: false},
		},
		held: []bool{false, true, false},
	}, {
		name: "a write another replica won leaves the shard to it and counts nothing",
		steps: []step{
			{saw: "", shard: 0, want: true, written: false},
			{saw: "", shard: 1, at: time.Second, want: true, written: true},
		},
		held: []bool{false, true, false},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOwnership(3, "replica-a", grace)
			for n, s := range tc.steps {
				if s.saw != "-" {
					o.saw(s.shard, s.saw)
				}
				if s.saw != "" && s.saw != "-" && !s.want && !s.written {
					continue // only a read
				}
				if got := o.mayAcquire(s.shard, t0.Add(s.at)); got != s.want {
					t.Fatalf("step %d: mayAcquire(shard %d) at +%s = %v, want %v", n, s.shard, s.at, got, s.want)
				}
				if s.want {
					o.acquired(s.shard, s.written)
				}
			}
			for i, want := range tc.held {
				if o.held[i] != want {
					t.Errorf("shard %d held = %v, want %v", i, o.held[i], want)
				}
				if o.acquiring[i] {
					t.Errorf("shard %d still counted as being acquired", i)
				}
			}
		})
	}
}

// TestOwnershipNamesHolders checks the holder status reports for each
// shard: the one last seen, this replica while it holds the shard, nobody
// once it lost it.
func TestOwnershipNamesHolders(t *testing.T) {
	o := newOwnership(2, "replica-a", time.Second)
	o.saw(0, "replica-b")
	if !o.mayAcquire(1, time.Now()) {
		t.Fatal("a replica holding nothing may not take a free shard")
	}
	o.acquired(1, true)
	if got := o.holder; got[0] != "replica-b" || got[1] != "replica-a" {
		t.Fatalf("holders %q, want [replica-b replica-a]", got)
	}
	o.lost(1)
	o.saw(0, "")
	if got := o.holder; got[0] != "" || got[1] != "" {
		t.Fatalf("holders after the shards went %q, want none", got)
	}
	if o.count() != 0 {
		t.Fatalf("count %d after losing every shard", o.count())
	}
}
