package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/tandem-gitops/tandem/e2e/testbed"
	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// BenchmarkNoOpReconcile reconciles a site whose 10 objects of 8
// group-kinds are already applied, counting requests and writes per pass:
// first as tandem does it under Run, a pass its watch shows needless
// (nothing, not even a request), then its full re-check (one list of
// ApplySet parents, one list per group-kind, nothing written), then the
// naive way, ssa's ApplyAllStaged of the same objects as Flux's
// kustomize-controller does it (a GET and a dry-run apply per object),
// with a connection kept across passes and with a new one per pass (Flux's
// way with a remote cluster, rediscovering the API every time).
func BenchmarkNoOpReconcile(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(b, testbed.Options{Names: []string{"bench"}})
	ctx := context.Background()

	tandem := func(b *testing.B, namespace string, mode passMode) {
		counter := &requestCounter{}
		r := New(fleetResolver(f, counter), Options{
			Version: "0.1.0", Logger: slog.New(slog.DiscardHandler),
		})
		defer r.unwatch("bench")
		target := Target{Cluster: "bench", Tiers: []TierSet{{
			Solution: namespace, Tier: "edge", Revision: "rev-1", Objects: tenObjects(namespace),
		}}}
		pass := func() {
			res := r.reconcileCluster(ctx, ctx, target, nil, mode)
			if len(res) != 1 || res[0].Phase != PhaseReady {
				b.Fatalf("pass: %+v", res)
			}
		}
		pass()
		pass()
		counter.reset()
		for b.Loop() {
			pass()
		}
		reportRequests(b, counter)
	}
	b.Run("tandem-watched", func(b *testing.B) { tandem(b, "bench-tandem", passMode{watch: true}) })
	b.Run("tandem-full-recheck", func(b *testing.B) { tandem(b, "bench-tandem", passMode{watch: true, full: true}) })

	naive := func(b *testing.B, namespace string, newEachPass bool) {
		counter := &requestCounter{}
		cfg := f.Cluster("bench").RESTConfig()
		cfg.QPS, cfg.Burst = 50, 100
		cfg.WrapTransport = counter.wrap
		manager := newNaiveManager(b, cfg)
		objects := tenObjects(namespace)
		applyAll := func(unchanged bool) {
			if newEachPass {
				manager = newNaiveManager(b, cfg)
			}
			changes, err := manager.ApplyAllStaged(ctx, objects, ssa.ApplyOptions{
				WaitInterval: 100 * time.Millisecond, WaitTimeout: time.Minute,
			})
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range changes.Entries {
				if unchanged && e.Action != ssa.UnchangedAction {
					b.Fatalf("naive pass changed %s: %s", e.Subject, e.Action)
				}
			}
		}
		applyAll(false)
		counter.reset()
		for b.Loop() {
			applyAll(true)
		}
		reportRequests(b, counter)
	}
	b.Run("naive-ssa", func(b *testing.B) { naive(b, "bench-naive", false) })
	b.Run("naive-ssa-new-client", func(b *testing.B) { naive(b, "bench-naive-new", true) })
}

func newNaiveManager(b *testing.B, cfg *rest.Config) *ssa.ResourceManager {
	b.Helper()
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		b.Fatal(err)
	}
	return ssa.NewResourceManager(c, polling.NewStatusPoller(c, mapper, polling.Options{}),
		ssa.Owner{Field: "naive", Group: "naive.example"})
}

func reportRequests(b *testing.B, counter *requestCounter) {
	b.ReportMetric(float64(counter.requests.Load())/float64(b.N), "requests/op")
	b.ReportMetric(float64(counter.writes.Load())/float64(b.N), "writes/op")
}

// tenObjects is a tier of 10 objects of 8 group-kinds that are healthy as
// soon as they are stored, so an API server alone serves them. They are
// written as people write them: a Secret in stringData, which the server
// stores as data, and a NetworkPolicy port without the protocol the server
// defaults.
func tenObjects(ns string) []*unstructured.Unstructured {
	return []*unstructured.Unstructured{
		namespace(ns),
		configMap(ns, "settings", map[string]any{"mode": "edge", "threshold": "0.5"}),
		configMap(ns, "labels", map[string]any{"site": "plant-a"}),
		configMap(ns, "topics", map[string]any{"telemetry": "plants/+/telemetry/#"}),
		obj("v1", "Secret", ns, "credentials", map[string]any{"type": "Opaque", "stringData": map[string]any{"token": "s3cr3t"}}),
		obj("v1", "ServiceAccount", ns, "gateway", nil),
		obj("v1", "Service", ns, "gateway", map[string]any{"spec": map[string]any{
			"selector": map[string]any{"app": "gateway"},
			"ports":    []any{map[string]any{"name": "opcua", "port": int64(4840), "targetPort": int64(4840)}},
		}}),
		obj("rbac.authorization.k8s.io/v1", "Role", ns, "gateway", map[string]any{"rules": []any{map[string]any{
			"apiGroups": []any{""}, "resources": []any{"configmaps"}, "verbs": []any{"get", "list", "watch"},
		}}}),
		obj("rbac.authorization.k8s.io/v1", "RoleBinding", ns, "gateway", map[string]any{
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gateway"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "gateway", "namespace": ns}},
		}),
		obj("networking.k8s.io/v1", "NetworkPolicy", ns, "gateway", map[string]any{"spec": map[string]any{
			"podSelector": map[string]any{"matchLabels": map[string]any{"app": "gateway"}},
			"policyTypes": []any{"Ingress"},
			"ingress":     []any{map[string]any{"ports": []any{map[string]any{"port": int64(4840)}}}},
		}}),
	}
}

