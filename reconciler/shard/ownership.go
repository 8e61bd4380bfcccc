package shard

import "time"

// ownership is what one replica knows of the shards: which it holds, which
// it is acquiring, who it last saw holding the others, and since when it
// has found each free one takeable. The Applier's lock guards it.
//
// Shards spread across replicas by one rule, applied as a replica's
// elector is about to acquire a shard's Lease:
//
//   - a shard this replica saw held by another, whose Lease has expired
//     (that replica died or lost its connection) or was released (it
//     stopped), is taken at once by whichever replica gets there first, so
//     that a dead replica's sites are back within a lease duration and a
//     retry period, a stopped one's within a retry period;
//   - a shard this replica never saw held (its Lease not created yet, or
//     released before this replica started) is taken at once by a replica
//     holding none, and by one holding k shards only once it has found it
//     free for k grace periods, so that replicas starting within a grace
//     period of one another share the shards instead of the first taking
//     them all.
//
// Nothing rebalances shards that are held: a replica started after the
// others hold every shard stands by until one is free.
type ownership struct {
	identity string
	grace    time.Duration
	// held and acquiring are the shards this replica holds and the ones
	// it is writing the Lease of to acquire them.
	held, acquiring []bool
	// holder is the last holder seen of each shard's Lease, "" for none.
	holder []string
	// takeover marks the shards this replica saw held by another since
	// it last held them.
	takeover []bool
	// free is when this replica first found each shard takeable, since
	// it last saw it held.
	free []time.Time
}

func newOwnership(shards int, identity string, grace time.Duration) *ownership {
	return &ownership{
		identity:  identity,
		grace:     grace,
		held:      make([]bool, shards),
		acquiring: make([]bool, shards),
		holder:    make([]string, shards),
		takeover:  make([]bool, shards),
		free:      make([]time.Time, shards),
	}
}

// saw notes the holder a read of shard i's Lease found: "" when the Lease
// does not exist or was released.
func (o *ownership) saw(i int, holder string) {
	o.holder[i] = holder
	if holder != "" && holder != o.identity {
		o.takeover[i], o.free[i] = true, time.Time{}
	}
}

// count is how many shards this replica holds or is acquiring.
func (o *ownership) count() int {
	n := 0
	for i := range o.held {
		if o.held[i] || o.acquiring[i] {
			n++
		}
	}
	return n
}

// mayAcquire says whether this replica may write shard i's Lease at now,
// to renew it or to acquire it as the spread rule allows; it counts an
// acquisition it allows as under way until acquired reports its end.
func (o *ownership) mayAcquire(i int, now time.Time) bool {
	if o.held[i] {
		return true
	}
	k := o.count()
	if !o.takeover[i] && k > 0 {
		if o.free[i].IsZero() {
			o.free[i] = now
		}
		if now.Sub(o.free[i]) < time.Duration(k)*o.grace {
			return false
		}
	}
	o.acquiring[i] = true
	return true
}

// acquired ends an acquisition of shard i that mayAcquire allowed: ok
// when the Lease was written, so this replica holds the shard.
func (o *ownership) acquired(i int, ok bool) {
	o.acquiring[i] = false
	if ok {
		o.held[i], o.holder[i], o.takeover[i], o.free[i] = true, o.identity, false, time.Time{}
	}
}

// lost notes that this replica no longer holds shard i.
func (o *ownership) lost(i int) {
	o.held[i], o.acquiring[i] = false, false
	if o.holder[i] == o.identity {
		o.holder[i] = ""
	}
}
