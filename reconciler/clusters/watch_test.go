package clusters

import (
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/e2e/testbed"
	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

func TestWatchAnnouncesChangesByHandAndNotTandemsOwnWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(t, testbed.Options{Names: []string{"watch"}})
	ctx := context.Background()
	conn, err := Connect("watch", f.Cluster("watch").RESTConfig(), Options{FieldManager: "tandem", RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	kube := conn.Client()
	id := applyset.ID(applyset.ParentName("watch", "edge"))
	member := func(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: fields}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		u.SetLabels(map[string]string{applyset.PartOfLabel: id})
		return u
	}
	objects := func(mode string) []*unstructured.Unstructured {
		labels := map[string]any{"app": "inference"}
		return []*unstructured.Unstructured{
			member("v1", "Namespace", "", "watch", map[string]any{}),
			member("v1", "ConfigMap", "watch", "settings", map[string]any{"data": map[string]any{"mode": mode}}),
			member("v1", "ConfigMap", "watch", "thresholds", map[string]any{"data": map[string]any{"vibration": "0.8"}}),
			member("v1", "ConfigMap", "watch", "sentinel", map[string]any{"data": map[string]any{"k": "v"}}),
			member("apps/v1", "Deployment", "watch", "inference", map[string]any{"spec": map[string]any{
				"replicas": int64(2), "selector": map[string]any{"matchLabels": labels},
				"template": map[string]any{"metadata": map[string]any{"labels": labels}, "spec": map[string]any{
					"containers": []any{map[string]any{"name": "app", "image": "registry.example/inference:" + mode}}}},
			}}),
		}
	}
	apply := func(objs []*unstructured.Unstructured) {
		t.Helper()
		if _, err := conn.Manager().ApplyAllStaged(ctx, objs, ssa.ApplyOptions{WaitInterval: 100 * time.Millisecond, WaitTimeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	key := func(kind, name string) object.ObjMetadata {
		gk := schema.GroupKind{Kind: kind}
		if kind == "Deployment" {
			gk.Group = "apps"
		}
		return object.ObjMetadata{Namespace: "watch", Name: name, GroupKind: gk}
	}
	editByHand := func(name string) {
		t.Helper()
		cm := &corev1.ConfigMap{}
		cm.Namespace, cm.Name = "watch", name
		if err := kube.Patch(ctx, cm, client.RawPatch(types.MergePatchType, []byte(`{"data":{"k":"by hand"}}`)), client.FieldOwner("kubectl-edit")); err != nil {
			t.Fatal(err)
		}
	}
	scaleByHand := func() {
		t.Helper()
		d := &appsv1.Deployment{}
		d.Namespace, d.Name = "watch", "inference"
		scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 5}}
		if err := kube.SubResource("scale").Update(ctx, d, client.WithSubResourceBody(scale), client.FieldOwner("kubectl")); err != nil {
			t.Fatal(err)
		}
	}

	w := conn.Watch("tandem")
	defer w.Stop()
	versions := map[schema.GroupKind]string{{Kind: "Namespace"}: "v1", {Kind: "ConfigMap"}: "v1", {Group: "apps", Kind: "Deployment"}: "v1"}
	follow := func() Mark {
		t.Helper()
		mark, err := w.Follow(ctx, id, versions)
		if err != nil {
			t.Fatal(err)
		}
		return mark
	}
	// Each kind's events come in order: once the watch announced the
	// changes by hand made last in each, it has seen what came before.
	awaitTaken := func(want ...object.ObjMetadata) {
		t.Helper()
		taken := map[object.ObjMetadata]string{}
		deadline := time.After(time.Minute)
		missing := func(k object.ObjMetadata) bool { _, ok := taken[k]; return !ok }
		for slices.ContainsFunc(want, missing) {
			select {
			case <-w.Changes():
				maps.Copy(taken, w.Take())
			case <-deadline:
				t.Fatalf("changes seen %v, want %v", slices.Collect(maps.Keys(taken)), want)
			}
		}
		got := slices.SortedFunc(maps.Keys(taken), compareKeys)
		slices.SortFunc(want, compareKeys)
		if !slices.Equal(got, want) {
			t.Errorf("changes seen %v, want %v", got, want)
		}
		for _, k := range got {
			if taken[k] != id {
				t.Errorf("change of %s seen in ApplySet %q, want %q", k, taken[k], id)
			}
		}
	}

	mark := follow()
	// tandem creates, then changes twice within moments: a second's
	// resolution of managed-fields times cannot tell these apart by time.
	apply(objects("1.0"))
	apply(objects("1.1"))
	apply(objects("1.2"))
	editByHand("sentinel")
	scaleByHand()
	awaitTaken(key("ConfigMap", "sentinel"), key("Deployment", "inference"))
	if w.Unchanged(id, mark) {
		t.Error("Unchanged after changes by hand")
	}

	// tandem's corrections, and its prune of a member it announced, are
	// its own; a delete by hand is not.
	mark = follow()
	apply(objects("1.2"))
	var pruned corev1.ConfigMap
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "watch", Name: "settings"}, &pruned); err != nil {
		t.Fatal(err)
	}
	w.Expect(pruned.UID)
	if err := kube.Delete(ctx, &pruned); err != nil {
		t.Fatal(err)
	}
	thresholds := &corev1.ConfigMap{}
	thresholds.Namespace, thresholds.Name = "watch", "thresholds"
	if err := kube.Delete(ctx, thresholds); err != nil {
		t.Fatal(err)
	}
	awaitTaken(key("ConfigMap", "thresholds"))
	if w.Unchanged(id, mark) {
		t.Error("Unchanged after a delete by hand")
	}

	// tandem puts them back: created by tandem, nothing to announce before
	// the next change by hand.
	apply(objects("1.2"))
	editByHand("sentinel")
	awaitTaken(key("ConfigMap", "sentinel"))
}

