package reconciler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tandem-gitops/tandem/renderer"
)

// Options configures a Reconciler. Zero values take the defaults below.
type Options struct {
	// FieldManager owns the applied fields; "tandem".
	FieldManager string
	// Version of tandem, recorded in the ApplySet tooling annotation as
	// tandem/v<Version>; "0.0.0".
	Version string
	// Concurrency bounds how many clusters reconcile at once; 4.
	Concurrency int
	// HealthTimeout bounds the wait for applied objects to become
	// healthy; 5 minutes.
	HealthTimeout time.Duration
	// PollInterval is how often health is polled; 2 seconds.
	PollInterval time.Duration
	// DriftInterval is how often Run re-applies an unchanged revision to
	// undo drift; 5 minutes.
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
	// Observe, when set, receives every result as it happens: Progressing
	// while a tier waits for health, then the final one. It is called from
	// several goroutines at once.
	Observe func(Result)
}

func (o Options) withDefaults() Options {
	o.FieldManager = cmp.Or(o.FieldManager, "tandem")
	o.Version = cmp.Or(o.Version, "0.0.0")
	o.Concurrency = cmp.Or(o.Concurrency, 4)
	o.HealthTimeout = cmp.Or(o.HealthTimeout, 5*time.Minute)
	o.PollInterval = cmp.Or(o.PollInterval, 2*time.Second)
	o.DriftInterval = cmp.Or(o.DriftInterval, 5*time.Minute)
	o.RetryInterval = cmp.Or(o.RetryInterval, 10*time.Second)
	o.MaxRetryInterval = cmp.Or(o.MaxRetryInterval, 5*time.Minute)
	o.RequestTimeout = cmp.Or(o.RequestTimeout, 30*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Observe == nil {
		o.Observe = func(Result) {}
	}
	return o
}

// Reconciler applies tier sets to clusters and keeps them applied.
type Reconciler struct {
	resolver Resolver
	opts     Options
	sem      chan struct{}

	mu       sync.Mutex
	clusters map[string]*cluster
	targets  map[string]Target
	wake     map[string]chan struct{}
	changed  chan struct{}
	status   map[[3]string]Result
}

// New returns a Reconciler that reaches clusters through resolver.
func New(resolver Resolver, opts Options) *Reconciler {
	opts = opts.withDefaults()
	return &Reconciler{
		resolver: resolver,
		opts:     opts,
		sem:      make(chan struct{}, opts.Concurrency),
		clusters: make(map[string]*cluster),
		targets:  make(map[string]Target),
		wake:     make(map[string]chan struct{}),
		changed:  make(chan struct{}, 1),
		status:   make(map[[3]string]Result),
	}
}

// Apply reconciles every target once, clusters concurrently up to the
// configured bound, and returns a result per (cluster, solution, tier),
// sorted. A cluster that fails or cannot be reached fails alone.
func (r *Reconciler) Apply(ctx context.Context, targets []Target) []Result {
	results := eachCluster(ctx, r.sem, targets, r.reconcileCluster)
	sortResults(results)
	return results
}

// eachCluster runs pass over every target, clusters concurrently while
// holding a slot of sem, and gathers what the passes return. A target whose
// turn has not come when ctx ends is left out.
func eachCluster[T any](ctx context.Context, sem chan struct{}, targets []Target, pass func(context.Context, Target) []T) []T {
	var mu sync.Mutex
	var out []T
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			res := pass(ctx, t)
			<-sem
			mu.Lock()
			out = append(out, res...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// SetTargets replaces what every cluster should run. Run reconciles at once
// the clusters whose tier sets changed and those new to it, and stops
// reconciling clusters it leaves out. A cluster given what it had keeps its
// pace: its drift interval, or its backoff after failures.
func (r *Reconciler) SetTargets(targets []Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	before := r.targets
	r.targets = make(map[string]Target, len(targets))
	for _, t := range targets {
		r.targets[t.Cluster] = t
		if old, ok := before[t.Cluster]; ok && sameTarget(old, t) {
			continue
		}
		if w, ok := r.wake[t.Cluster]; ok {
			select {
			case w <- struct{}{}:
			default:
			}
		}
	}
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// sameTarget reports whether two targets of a cluster ask for the same:
// the same tier sets, at the same revisions, with the same dependencies and
// objects, and the same solutions allowed to be empty.
func sameTarget(a, b Target) bool {
	return slices.Equal(a.AllowEmpty, b.AllowEmpty) && slices.EqualFunc(a.Tiers, b.Tiers, func(x, y TierSet) bool {
		return x.Solution == y.Solution && x.Tier == y.Tier && x.Revision == y.Revision &&
			slices.Equal(x.DependsOn, y.DependsOn) &&
			slices.EqualFunc(x.Objects, y.Objects, func(o, p *unstructured.Unstructured) bool {
				return o == p || reflect.DeepEqual(o.Object, p.Object)
			})
	})
}

// Run keeps every cluster of the targets reconciled until ctx ends: at once
// when its targets change, every DriftInterval after a pass that left it
// Ready, and with exponential backoff after a pass that did not.
func (r *Reconciler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	stops := make(map[string]context.CancelFunc)
	defer func() {
		for _, stop := range stops {
			stop()
		}
		wg.Wait()
	}()
	for {
		r.mu.Lock()
		for name := range r.targets {
			if _, ok := stops[name]; ok {
				continue
			}
			wake := make(chan struct{}, 1)
			r.wake[name] = wake
			wctx, stop := context.WithCancel(ctx)
			stops[name] = stop
			wg.Go(func() { r.keep(wctx, name, wake) })
		}
		for name, stop := range stops {
			if _, ok := r.targets[name]; !ok {
				stop()
				delete(stops, name)
				delete(r.wake, name)
			}
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.changed:
		}
	}
}

// keep reconciles one cluster until ctx ends. Only Run ends keepers: a
// cluster whose target is gone, because Run has yet to see it go or it is
// coming back, waits for a wake-up.
func (r *Reconciler) keep(ctx context.Context, name string, wake <-chan struct{}) {
	failures := 0
	for {
		r.mu.Lock()
		t, ok := r.targets[name]
		r.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-wake:
				continue
			}
		}
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		results := r.reconcileCluster(ctx, t)
		<-r.sem
		if ctx.Err() != nil {
			return
		}

		delay := r.opts.DriftInterval
		if allReady(results) {
			failures = 0
		} else {
			failures++
			delay = backoff(r.opts.RetryInterval, r.opts.MaxRetryInterval, failures)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// backoff returns the delay before the next attempt after failures
// consecutive failed passes.
func backoff(initial, limit time.Duration, failures int) time.Duration {
	d := initial
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

func allReady(results []Result) bool {
	for _, res := range results {
		if res.Phase != PhaseReady {
			return false
		}
	}
	return true
}

// Status returns the latest result of every (cluster, solution, tier),
// sorted.
func (r *Reconciler) Status() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	results := make([]Result, 0, len(r.status))
	for _, res := range r.status {
		results = append(results, res)
	}
	sortResults(results)
	return results
}

func sortResults(results []Result) {
	slices.SortFunc(results, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Solution, b.Solution), cmp.Compare(a.Tier, b.Tier))
	})
}

// reconcileCluster runs one pass over a cluster: every tier once its
// dependencies are Ready, independent tiers concurrently.
func (r *Reconciler) reconcileCluster(ctx context.Context, t Target) []Result {
	started := time.Now()
	cp, err := r.openCluster(ctx, t)
	if err != nil {
		phase := PhaseFailed
		if isUnreachable(err) {
			phase = PhaseUnreachable
		}
		results := make([]Result, len(t.Tiers))
		for i, ts := range t.Tiers {
			results[i] = r.finish(ctx, Result{Cluster: t.Cluster, Solution: ts.Solution, Tier: ts.Tier, Revision: ts.Revision,
				Phase: phase, Message: err.Error(), ChangeSet: ssa.NewChangeSet(),
				Started: started, Finished: time.Now()})
		}
		return results
	}

	results := make([]Result, len(cp.tiers))
	done := make([]chan struct{}, len(cp.tiers))
	for i := range done {
		done[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, ts := range cp.tiers {
		wg.Go(func() {
			defer close(done[i])
			err := cmp.Or(cp.errs[i], waitFor(ctx, cp.tiers, cp.deps[i], done, results))
			res := Result{Cluster: t.Cluster, Solution: ts.Solution, Tier: ts.Tier, Revision: ts.Revision,
				ChangeSet: ssa.NewChangeSet(), Started: time.Now()}
			if err != nil {
				res.Phase, res.Message, res.Finished = PhaseFailed, err.Error(), time.Now()
				results[i] = r.finish(ctx, res)
				return
			}
			p := cp.tierPass(i, &r.opts)
			p.result = res
			results[i] = r.finish(ctx, p.run(ctx))
		})
	}
	wg.Wait()
	for _, res := range results {
		if res.Phase == PhaseUnreachable {
			r.forget(t.Cluster)
			break
		}
	}
	return results
}

// clusterPass is where a pass over a cluster starts from, whether it
// applies or plans: the connection, the ApplySet parents found there, and
// the tier sets to pass over, with one for each tier the render dropped.
type clusterPass struct {
	cluster *cluster
	tiers   []TierSet
	// removed marks the tier sets of dropped tiers.
	removed []bool
	// allowEmpty says per solution whether its tiers may prune their
	// last objects.
	allowEmpty map[string]bool
	parentOf   map[string]*corev1.Secret
	// rendered holds every object the tier sets render.
	rendered map[object.ObjMetadata]bool
	// deps are the indexes of the tier sets each waits for, and errs
	// the dependency cycles that keep tier sets from going on at all.
	deps [][]int
	errs []error
}

// openCluster connects to a target's cluster and reads its ApplySet
// parents. A cluster it cannot reach is forgotten, to be resolved afresh.
func (r *Reconciler) openCluster(ctx context.Context, t Target) (*clusterPass, error) {
	c, err := r.connection(ctx, t.Cluster)
	var parents []corev1.Secret
	if err == nil {
		parents, err = c.listParents(ctx)
	}
	if err != nil {
		if isUnreachable(err) {
			r.forget(t.Cluster)
		}
		return nil, fmt.Errorf("cluster %s: %w", t.Cluster, err)
	}
	tiers, removed := withRemovedTiers(t.Tiers, parents)
	parentOf := make(map[string]*corev1.Secret, len(parents))
	for i := range parents {
		parentOf[parents[i].Name] = &parents[i]
	}
	rendered := make(map[object.ObjMetadata]bool)
	for _, ts := range t.Tiers {
		for _, obj := range ts.Objects {
			rendered[c.key(obj)] = true
		}
	}
	deps, errs := dependencies(tiers)
	return &clusterPass{cluster: c, tiers: tiers, removed: removed, allowEmpty: emptyAllowed(t),
		parentOf: parentOf, rendered: rendered, deps: deps, errs: errs}, nil
}

// tierPass returns the pass over the i-th tier set.
func (cp *clusterPass) tierPass(i int, opts *Options) *tierPass {
	ts := cp.tiers[i]
	name := ParentName(ts.Solution, ts.Tier)
	return &tierPass{
		opts:       opts,
		cluster:    cp.cluster,
		set:        ts,
		allowEmpty: cp.allowEmpty[ts.Solution],
		removed:    cp.removed[i],
		rendered:   cp.rendered,
		parentName: name,
		id:         ApplySetID(name),
		parent:     cp.parentOf[name],
		log:        opts.Logger.With("cluster", cp.cluster.name, "solution", ts.Solution, "tier", ts.Tier, "revision", ts.Revision),
	}
}

// waitFor waits until the tiers at deps are done and says why not to go on
// if one of them is not Ready.
func waitFor(ctx context.Context, tiers []TierSet, deps []int, done []chan struct{}, results []Result) error {
	for _, d := range deps {
		select {
		case <-done[d]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if results[d].Phase != PhaseReady {
			return fmt.Errorf("dependency %s is %s; not applied", tiers[d].Tier, results[d].Phase)
		}
	}
	return nil
}

// withRemovedTiers adds an empty tier set for each tandem parent of a
// (solution, tier) the target no longer has, to prune what the tier left
// behind; removed marks those. Such a tier set is at its solution's
// revision, or at the parent's last one when the target has nothing of the
// solution.
func withRemovedTiers(tiers []TierSet, parents []corev1.Secret) ([]TierSet, []bool) {
	revision := make(map[string]string)
	wanted := make(map[[2]string]bool)
	for _, t := range tiers {
		revision[t.Solution] = t.Revision
		wanted[[2]string{t.Solution, t.Tier}] = true
	}
	all := slices.Clone(tiers)
	removed := make([]bool, len(tiers))
	for _, p := range parents {
		sol, tier := p.Labels[renderer.LabelSolution], p.Labels[renderer.LabelTier]
		if sol == "" || tier == "" || wanted[[2]string{sol, tier}] || p.Name != ParentName(sol, tier) ||
			!ownedByTandem(p.Annotations[ToolingAnnotation]) {
			continue
		}
		rev := cmp.Or(revision[sol], p.Annotations[RevisionAnnotation])
		all = append(all, TierSet{Solution: sol, Tier: tier, Revision: rev})
		removed = append(removed, true)
	}
	return all, removed
}

// emptyAllowed says per solution whether its tiers may prune their last
// objects: when the solution still renders objects for the cluster, or when
// the target allows it an empty render.
func emptyAllowed(t Target) map[string]bool {
	allowed := make(map[string]bool)
	for _, ts := range t.Tiers {
		if len(ts.Objects) > 0 {
			allowed[ts.Solution] = true
		}
	}
	for _, sol := range t.AllowEmpty {
		allowed[sol] = true
	}
	return allowed
}

// finish records a final result, logs it and hands it to the observer.
// A pass that did not get to Ready because ctx was canceled, as on shutdown,
// is abandoned rather than failed: it is logged and otherwise left out, so
// the status keeps the last real outcome for the next run to improve on.
func (r *Reconciler) finish(ctx context.Context, res Result) Result {
	if res.Phase != PhaseReady && errors.Is(ctx.Err(), context.Canceled) {
		r.opts.Logger.Info("reconcile abandoned", "cluster", res.Cluster, "solution", res.Solution,
			"tier", res.Tier, "revision", res.Revision)
		return res
	}
	r.mu.Lock()
	r.status[[3]string{res.Cluster, res.Solution, res.Tier}] = res
	r.mu.Unlock()
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
	r.opts.Observe(res)
	return res
}

// connection returns the cluster's connection, making one when there is
// none or when its configuration changed.
func (r *Reconciler) connection(ctx context.Context, name string) (*cluster, error) {
	cfg, err := r.resolver.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clusters[name]; ok && c.madeFrom(cfg) {
		return c, nil
	}
	c, err := connect(name, cfg, &r.opts)
	if err != nil {
		return nil, err
	}
	r.clusters[name] = c
	return c, nil
}

// forget drops a cluster's connection, so the next pass resolves it again
// and rediscovers its API.
func (r *Reconciler) forget(name string) {
	r.mu.Lock()
	delete(r.clusters, name)
	r.mu.Unlock()
}
