package reconciler

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

// Options configures a Reconciler. Zero values take the defaults below.
type Options struct {
	// FieldManager owns the applied fields; "tandem".
	FieldManager string
	// Version of tandem, recorded in the ApplySet tooling annotation as
	// tandem/v<Version>; "0.0.0".
	Version string
	// Instance names the tandem that owns what this Reconciler applies,
	// recorded on every ApplySet parent it writes; it passes over no
	// parent another instance owns. "tandem".
	Instance string
	// TakeOver lets the Reconciler claim the (solution, tier)s it renders
	// from whichever instance owns them on a cluster.
	TakeOver bool
	// Concurrency bounds how many clusters are read or written at once:
	// connecting, listing, applying and pruning a tier each hold one of
	// Concurrency slots, waiting for health holds none; 16.
	Concurrency int
	// HealthTimeout bounds the wait for applied objects to become
	// healthy, unless a tier set gives its own; 5 minutes.
	HealthTimeout time.Duration
	// DriftInterval is how often Run re-checks every tier of a cluster in
	// full, listing its members and re-applying what drifted, whatever
	// its watch says; 30 minutes. Between full re-checks, the watch of the
	// cluster's ApplySets sets off a pass within moments of a change.
	DriftInterval time.Duration
	// RetryInterval is Run's first delay after a failed pass of a cluster,
	// doubling on each further failure up to MaxRetryInterval; 10 seconds
	// and 5 minutes.
	RetryInterval    time.Duration
	MaxRetryInterval time.Duration
	// RequestTimeout bounds each request to a cluster whose configuration
	// sets no timeout; 30 seconds.
	RequestTimeout time.Duration
	// Logger receives a line per pass of a tier; slog.Default().
	Logger *slog.Logger
	// Traffic counts the requests sent to each cluster and the restarts
	// of its watches; nil counts nothing.
	Traffic *clusters.Traffic
}

func (o Options) withDefaults() Options {
	o.FieldManager = cmp.Or(o.FieldManager, "tandem")
	o.Version = cmp.Or(o.Version, "0.0.0")
	o.Instance = cmp.Or(o.Instance, "tandem")
	o.Concurrency = cmp.Or(o.Concurrency, 16)
	o.HealthTimeout = cmp.Or(o.HealthTimeout, 5*time.Minute)
	o.DriftInterval = cmp.Or(o.DriftInterval, 30*time.Minute)
	o.RetryInterval = cmp.Or(o.RetryInterval, 10*time.Second)
	o.MaxRetryInterval = cmp.Or(o.MaxRetryInterval, 5*time.Minute)
	o.RequestTimeout = cmp.Or(o.RequestTimeout, 30*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Reconciler applies tier sets to clusters and keeps them applied.
type Reconciler struct {
	resolver clusters.Resolver
	opts     Options
	slots    slots

	mu       sync.Mutex
	clusters map[string]*cluster
	targets  map[string]Target
	wake     map[string]chan struct{}
	changed  chan struct{}
}

// New returns a Reconciler that reaches clusters through resolver.
func New(resolver clusters.Resolver, opts Options) *Reconciler {
	opts = opts.withDefaults()
	return &Reconciler{
		resolver: resolver,
		opts:     opts,
		slots:    make(slots, opts.Concurrency),
		clusters: make(map[string]*cluster),
		targets:  make(map[string]Target),
		wake:     make(map[string]chan struct{}),
		changed:  make(chan struct{}, 1),
	}
}

// Apply reconciles every target once, clusters concurrently, and returns a
// result per (cluster, solution, tier), sorted by Key. Reading and writing
// a cluster holds one of the configured slots, waiting for health none. A
// cluster that fails or cannot be reached fails alone. When progress is not
// nil, every result is sent on it as it happens, as Run sends them; Apply
// does not close it.
func (r *Reconciler) Apply(ctx context.Context, targets []Target, progress chan<- Result) []Result {
	results := eachCluster(targets, func(t Target) []Result { return r.reconcileCluster(ctx, ctx, t, progress, passMode{}) })
	sortResults(results)
	return results
}

// eachCluster runs pass over every target concurrently and gathers what
// the passes return.
func eachCluster[T any](targets []Target, pass func(Target) []T) []T {
	var mu sync.Mutex
	var out []T
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() {
			res := pass(t)
			mu.Lock()
			out = append(out, res...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func sortResults(results []Result) {
	slices.SortFunc(results, func(a, b Result) int { return a.Key.Compare(b.Key) })
}

// cutShort reports whether a pass was stopped from outside: ctx canceled,
// on shutdown, or waitCtx, by a newer target for the cluster. A deadline is
// no such stop; what it cut short is a failure.
func cutShort(ctx, waitCtx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled) || errors.Is(waitCtx.Err(), context.Canceled)
}

// finish logs a final result and sends it on out. A pass that did not get
// to Ready because ctx was canceled, as on shutdown, or waitCtx, by a
// newer target for the cluster, is abandoned rather than failed: it is
// logged and otherwise left out, so whoever reads the results keeps the
// last real outcome, or the Progressing one, for the next pass to improve
// on.
func (r *Reconciler) finish(ctx, waitCtx context.Context, res Result, out chan<- Result) Result {
	if res.Phase != PhaseReady && cutShort(ctx, waitCtx) {
		reason := "shutdown"
		if ctx.Err() == nil {
			reason = "superseded by a newer target"
		}
		r.opts.Logger.Info("reconcile abandoned", "cluster", res.Cluster, "solution", res.Solution,
			"tier", res.Tier, "revision", res.Revision, "reason", reason)
		return res
	}
	c := res.Counts()
	level := slog.LevelInfo
	if res.Phase != PhaseReady {
		level = slog.LevelError
	}
	r.opts.Logger.Log(context.Background(), level, "reconciled",
		"cluster", res.Cluster, "solution", res.Solution, "tier", res.Tier, "revision", res.Revision,
		"phase", res.Phase, "message", res.Message,
		"created", c.Created, "configured", c.Configured, "unchanged", c.Unchanged,
		"deleted", c.Deleted, "skipped", c.Skipped, "corrected", res.Corrected,
		"duration", res.Finished.Sub(res.Started).Round(time.Millisecond))
	send(ctx, out, res)
	return res
}

// send hands res to out, if there is one, unless ctx ends first.
func send(ctx context.Context, out chan<- Result, res Result) {
	if out == nil {
		return
	}
	select {
	case out <- res:
	case <-ctx.Done():
	}
}

// connection returns the cluster's connection, making one when there is
// none or when its configuration changed.
func (r *Reconciler) connection(ctx context.Context, name string) (*cluster, error) {
	cfg, err := r.resolver.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	old, ok := r.clusters[name]
	if ok && old.MadeFrom(cfg) {
		r.mu.Unlock()
		return old, nil
	}
	conn, err := clusters.Connect(name, cfg, clusters.Options{FieldManager: r.opts.FieldManager, RequestTimeout: r.opts.RequestTimeout, Traffic: r.opts.Traffic})
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	c := &cluster{Conn: conn}
	r.clusters[name] = c
	r.mu.Unlock()
	if ok {
		old.stopWatch()
	}
	return c, nil
}

// forget drops a cluster's connection, and the watch through it, so the
// next pass resolves it again and rediscovers its API.
func (r *Reconciler) forget(name string) {
	r.mu.Lock()
	c := r.clusters[name]
	delete(r.clusters, name)
	r.mu.Unlock()
	if c != nil {
		c.stopWatch()
	}
}
