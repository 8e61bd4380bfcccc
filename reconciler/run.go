package reconciler

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

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
	r.notify()
}

// notify tells Run to look at the targets again.
func (r *Reconciler) notify() {
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
// when its targets change, within moments of a change its watch sees to an
// object of its ApplySets, in full every DriftInterval after a pass that
// left it Ready, and with exponential backoff after a pass that did not.
// It sends every result on results as it happens, from the passes of
// several clusters at once: Progressing while a tier waits for health,
// then the final one. Its owner reads results until Run returns; Run does
// not close it.
func (r *Reconciler) Run(ctx context.Context, results chan<- Result) error {
	var wg sync.WaitGroup
	type keeper struct {
		stop context.CancelFunc
		done chan struct{}
	}
	keepers := make(map[string]keeper)
	// ending holds the keepers told to stop that have not yet: a cluster
	// coming back waits for its old keeper, so that one cluster never has
	// two, and never two owners of its watch.
	ending := make(map[string]chan struct{})
	defer func() {
		for _, k := range keepers {
			k.stop()
		}
		wg.Wait()
	}()
	for {
		r.mu.Lock()
		for name := range r.targets {
			if _, ok := keepers[name]; ok {
				continue
			}
			if done, ok := ending[name]; ok {
				select {
				case <-done:
					delete(ending, name)
				default:
					continue // Run is told when it has ended
				}
			}
			wake := make(chan struct{}, 1)
			r.wake[name] = wake
			wctx, stop := context.WithCancel(ctx)
			k := keeper{stop: stop, done: make(chan struct{})}
			keepers[name] = k
			wg.Go(func() {
				defer close(k.done)
				r.keep(wctx, name, wake, results)
			})
		}
		for name, k := range keepers {
			if _, ok := r.targets[name]; !ok {
				k.stop()
				delete(keepers, name)
				delete(r.wake, name)
				ending[name] = k.done
				wg.Go(func() {
					<-k.done
					r.notify()
				})
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

// keep reconciles one cluster until ctx ends, and owns the watch of its
// ApplySets, which it stops on the way out. Only Run ends keepers: a
// cluster whose target is gone, because Run has yet to see it go or it is
// coming back, waits for a wake-up. A wake-up during a pass preempts it:
// the pass stops waiting, for a slot, a dependency or health, keeps what it
// applied, and the next pass starts at once with the new target.
func (r *Reconciler) keep(ctx context.Context, name string, wake <-chan struct{}, out chan<- Result) {
	defer r.unwatch(name)
	failures := 0
	fl := flaps{limit: r.opts.MaxRetryInterval}
	// The first pass knows nothing to skip: it is a full one.
	mode := passMode{watch: true, full: true}
	var lastFull time.Time
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
		began := time.Now()
		results, preempted := r.preemptible(ctx, wake, t, out, mode)
		if ctx.Err() != nil {
			return
		}
		fl.passed(time.Now(), correctedObjects(results))
		if mode.full && !preempted {
			lastFull = began
		}
		mode = passMode{watch: true}
		if preempted {
			continue
		}

		// Passes the watch sets off do not put off the full re-check.
		delay := r.opts.DriftInterval - time.Since(lastFull)
		if allReady(results) {
			failures = 0
		} else {
			failures++
			delay = backoff(r.opts.RetryInterval, r.opts.MaxRetryInterval, failures)
		}
		if !r.await(ctx, name, wake, delay, &fl, &mode) {
			return
		}
	}
}

// await waits for the next pass over a cluster: a wake-up, delay, or a
// change the cluster's watch saw, gathered for debounce and held back for
// objects that keep being changed back (reported once in mode). When
// delay runs out first, the pass is a full re-check: every tier, whatever
// the watch says. It returns false when ctx ended.
func (r *Reconciler) await(ctx context.Context, name string, wake <-chan struct{}, delay time.Duration, fl *flaps, mode *passMode) bool {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var changes <-chan struct{}
	w := r.changesOf(name)
	if w != nil {
		changes = w.Changes()
	}
	var due <-chan time.Time
	var dueAt time.Time
	for {
		select {
		case <-ctx.Done():
			return false
		case <-wake:
			return true
		case <-timer.C:
			mode.full = true
			return true
		case <-due:
			return true
		case <-changes:
			now := time.Now()
			taken := w.Take()
			keys := changedKeys(taken)
			wait, report := fl.changed(keys, now)
			if len(keys) > 0 {
				r.opts.Logger.Debug("changed on the cluster", "cluster", name, "objects", subjectsOf(keys), "pass in", wait.Round(time.Millisecond))
			}
			for id, subjects := range contestedByID(report, taken) {
				if mode.contested == nil {
					mode.contested = map[string][]string{}
				}
				mode.contested[id] = append(mode.contested[id], subjects...)
				r.opts.Logger.Warn("changed back after every correction; backing off", "cluster", name,
					"objects", subjects, "delay", wait.Round(time.Millisecond))
			}
			if at := now.Add(wait); due == nil || at.Before(dueAt) {
				dueAt = at
				due = time.After(wait)
			}
		}
	}
}

// preemptible runs a pass over the cluster that a wake-up cuts short, and
// reports whether one did.
func (r *Reconciler) preemptible(ctx context.Context, wake <-chan struct{}, t Target, out chan<- Result, mode passMode) ([]Result, bool) {
	waitCtx, preempt := context.WithCancel(ctx)
	defer preempt()
	woken := make(chan bool, 1)
	passDone := make(chan struct{})
	go func() {
		select {
		case <-wake:
			preempt()
			woken <- true
		case <-passDone:
			woken <- false
		}
	}()
	results := r.reconcileCluster(ctx, waitCtx, t, out, mode)
	close(passDone)
	return results, <-woken
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
