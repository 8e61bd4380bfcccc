package clusters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
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

// start runs a watch of the members of one ApplySet of one resource in
// one goroutine: it lists them, then follows their changes from the
// list's resource version, decoding each event as it arrives. Neither an
// informer nor a reflector: the members need no queue, indexer or
// resync, and a reflector's goroutines beside the stream's, for each
// watch of each kind of each site, were most of what a fleet's watches
// cost.
func (w *Watch) start(key watched, gvr schema.GroupVersionResource) *memberWatch {
	mw := &memberWatch{synced: make(chan struct{}), failed: make(chan struct{})}
	store := &memberStore{w: w, key: key, synced: mw.synced, members: map[string]*metav1.PartialObjectMetadata{}}
	ctx, stop := context.WithCancel(w.ctx)
	mw.stop = stop
	w.wg.Go(func() {
		// As an informer runs its reflector: after a failure, list again
		// after a backoff that grows to half a minute, reset after two
		// minutes without one. Made at the first failure: most watches
		// never fail.
		var delay func() time.Duration
		for ctx.Err() == nil {
			if err := w.follow(ctx, store, gvr); err != nil && ctx.Err() == nil {
				w.watchFailed(key.id, mw)
			}
			if delay == nil {
				delay = wait.Backoff{Duration: 800 * time.Millisecond, Factor: 2, Jitter: 1, Cap: 30 * time.Second}.
					DelayWithReset(clock.RealClock{}, 2*time.Minute)
			}
			select {
			case <-ctx.Done():
			case <-time.After(delay()):
			}
		}
	})
	return mw
}

// follow lists the members of store's ApplySet of gvr, then follows
// their changes until the watch fails or ctx ends. A watch the server
// ends, at the timeout it was opened with, opens again from the last
// resource version seen, without a list.
func (w *Watch) follow(ctx context.Context, s *memberStore, gvr schema.GroupVersionResource) error {
	list, err := w.conn.metadata.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: s.selector()})
	if err != nil {
		return fmt.Errorf("list %s: %w", gvr.Resource, err)
	}
	s.replace(list.Items)
	version := list.ResourceVersion
	for {
		if version, err = w.watchFrom(ctx, s, gvr, version); err != nil {
			return fmt.Errorf("watch %s: %w", gvr.Resource, err)
		}
	}
}

// watchTimeout is how long the server keeps a member watch open: five to
// ten minutes, as a reflector asks, spreading the reopenings of a fleet's
// watches over time.
var watchTimeout = func() time.Duration { return 5*time.Minute + rand.N(5*time.Minute) }

// shortWatch is how soon a watch that ends without an event counts as
// failed, as a reflector counts it: a server, or something on the way,
// that ends every watch at once would otherwise have it opened again
// and again without a pause.
const shortWatch = time.Second

// watchFrom watches the members of store's ApplySet of gvr from the
// resource version since, hands each change to s, and returns the last
// resource version seen when the server ends the watch. An error event,
// a resource version too old among them, ends it with the error, as does
// an end within shortWatch without an event.
func (w *Watch) watchFrom(ctx context.Context, s *memberStore, gvr schema.GroupVersionResource, since string) (string, error) {
	opened := time.Now()
	timeout := int(watchTimeout() / time.Second)
	path := []string{"/apis", gvr.Group, gvr.Version}
	if gvr.Group == "" {
		path = []string{"/api", gvr.Version}
	}
	body, err := w.conn.raw.Get().AbsPath(append(path, gvr.Resource)...).
		Param("watch", "true").
		Param("labelSelector", s.selector()).
		Param("resourceVersion", since).
		Param("allowWatchBookmarks", "true").
		Param("timeoutSeconds", strconv.Itoa(timeout)).
		SetHeader("Accept", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1").
		Stream(ctx)
	if err != nil {
		return since, err
	}
	defer body.Close()
	events := eventReader{body: body}
	for seen := 0; ; seen++ {
		var event metav1.WatchEvent
		err := events.next(&event)
		if errors.Is(err, io.EOF) && seen == 0 && time.Since(opened) < shortWatch {
			return since, fmt.Errorf("the server ended the watch after %s, without an event", time.Since(opened).Round(time.Millisecond))
		}
		if errors.Is(err, io.EOF) {
			return since, nil
		}
		if err != nil {
			return since, err
		}
		if watch.EventType(event.Type) == watch.Error {
			var status metav1.Status
			if err := json.Unmarshal(event.Object.Raw, &status); err != nil {
				return since, fmt.Errorf("decode error event: %w", err)
			}
			return since, apierrors.FromObject(&status)
		}
		var m metav1.PartialObjectMetadata
		if err := json.Unmarshal(event.Object.Raw, &m); err != nil {
			return since, fmt.Errorf("decode %s event: %w", event.Type, err)
		}
		since = m.ResourceVersion
		switch watch.EventType(event.Type) {
		case watch.Added, watch.Modified:
			s.put(&m, false)
		case watch.Deleted:
			s.delete(&m)
		}
	}
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

// memberStore keeps the members of one ApplySet of one resource as its
// watch lists and follows them, slim, and tells each change classify
// counts, and each deletion tandem did not expect, to its Watch. Only its
// watch's goroutine calls it.
type memberStore struct {
	w      *Watch
	key    watched
	synced chan struct{}
	// members are by namespace/name.
	members map[string]*metav1.PartialObjectMetadata
}

func memberKey(m *metav1.PartialObjectMetadata) string { return m.Namespace + "/" + m.Name }

// selector selects the members of the store's ApplySet.
func (s *memberStore) selector() string {
	return metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: map[string]string{applyset.PartOfLabel: s.key.id}})
}

func (s *memberStore) objectOf(m *metav1.PartialObjectMetadata) object.ObjMetadata {
	return object.ObjMetadata{Namespace: m.Namespace, Name: m.Name, GroupKind: s.key.gk}
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

// delete forgets a member, and tells its deletion unless tandem expected
// it.
func (s *memberStore) delete(m *metav1.PartialObjectMetadata) {
	if known, ok := s.members[memberKey(m)]; ok {
		m = known
	}
	delete(s.members, memberKey(m))
	s.w.mu.Lock()
	_, own := s.w.expected[m.UID]
	delete(s.w.expected, m.UID)
	s.w.mu.Unlock()
	if !own {
		s.w.changed(s.key.id, s.objectOf(m))
	}
}

// replace takes a list of the members: the first, from which changes are
// told, or one after the watch broke off, whose differences from what was
// known are the changes meanwhile.
func (s *memberStore) replace(list []metav1.PartialObjectMetadata) {
	initial := false
	select {
	case <-s.synced:
	default:
		initial = true
	}
	listed := make(map[string]bool, len(list))
	for i := range list {
		s.put(&list[i], initial)
		listed[memberKey(&list[i])] = true
	}
	for k, m := range s.members {
		if !listed[k] {
			s.delete(m)
		}
	}
	if initial {
		close(s.synced)
	}
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