// BenchmarkWatchMemory measures what the watch of one site holds in memory
// for a tier of N ConfigMaps: the heap a Watch following them adds, per
// site and per object. A naive watch, a full informer of the same
// objects (spec, status and all managed fields), is measured beside it.
func BenchmarkWatchMemory(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(b, testbed.Options{Names: []string{"bench"}})
	ctx := context.Background()
	sizes := []int{100, 1000}
	var tiers []TierSet
	for _, n := range sizes {
		ns := fmt.Sprintf("memory-%d", n)
		objs := []*unstructured.Unstructured{namespace(ns)}
		for i := range n {
			objs = append(objs, configMap(ns, fmt.Sprintf("settings-%d", i), map[string]any{
				"mode": "edge", "threshold": "0.5", "topic": fmt.Sprintf("plants/%d/telemetry/#", i)}))
		}
		tiers = append(tiers, TierSet{Solution: "memory", Tier: ns, Revision: "rev-1", Objects: objs, NoWait: true})
	}
	r := New(fleetResolver(f, nil), Options{Version: "0.1.0", Logger: slog.New(slog.DiscardHandler)})
	for _, res := range r.Apply(ctx, []Target{{Cluster: "bench", Tiers: tiers}}, nil) {
		if res.Phase != PhaseReady {
			b.Fatalf("apply: %s %s", res.Key, res.Message)
		}
	}
	c, err := r.connection(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	versions := map[schema.GroupKind]string{{Kind: "ConfigMap"}: "v1", {Kind: "Namespace"}: "v1"}
	for _, n := range sizes {
		id := applyset.ID(applyset.ParentName("memory", fmt.Sprintf("memory-%d", n)))
		b.Run(fmt.Sprintf("objects=%d/watch", n), func(b *testing.B) {
			reportHeld(b, n, func() func() {
				w := c.Watch("tandem")
				if _, err := w.Follow(ctx, id, versions); err != nil {
					b.Fatal(err)
				}
				return w.Stop
			})
		})
		b.Run(fmt.Sprintf("objects=%d/naive-full-informer", n), func(b *testing.B) {
			dyn, err := dynamic.NewForConfig(f.Cluster("bench").RESTConfig())
			if err != nil {
				b.Fatal(err)
			}
			reportHeld(b, n, func() func() {
				ctx, cancel := context.WithCancel(ctx)
				var wg sync.WaitGroup
				for _, gvr := range []schema.GroupVersionResource{{Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "namespaces"}} {
					inf := dynamicinformer.NewFilteredDynamicInformer(dyn, gvr, "", 0, cache.Indexers{},
						func(o *metav1.ListOptions) { o.LabelSelector = applyset.PartOfLabel + "=" + id }).Informer()
					wg.Go(func() { inf.RunWithContext(ctx) })
					if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
						b.Fatal("informer did not sync")
					}
				}
				return func() { cancel(); wg.Wait() }
			})
		})
	}
}

// reportHeld reports the heap that what start starts holds while it runs,
// per site and per object of a site of n+1 objects, after a first start
// and stop.
func reportHeld(b *testing.B, n int, start func() (stop func())) {
	// Once first, for what the first start of any allocates once (the
	// connection the site's passes open anyway, pools) to stay out.
	start()()
	var held uint64
	for b.Loop() {
		before := heldAfterGC()
		stop := start()
		if after := heldAfterGC(); after > before {
			held += after - before
		}
		stop()
	}
	b.ReportMetric(float64(held)/float64(b.N), "B/site")
	b.ReportMetric(float64(held)/float64(b.N)/float64(n+1), "B/object")
}

// heldAfterGC returns the bytes of live heap and of goroutine stacks
// after a collection: a watch's goroutines cost their stacks.
func heldAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}
