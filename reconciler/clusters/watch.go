package clusters

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// Watch follows the members of ApplySets on a cluster with metadata-only
// informers, one per (ApplySet, group-kind), each selecting the members by
// their part-of label, so that a pass knows without a request whether
// anything changed since it looked. It lives beside the connection it
// watches through, as WaitHealthy's watches do: it is how tandem sees a
// cluster, not a concept of its own.
//
// A change classify counts (by hand, or by a controller fighting tandem)
// and the deletion of a member tandem did not delete mark the ApplySet
// changed and are announced on Changes; a failing watch marks it changed
// too, unannounced, for a pass not to count on it. The informers keep
// the members slim (see slim): a few hundred bytes each. A Watch keeps the
// informers it starts running until Stop, which waits for them.
type Watch struct {
	conn    *Conn
	manager string
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	changes chan struct{}

	mu        sync.Mutex
	informers map[watched]*memberInformer
	// seq counts the changes of each ApplySet; a Mark remembers it.
	seq map[string]uint64
	// pending holds the changed members not yet taken, with the ApplySet
	// of each.
	pending map[object.ObjMetadata]string
	// expected are the members tandem deletes or orphans, whose
	// disappearance is its own doing, with when it said so.
	expected map[types.UID]time.Time
	// writing are the members tandem writes, with when it said so.
	writing map[object.ObjMetadata]time.Time
}

// watched is what one informer follows.
type watched struct {
	id string
	gk schema.GroupKind
}

type memberInformer struct {
	gvr    schema.GroupVersionResource
	synced cache.DoneChecker
	// failed is closed when the informer's list or watch fails before it
	// has listed once.
	failed   chan struct{}
	failOnce sync.Once
	stop     context.CancelFunc
}

// syncTimeout bounds how long a pass waits for a new informer's first
// list: one the cluster refuses (no list permission, a definition gone,
// the site unreachable) retries for ever and would hold the pass, and its
// concurrency slot, as long.
const syncTimeout = 30 * time.Second

// Mark is where an ApplySet's changes stood when a pass began to look at
// it.
type Mark struct {
	seq uint64
	// complete is whether every group-kind of the ApplySet was followed,
	// from before the pass listed it.
	complete bool
}

// Watch returns a Watch of the cluster that follows nothing yet; changes
// by manager's writes are tandem's own.
func (c *Conn) Watch(manager string) *Watch {
	ctx, stop := context.WithCancel(context.Background())
	return &Watch{conn: c, manager: manager, ctx: ctx, stop: stop, changes: make(chan struct{}, 1),
		informers: map[watched]*memberInformer{}, seq: map[string]uint64{},
		pending: map[object.ObjMetadata]string{}, expected: map[types.UID]time.Time{}, writing: map[object.ObjMetadata]time.Time{}}
}

// Changes receives a value when a followed ApplySet changed since the
// last Take.
func (w *Watch) Changes() <-chan struct{} { return w.changes }

// Follow makes sure the members of the ApplySet id are followed in every
// group-kind of versions (the version to watch at, or "" for the
// server's preferred), waits until the informers it starts have listed
// them, and returns a Mark to tell later whether the ApplySet changed. A
// group-kind the cluster does not serve yet (its definition applied by the
// same pass) leaves the Mark incomplete.
//
// An informer that fails, or has not listed within syncTimeout, is
// stopped and leaves the Mark incomplete: the pass goes on without the
// watch, and its own list says what is wrong.
func (w *Watch) Follow(ctx context.Context, id string, versions map[schema.GroupKind]string) (Mark, error) {
	waits := map[watched]*memberInformer{}
	complete := true
	w.mu.Lock()
	for gk, version := range versions {
		key := watched{id, gk}
		if inf, ok := w.informers[key]; ok {
			waits[key] = inf
			continue
		}
		mapping, err := w.conn.mapper.RESTMapping(gk, version)
		if err != nil {
			complete = false
			continue
		}
		inf, err := w.start(key, mapping.Resource)
		if err != nil {
			w.mu.Unlock()
			return Mark{}, err
		}
		w.informers[key] = inf
		waits[key] = inf
	}
	mark := Mark{seq: w.seq[id], complete: complete}
	w.mu.Unlock()
	timeout := time.NewTimer(syncTimeout)
	defer timeout.Stop()
	for key, inf := range waits {
		select {
		case <-inf.synced.Done():
			continue
		case <-inf.failed:
		case <-timeout.C:
		case <-ctx.Done():
			return Mark{}, fmt.Errorf("watch members of ApplySet %s: %w", id, ctx.Err())
		}
		mark.complete = false
		w.mu.Lock()
		if w.informers[key] == inf {
			inf.stop()
			delete(w.informers, key)
		}
		w.mu.Unlock()
	}
	return mark, nil
}

