package shard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	typedcoordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/renderer"
)

// Inner applies the targets of the shards a replica holds;
// *reconciler.Reconciler is one.
type Inner interface {
	Run(ctx context.Context, results chan<- reconciler.Result) error
	SetTargets(targets []reconciler.Target)
}

// Config configures an Applier.
type Config struct {
	// Shards is how many shards the fleet is split into.
	Shards int
	// Identity names this replica in the Leases it holds and in status.
	Identity string
	// Leases reaches the cluster holding the shard Leases, named
	// LeaseName(LeaseName, i) in Namespace.
	Leases    typedcoordinationv1.LeasesGetter
	Namespace string
	LeaseName string
	// LeaseDuration, RenewDeadline and RetryPeriod are the elections'
	// timing, as in client-go's leaderelection. LeaseDuration is also the
	// grace period of the rule that spreads the shards across replicas
	// (see ownership).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Resolver reaches the clusters of shards this replica does not hold,
	// to read their ApplySet parents; ObserveInterval is how often it
	// reads them, besides whenever the targets change.
	Resolver        clusters.Resolver
	ObserveInterval time.Duration
	// Instance is the tandem instance whose parents count.
	Instance string
	// Logger receives the shards' comings and goings; slog.Default().
	Logger *slog.Logger
}

// Applier is an Applier of the daemon for one replica of several: it hands
// the inner applier the targets of the shards this replica holds, and
// sends, for the others, results read from their clusters' ApplySet
// parents, as the replica holding them recorded them there.
//
// Reading the parents, rather than asking the other replicas, keeps the
// clusters the only state replicas share: no replica needs to find or
// reach another, and a wave gates on what the sites say they run. A
// parent records a revision once a pass applied it in full and found it
// healthy, and that is the moment a site counts towards its wave.
type Applier struct {
	inner Inner
	cfg   Config
	log   *slog.Logger
	// observe wakes the observer when the targets change.
	observe chan struct{}

	// released is set once the inner applier has returned: only then may
	// an elector give a Lease back. Before, a Lease the elector fails to
	// renew is left to expire, which it does only after the elector has
	// stopped leading and this replica has stopped the shard's work.
	released atomic.Bool

	mu      sync.Mutex
	own     *ownership
	targets []reconciler.Target
	shardOf map[string]int
}

// New returns an Applier that applies through inner the targets of the
// shards it holds.
func New(inner Inner, cfg Config) *Applier {
	cfg.Shards = max(cfg.Shards, 1)
	cfg.ObserveInterval = cmp.Or(cfg.ObserveInterval, 10*time.Second)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Applier{
		inner:   inner,
		cfg:     cfg,
		log:     log.With("replica", cfg.Identity),
		observe: make(chan struct{}, 1),
		own:     newOwnership(cfg.Shards, cfg.Identity, cfg.LeaseDuration),
		shardOf: map[string]int{},
	}
}

// Run competes for every shard's Lease, runs the inner applier and reads
// the parents of the clusters of other shards until ctx ends. It releases
// the Leases it holds, for the other replicas to take at once, only once
// the inner applier has returned, so that no write to a shard's clusters
// outlives holding its Lease.
func (a *Applier) Run(ctx context.Context, results chan<- reconciler.Result) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	leases, release := context.WithCancel(context.WithoutCancel(ctx))
	defer release()
	var electors errgroup.Group
	for i := range a.cfg.Shards {
		electors.Go(func() error {
			err := a.compete(leases, i)
			if err != nil {
				cancel()
			}
			return err
		})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.inner.Run(gctx, results) })
	g.Go(func() error { return a.observeOthers(gctx, results) })
	err := g.Wait()
	a.released.Store(true)
	release()
	return errors.Join(err, electors.Wait())
}

// SetTargets replaces what every cluster should run; the inner applier is
// given those of the shards this replica holds, and the parents of the
// others' clusters are read at once.
func (a *Applier) SetTargets(targets []reconciler.Target) {
	a.mu.Lock()
	a.targets = targets
	clear(a.shardOf)
	for _, t := range targets {
		a.shardOf[t.Cluster] = Place(t, a.cfg.Shards)
	}
	a.handOver()
	a.mu.Unlock()
	a.wakeObserver()
}

// wakeObserver has the parents of the clusters of other shards read now.
func (a *Applier) wakeObserver() {
	select {
	case a.observe <- struct{}{}:
	default:
	}
}

// Identity names this replica.
func (a *Applier) Identity() string { return a.cfg.Identity }

// Placement returns the shard of cluster and the replica last seen
// holding it: this one, another, or "" when none is known.
func (a *Applier) Placement(cluster string) (shard int, owner string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, ok := a.shardOf[cluster]
	if !ok {
		i = Of(cluster, a.cfg.Shards)
	}
	return i, a.own.holder[i]
}

// Place returns the shard of a target: 0 for a cluster that runs a tier
// on named clusters (the cloud), which stays with the replica holding the
// first shard, and Of its name for a site's. The rendered objects say
// which: those rendered for a site carry renderer.LabelSite.
func Place(t reconciler.Target, shards int) int {
	for _, ts := range t.Tiers {
		for _, o := range ts.Objects {
			if o.GetLabels()[renderer.LabelSite] == "" {
				return 0
			}
		}
	}
	return Of(t.Cluster, shards)
}

// split returns the targets of the shards held, and the others.
func split(targets []reconciler.Target, shardOf map[string]int, held []bool) (mine, others []reconciler.Target) {
	for _, t := range targets {
		if held[shardOf[t.Cluster]] {
			mine = append(mine, t)
		} else {
			others = append(others, t)
		}
	}
	return mine, others
}

// handOver gives the inner applier the targets of the shards held now;
// it stops reconciling, at once, the clusters of shards no longer held.
// The caller holds a.mu, so that hand-overs happen in the order ownership
// changes.
func (a *Applier) handOver() {
	mine, _ := split(a.targets, a.shardOf, a.own.held)
	a.inner.SetTargets(mine)
}

func (a *Applier) saw(i int, holder string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.own.saw(i, holder)
}

// mayAcquire says whether the elector of shard i may write its Lease, and
// whether to renew it.
func (a *Applier) mayAcquire(i int) (renew, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.own.held[i] {
		return true, true
	}
	return false, a.own.mayAcquire(i, time.Now())
}

// acquired ends an acquisition of shard i: when it succeeded, this
// replica starts reconciling the shard's clusters.
func (a *Applier) acquired(i int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.own.acquired(i, ok)
	if ok {
		a.log.Info("shard acquired", "shard", i, "lease", LeaseName(a.cfg.LeaseName, i), "shards", a.heldShards())
		a.handOver()
	}
}

// lost stops reconciling the clusters of shard i, whose status is read
// from their parents from now on.
func (a *Applier) lost(i int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.own.held[i] {
		return
	}
	a.own.lost(i)
	a.handOver()
	a.log.Info("shard lost", "shard", i, "lease", LeaseName(a.cfg.LeaseName, i), "shards", a.heldShards())
	a.wakeObserver()
}

func (a *Applier) heldShards() []int {
	var held []int
	for i, h := range a.own.held {
		if h {
			held = append(held, i)
		}
	}
	return held
}

// holderOf says who applies cluster, for messages.
func (a *Applier) holderOf(cluster string) string {
	i, holder := a.Placement(cluster)
	return fmt.Sprintf("%s (shard %d)", cmp.Or(holder, "no replica yet"), i)
}
