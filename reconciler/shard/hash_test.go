package shard

import (
	"fmt"
	"testing"
)

// TestOfIsStable pins the shard of a few names: replicas of different
// versions must agree on where every cluster goes, so the function may
// never change.
func TestOfIsStable(t *testing.T) {
	for _, tc := range []struct {
		cluster string
		shards  int
		want    int
	}{
		{"plant-berlin", 3, 1},
		{"plant-berlin", 4, 3},
		{"plant-munich", 3, 2},
		{"site-000", 12, 10},
		{"site-001", 3, 0},
		{"site-002", 4, 3},
		{"cloud", 12, 7},
		{"anything", 1, 0},
		{"anything", 0, 0},
		{"anything", -2, 0},
	} {
		if got := Of(tc.cluster, tc.shards); got != tc.want {
			t.Errorf("Of(%q, %d) = %d, want %d", tc.cluster, tc.shards, got, tc.want)
		}
	}
}

// TestOfBalancesAFleet spreads fleets of numbered sites, named as fleets
// name them, over a few shard counts: no shard gets more than 20 % over or
// under its fair share.
func TestOfBalancesAFleet(t *testing.T) {
	for _, tc := range []struct {
		format string
		shards int
	}{
		{"site-%04d", 3},
		{"plant-%d", 4},
		{"edge-%d.factory.example", 7},
		{"store-%05d", 16},
	} {
		const sites = 10000
		counts := make([]int, tc.shards)
		for i := range sites {
			counts[Of(fmt.Sprintf(tc.format, i), tc.shards)]++
		}
		fair := sites / tc.shards
		for s, n := range counts {
			if n < fair*8/10 || n > fair*12/10 {
				t.Errorf("%s over %d shards: shard %d has %d sites, fair share %d", tc.format, tc.shards, s, n, fair)
			}
		}
	}
}

// TestOfMovesFewClustersWhenShardsGrow adds a shard: only clusters that
// go to the new shard move, about one in n+1 of them.
func TestOfMovesFewClustersWhenShardsGrow(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 8} {
		const sites = 5000
		moved := 0
		for i := range sites {
			name := fmt.Sprintf("site-%d", i)
			before, after := Of(name, n), Of(name, n+1)
			if before == after {
				continue
			}
			moved++
			if after != n {
				t.Fatalf("%s moved from shard %d to %d, not to the new shard %d", name, before, after, n)
			}
		}
		if want := sites / (n + 1); moved < want*8/10 || moved > want*12/10 {
			t.Errorf("%d → %d shards moved %d of %d sites, want about %d", n, n+1, moved, sites, want)
		}
	}
}