// start runs an informer of the members of one ApplySet of one resource.
func (w *Watch) start(key watched, gvr schema.GroupVersionResource) (*memberInformer, error) {
	selector := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: map[string]string{applyset.PartOfLabel: key.id}})
	inf := metadatainformer.NewFilteredMetadataInformer(w.conn.metadata, gvr, metav1.NamespaceAll, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = selector }).Informer()
	if err := inf.SetTransform(func(obj any) (any, error) {
		if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
			return slim(m, w.manager), nil
		}
		return obj, nil
	}); err != nil {
		return nil, fmt.Errorf("watch %s: %w", gvr.GroupResource(), err)
	}
	mi := &memberInformer{gvr: gvr, failed: make(chan struct{})}
	if err := inf.SetWatchErrorHandler(func(_ *cache.Reflector, _ error) {
		if !inf.HasSynced() {
			mi.failOnce.Do(func() { close(mi.failed) })
		}
		// What happened while the watch was down shows, once it lists
		// again, as the changes since; until then no pass may count on
		// it. Announcing the failure would set off a pass at every retry
		// of a watch the cluster refuses.
		w.mu.Lock()
		w.seq[key.id]++
		w.mu.Unlock()
		w.conn.traffic.watchRestarted(w.conn.name)
	}); err != nil {
		return nil, fmt.Errorf("watch %s: %w", gvr.GroupResource(), err)
	}
	member := func(obj any) (*metav1.PartialObjectMetadata, object.ObjMetadata) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return nil, object.ObjMetadata{}
		}
		return m, object.ObjMetadata{Namespace: m.Namespace, Name: m.Name, GroupKind: key.gk}
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if m, k := member(obj); m != nil && !initial && classify(nil, m, w.manager) != unchanged {
				w.changed(key.id, k)
			}
		},
		UpdateFunc: func(old, obj any) {
			o, _ := member(old)
			m, k := member(obj)
			if m == nil || o == nil {
				return
			}
			switch classify(o, m, w.manager) {
			case changedByOthers:
				w.changed(key.id, k)
			case lostFieldsOnly:
				if !w.wroteLately(k) {
					w.changed(key.id, k)
				}
			}
		},
		DeleteFunc: func(obj any) {
			m, k := member(obj)
			if m == nil {
				return
			}
			w.mu.Lock()
			_, own := w.expected[m.UID]
			delete(w.expected, m.UID)
			w.mu.Unlock()
			if !own {
				w.changed(key.id, k)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", gvr.GroupResource(), err)
	}
	ctx, stop := context.WithCancel(w.ctx)
	w.wg.Go(func() { inf.RunWithContext(ctx) })
	mi.synced, mi.stop = reg.HasSyncedChecker(), stop
	return mi, nil
}

// changed records a change of the member key of the ApplySet id, and
// announces it.
func (w *Watch) changed(id string, key object.ObjMetadata) {
	w.mu.Lock()
	w.seq[id]++
	w.pending[key] = id
	w.mu.Unlock()
	select {
	case w.changes <- struct{}{}:
	default:
	}
}

// Unchanged reports whether the ApplySet id is as it was at mark: every
// group-kind followed since before the pass that took it listed them,
// and no change since.
func (w *Watch) Unchanged(id string, mark Mark) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return mark.complete && w.seq[id] == mark.seq
}

// Take returns the members changed since the last Take, with the ApplySet
// of each, and forgets them.
func (w *Watch) Take() map[object.ObjMetadata]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	taken := w.pending
	w.pending = map[object.ObjMetadata]string{}
	return taken
}

// Expect says that tandem is about to delete the member uid, or remove it
// from its ApplySet: that it disappears from the watch is no change. An
// expectation no event met within expectFor, a member already gone, is
// dropped.
func (w *Watch) Expect(uid types.UID) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	forgetOlder(w.expected, now.Add(-expectFor))
	w.expected[uid] = now
}

// forgetOlder deletes the entries of m noted before since.
func forgetOlder[K comparable](m map[K]time.Time, since time.Time) {
	maps.DeleteFunc(m, func(_ K, at time.Time) bool { return at.Before(since) })
}

// expectFor bounds how long Expect waits for the event it expects.
const expectFor = time.Minute

// Writing says that tandem is about to apply the members keys. A write
// that moves no managed-fields time, a second's resolution being all
// there is, and only takes fields from tandem's entry is taken for
// tandem's own, dropping fields it no longer sets, within writeFor of
// it; otherwise it is a removal by hand.
func (w *Watch) Writing(keys []object.ObjMetadata) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	forgetOlder(w.writing, now.Add(-writeFor))
	for _, k := range keys {
		w.writing[k] = now
	}
}

// writeFor bounds how long after Writing a write is taken for tandem's.
const writeFor = 5 * time.Second

// wroteLately reports whether tandem said it writes key within writeFor.
func (w *Watch) wroteLately(key object.ObjMetadata) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.writing[key]
	return ok && time.Since(at) <= writeFor
}

// Keep stops following the ApplySets not in ids: those of tiers the
// cluster no longer runs.
func (w *Watch) Keep(ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, inf := range w.informers {
		if !slices.Contains(ids, key.id) {
			inf.stop()
			delete(w.informers, key)
		}
	}
}

// Stop stops every informer and waits for them to end.
func (w *Watch) Stop() {
	w.stop()
	w.wg.Wait()
}
