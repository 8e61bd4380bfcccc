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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// Watch follows the members of ApplySets on a cluster with metadata-only
// watches, one per (ApplySet, group-kind), each selecting the members by
// their part-of label, so that a pass knows without a request whether
// anything changed since it looked. It lives beside the connection it
// watches through, as WaitHealthy's watches do: it is how tandem sees a
// cluster, not a concept of its own.
//
// A change classify counts (by hand, or by a controller fighting tandem)
// and the deletion of a member tandem did not delete mark the ApplySet
// changed and are announced on Changes; a failing watch marks it changed
// too, unannounced, for a pass not to count on it. The watches keep
// the members slim (see slim): a few hundred bytes each. A Watch keeps the
// watches it starts running until Stop, which waits for them.
type Watch struct {
	conn    *Conn
	manager string
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	changes chan struct{}

	mu      sync.Mutex
	watches map[watched]*memberWatch
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

// watched is what one member watch follows.
type watched struct {
	id string
	gk schema.GroupKind
}

type memberWatch struct {
	// synced is closed once the members were listed.
	synced chan struct{}
	// failed is closed when the watch's list or watch fails before it
	// has listed once.
	failed   chan struct{}
	failOnce sync.Once
	stop     context.CancelFunc
}

// syncTimeout bounds how long a pass waits for a new member watch's first
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
		watches: map[watched]*memberWatch{}, seq: map[string]uint64{},
		pending: map[object.ObjMetadata]string{}, expected: map[types.UID]time.Time{}, writing: map[object.ObjMetadata]time.Time{}}
}

// Changes receives a value when a followed ApplySet changed since the
// last Take.
func (w *Watch) Changes() <-chan struct{} { return w.changes }

// Follow makes sure the members of the ApplySet id are followed in every
// group-kind of versions (the version to watch at, or "" for the
// server's preferred), waits until the watches it starts have listed
// them, and returns a Mark to tell later whether the ApplySet changed. A
// group-kind the cluster does not serve yet (its definition applied by the
// same pass) leaves the Mark incomplete.
//
// A watch that fails, or has not listed within syncTimeout, is
// stopped and leaves the Mark incomplete: the pass goes on without the
// watch, and its own list says what is wrong.
func (w *Watch) Follow(ctx context.Context, id string, versions map[schema.GroupKind]string) (Mark, error) {
	waits := map[watched]*memberWatch{}
	complete := true
	w.mu.Lock()
	for gk, version := range versions {
		key := watched{id, gk}
		if mw, ok := w.watches[key]; ok {
			waits[key] = mw
			continue
		}
		mapping, err := w.conn.mapper.RESTMapping(gk, version)
		if err != nil {
			complete = false
			continue
		}
		mw := w.start(key, mapping.Resource)
		w.watches[key] = mw
		waits[key] = mw
	}
	mark := Mark{seq: w.seq[id], complete: complete}
	w.mu.Unlock()
	timeout := time.NewTimer(syncTimeout)
	defer timeout.Stop()
	for key, mw := range waits {
		select {
		case <-mw.synced:
			continue
		case <-mw.failed:
		case <-timeout.C:
		case <-ctx.Done():
			return Mark{}, fmt.Errorf("watch members of ApplySet %s: %w", id, ctx.Err())
		}
		mark.complete = false
		w.mu.Lock()
		if w.watches[key] == mw {
			mw.stop()
			delete(w.watches, key)
		}
		w.mu.Unlock()
	}
	return mark, nil
}

// start runs a watch of the members of one ApplySet of one resource: a
// reflector that lists and then watches them into a memberStore, which
// tells each change as it arrives. A reflector alone, not an informer:
// the members need no queue, no indexer and no handlers of others, which
// would cost a fleet's every watch a ring buffer and a handful of
// goroutines.
func (w *Watch) start(key watched, gvr schema.GroupVersionResource) *memberWatch {
	selector := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: map[string]string{applyset.PartOfLabel: key.id}})
	resource := w.conn.metadata.Resource(gvr)
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return resource.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return resource.Watch(ctx, o)
		},
	}, w.conn.metadata)
	mw := &memberWatch{synced: make(chan struct{}), failed: make(chan struct{})}
	store := &memberStore{w: w, key: key, synced: mw.synced, members: map[string]*metav1.PartialObjectMetadata{}}
	r := cache.NewReflectorWithOptions(lw, &metav1.PartialObjectMetadata{}, store, cache.ReflectorOptions{
		Name: fmt.Sprintf("members of ApplySet %s on %s", key.id, w.conn.name), TypeDescription: gvr.String()})
	ctx, stop := context.WithCancel(w.ctx)
	mw.stop = stop
	w.wg.Go(func() {
		// As an informer runs its reflector: after a failure, list again
		// after a backoff that grows to half a minute, reset after two
		// minutes without one.
		delay := wait.Backoff{Duration: 800 * time.Millisecond, Factor: 2, Jitter: 1, Cap: 30 * time.Second}.
			DelayWithReset(clock.RealClock{}, 2*time.Minute)
		for ctx.Err() == nil {
			if err := r.ListAndWatchWithContext(ctx); err != nil && ctx.Err() == nil {
				w.watchFailed(key.id, mw)
			}
			select {
			case <-ctx.Done():
			case <-time.After(delay()):
			}
		}
	})
	return mw
}