func compareKeys(a, b object.ObjMetadata) int {
	if a.String() < b.String() {
		return -1
	}
	if a.String() > b.String() {
		return 1
	}
	return 0
}

func TestFollowOfAKindTheClusterRefusesToListGoesOnWithoutTheWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(t, testbed.Options{Names: []string{"refusing"}})
	cfg := rest.CopyConfig(f.Cluster("refusing").RESTConfig())
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "nobody"} // may list nothing
	conn, err := Connect("refusing", cfg, Options{FieldManager: "tandem", RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := conn.Watch("tandem")
	defer w.Stop()
	versions := map[schema.GroupKind]string{{Kind: "ConfigMap"}: "v1"}
	// The pass's context outlives syncTimeout: only the informer's failure
	// can end the wait in time.
	ctx, cancel := context.WithTimeout(context.Background(), syncTimeout+10*time.Second)
	defer cancel()
	mark, err := w.Follow(ctx, "applyset-x", versions)
	if err != nil {
		t.Fatalf("Follow = %v; want the pass to go on without the watch", err)
	}
	if w.Unchanged("applyset-x", mark) {
		t.Error("a Mark of an ApplySet the watch could not list says it is unchanged")
	}
	if _, err := conn.ListMembers(ctx, "applyset-x", versions); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("ListMembers = %v; want the pass's own list to say it is forbidden", err)
	}
}

// encodings records the encoding each watch request asked for and the one
// its response came in.
type encodings struct {
	next     http.RoundTripper
	mu       sync.Mutex
	asked    []string
	answered []string
}

func (e *encodings) RoundTrip(req *http.Request) (*http.Response, error) {
	watching := req.URL.Query().Get("watch") == "true"
	resp, err := e.next.RoundTrip(req)
	if watching && err == nil {
		e.mu.Lock()
		e.asked = append(e.asked, req.Header.Get("Accept-Encoding"))
		e.answered = append(e.answered, resp.Header.Get("Content-Encoding"))
		e.mu.Unlock()
	}
	return resp, err
}

