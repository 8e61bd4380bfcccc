// Package shard splits a fleet's clusters across replicas of "tandem
// serve". Each of N shards is a Lease; a replica reconciles the clusters of
// the shards whose Leases it holds and reads, from their ApplySet parents,
// how the other clusters stand, so that rollout waves gate on every site
// whichever replica applies it.
package shard

import (
	"hash/fnv"
	"strconv"
)

// Of returns the shard, of shards, that a site's cluster belongs to, by
// rendezvous (highest random weight) hashing: every shard index is scored
// with FNV-1a over the cluster name and the index, and the highest score
// wins. The function is stable, it depends on nothing but its arguments,
// and when shards grows from n to n+1 only the clusters the new shard wins,
// about one in n+1, move. shards below 1 counts as 1.
func Of(cluster string, shards int) int {
	best, bestScore := 0, uint64(0)
	for i := range max(shards, 1) {
		if s := score(cluster, i); i == 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// score is the weight of shard i for cluster, mixed so that the names of
// a fleet, which share long prefixes, spread evenly.
func score(cluster string, i int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(cluster))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(i)))
	return mix(h.Sum64())
}

// mix is the finaliser of SplitMix64: FNV's low bits depend on the last
// bytes written and little on the rest, mix spreads every bit over all.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