// watchFailed notes that a member watch failed to list or broke off.
// What happened while it was down shows, once it lists again, as the
// changes since; until then no pass may count on it. Announcing the
// failure would set off a pass at every retry of a watch the cluster
// refuses.
func (w *Watch) watchFailed(id string, mw *memberWatch) {
	select {
	case <-mw.synced:
	default:
		mw.failOnce.Do(func() { close(mw.failed) })
	}
	w.mu.Lock()
	w.seq[id]++
	w.mu.Unlock()
	w.conn.traffic.watchRestarted(w.conn.name)
}

// memberStore keeps the members of one ApplySet of one resource as the
// reflector lists and watches them, slim, and tells each change classify
// counts, and each deletion tandem did not expect, to its Watch. Only its
// reflector calls it, one call at a time.
type memberStore struct {
	w      *Watch
	key    watched
	synced chan struct{}
	// members are by namespace/name.
	members map[string]*metav1.PartialObjectMetadata
}

var _ cache.ReflectorStore = (*memberStore)(nil)

func memberKey(m *metav1.PartialObjectMetadata) string { return m.Namespace + "/" + m.Name }

func (s *memberStore) objectOf(m *metav1.PartialObjectMetadata) object.ObjMetadata {
	return object.ObjMetadata{Namespace: m.Namespace, Name: m.Name, GroupKind: s.key.gk}
}

// metadataOf returns the member a reflector hands its store, out of its
// tombstone if it is one.
func (s *memberStore) metadataOf(obj any) (*metav1.PartialObjectMetadata, error) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return nil, fmt.Errorf("watch %s: got %T, want metadata", s.key.gk, obj)
	}
	return m, nil
}

// put stores a member listed or watched, and tells whether it changed. A
// member the first list shows is where changes start from.
func (s *memberStore) put(m *metav1.PartialObjectMetadata, initial bool) {
	m = slim(m, s.w.manager)
	old, known := s.members[memberKey(m)]
	s.members[memberKey(m)] = m
	if !known && initial {
		return
	}
	switch classify(old, m, s.w.manager) {
	case changedByOthers:
		s.w.changed(s.key.id, s.objectOf(m))
	case lostFieldsOnly:
		if !s.w.wroteLately(s.objectOf(m)) {
			s.w.changed(s.key.id, s.objectOf(m))
		}
	}
}

// gone forgets a member, and tells its deletion unless tandem expected it.
func (s *memberStore) gone(m *metav1.PartialObjectMetadata) {
	delete(s.members, memberKey(m))
	s.w.mu.Lock()
	_, own := s.w.expected[m.UID]
	delete(s.w.expected, m.UID)
	s.w.mu.Unlock()
	if !own {
		s.w.changed(s.key.id, s.objectOf(m))
	}
}

func (s *memberStore) Add(obj any) error { return s.Update(obj) }

func (s *memberStore) Update(obj any) error {
	m, err := s.metadataOf(obj)
	if err != nil {
		return err
	}
	s.put(m, false)
	return nil
}

func (s *memberStore) Delete(obj any) error {
	m, err := s.metadataOf(obj)
	if err != nil {
		return err
	}
	if known, ok := s.members[memberKey(m)]; ok {
		m = known
	}
	s.gone(m)
	return nil
}

// Replace takes a list of the members: the first, from which changes are
// told, or one after the watch broke off, whose differences from what was
// known are the changes meanwhile.
func (s *memberStore) Replace(list []any, _ string) error {
	initial := false
	select {
	case <-s.synced:
	default:
		initial = true
	}
	listed := make(map[string]bool, len(list))
	for _, obj := range list {
		m, err := s.metadataOf(obj)
		if err != nil {
			return err
		}
		s.put(m, initial)
		listed[memberKey(m)] = true
	}
	for k, m := range s.members {
		if !listed[k] {
			s.gone(m)
		}
	}
	if initial {
		close(s.synced)
	}
	return nil
}

// Resync does nothing: the reflector runs with no resync period.
func (s *memberStore) Resync() error { return nil }

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
	for key, mw := range w.watches {
		if !slices.Contains(ids, key.id) {
			mw.stop()
			delete(w.watches, key)
		}
	}
}

// Stop stops every member watch and waits for them to end.
func (w *Watch) Stop() {
	w.stop()
	w.wg.Wait()
}