func TestWatchStreamsAreNotCompressed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(t, testbed.Options{Names: []string{"plain"}})
	cfg := rest.CopyConfig(f.Cluster("plain").RESTConfig())
	rec := &encodings{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec })
	conn, err := Connect("plain", cfg, Options{FieldManager: "tandem", RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	id := applyset.ID(applyset.ParentName("plain", "edge"))
	create := func(name string, labels map[string]string) {
		t.Helper()
		cm := &corev1.ConfigMap{}
		cm.Namespace, cm.Name, cm.Labels = "default", name, labels
		if err := conn.Client().Create(t.Context(), cm); err != nil {
			t.Fatal(err)
		}
	}
	// A watch that streams its initial list, as a reflector's does, and
	// names no encoding, as Go's transport sends it, comes compressed.
	plain, err := rest.HTTPClientFor(f.Cluster("plain").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, cfg.Host+"/api/v1/namespaces/default/configmaps?watch=true&labelSelector=probe&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	answered := make(chan string, 1)
	go func() {
		resp, err := plain.Do(req)
		if err != nil {
			answered <- err.Error()
			return
		}
		resp.Body.Close()
		answered <- "Content-Encoding " + resp.Header.Get("Content-Encoding")
	}()
	if got := <-answered; got != "Content-Encoding gzip" {
		t.Fatalf("a watch that asks for gzip: %s; the API server does not compress watches, and this test shows nothing", got)
	}

	w := conn.Watch("tandem")
	defer w.Stop()
	if _, err := w.Follow(t.Context(), id, map[schema.GroupKind]string{{Kind: "ConfigMap"}: "v1"}); err != nil {
		t.Fatal(err)
	}
	create("member", map[string]string{applyset.PartOfLabel: id})
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec.mu.Lock()
		asked, got := slices.Clone(rec.asked), slices.Clone(rec.answered)
		rec.mu.Unlock()
		if len(got) > 0 {
			for i := range got {
				if asked[i] != "identity" || got[i] != "" {
					t.Errorf("member watch %d asked for %q and came %q; want identity, uncompressed", i, asked[i], got[i])
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the member watch never answered the member's creation")
		}
		select {
		case <-w.Changes():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// requests tells the path and query of each GET request on its channel,
// as long as it has room.
type requests struct {
	next http.RoundTripper
	seen chan string
}

func (r *requests) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet {
		select {
		case r.seen <- req.URL.Path + "?" + req.URL.RawQuery:
		default:
		}
	}
	return r.next.RoundTrip(req)
}

func TestMemberWatchTheServerEndsOpensAgainWithoutAList(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(t, testbed.Options{Names: []string{"reopen"}})
	restore := watchTimeout
	watchTimeout = func() time.Duration { return 2 * time.Second }
	t.Cleanup(func() { watchTimeout = restore })
	cfg := rest.CopyConfig(f.Cluster("reopen").RESTConfig())
	rec := &requests{seen: make(chan string, 100)}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec })
	traffic := NewTraffic()
	conn, err := Connect("reopen", cfg, Options{FieldManager: "tandem", RequestTimeout: 30 * time.Second, Traffic: traffic})
	if err != nil {
		t.Fatal(err)
	}
	id := applyset.ID(applyset.ParentName("reopen", "edge"))
	cm := &corev1.ConfigMap{}
	cm.Namespace, cm.Name, cm.Labels = "default", "settings", map[string]string{applyset.PartOfLabel: id}
	if err := conn.Client().Create(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
	for len(rec.seen) > 0 {
		<-rec.seen // the client's discovery and create
	}

	w := conn.Watch("tandem")
	defer w.Stop()
	mark, err := w.Follow(t.Context(), id, map[schema.GroupKind]string{{Kind: "ConfigMap"}: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	var lists, watches []string
	timeout := time.After(30 * time.Second)
	for len(watches) < 3 {
		select {
		case r := <-rec.seen:
			if strings.Contains(r, "watch=true") {
				watches = append(watches, r)
			} else {
				lists = append(lists, r)
			}
		case <-timeout:
			t.Fatalf("in 30 s the member watch was opened %d times, want 3, two seconds each", len(watches))
		}
	}
	if len(lists) != 1 {
		t.Errorf("lists %q; want one, before the first watch", lists)
	}
	if !w.Unchanged(id, mark) {
		t.Error("a watch the server ended, and that opened again, made the ApplySet changed")
	}
	if got := testutil.ToFloat64(traffic.watchRestarts.WithLabelValues("reopen")); got != 0 {
		t.Errorf("%v watch restarts counted; a watch the server ends is not one", got)
	}

	// A change made by hand after the reopenings is still told.
	cm.Data = map[string]string{"mode": "by hand"}
	if err := conn.Client().Update(t.Context(), cm, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Changes():
	case <-time.After(30 * time.Second):
		t.Fatal("a change by hand was not announced after the watch opened again")
	}
	want := map[object.ObjMetadata]string{{Namespace: "default", Name: "settings", GroupKind: schema.GroupKind{Kind: "ConfigMap"}}: id}
	if got := w.Take(); !maps.Equal(got, want) {
		t.Errorf("Take = %v, want %v", got, want)
	}
}

// endsWatches ends every watch the server answers at once, as a proxy
// with a short idle timeout would, and passes the other requests on.
type endsWatches struct{ next http.RoundTripper }

func (e endsWatches) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := e.next.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.RawQuery, "watch=true") {
		return resp, err
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(""))
	return resp, nil
}

func TestMemberWatchEndedAtOnceListsAgainAfterABackoff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(t, testbed.Options{Names: []string{"cut"}})
	cfg := rest.CopyConfig(f.Cluster("cut").RESTConfig())
	rec := &requests{seen: make(chan string, 100)}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.next = endsWatches{rt}; return rec })
	traffic := NewTraffic()
	conn, err := Connect("cut", cfg, Options{FieldManager: "tandem", RequestTimeout: 30 * time.Second, Traffic: traffic})
	if err != nil {
		t.Fatal(err)
	}
	w := conn.Watch("tandem")
	defer w.Stop()
	id := applyset.ID(applyset.ParentName("cut", "edge"))
	mark, err := w.Follow(t.Context(), id, map[schema.GroupKind]string{{Kind: "ConfigMap"}: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	// Each watch ended at once is a failure: counted, listed again after
	// the backoff, and the ApplySet no longer vouched for.
	var requests []string
	began := time.Now()
	timeout := time.After(30 * time.Second)
	for watches := 0; watches < 3; {
		select {
		case r := <-rec.seen:
			switch {
			case strings.Contains(r, "watch=true"):
				requests = append(requests, "watch")
				watches++
			case strings.Contains(r, "labelSelector="):
				requests = append(requests, "list")
			}
		case <-timeout:
			t.Fatalf("in 30 s the member watch was opened %d times, want 3", watches)
		}
	}
	if want := []string{"list", "watch", "list", "watch", "list", "watch"}; !slices.Equal(requests, want) {
		t.Errorf("requests %q, want %q: a list before each watch", requests, want)
	}
	// The backoff before the second and the third list: 0.8 s at least.
	if took := time.Since(began); took < 1600*time.Millisecond {
		t.Errorf("3 watches ended at once took %s, want the backoff between them", took)
	}
	if got := testutil.ToFloat64(traffic.watchRestarts.WithLabelValues("cut")); got < 2 {
		t.Errorf("%v watch restarts counted, want one for each watch ended at once", got)
	}
	if w.Unchanged(id, mark) {
		t.Error("the ApplySet counts as unchanged though its watch keeps failing")
	}
}
