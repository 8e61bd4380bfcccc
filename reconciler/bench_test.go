package reconciler

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

// BenchmarkNoOpReconcile reconciles a site whose 10 objects of 8
// group-kinds are already applied, counting requests and writes per pass:
// first as tandem does it (one list of ApplySet parents, one list per
// group-kind, nothing written), then the naive way, ssa's ApplyAllStaged of
// the same objects as Flux's kustomize-controller does it (a GET and a
// dry-run apply per object), with a connection kept across passes and with
// a new one per pass (Flux's way with a remote cluster, rediscovering the
// API every time).
func BenchmarkNoOpReconcile(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(b, testbed.Options{Names: []string{"bench"}})
	ctx := context.Background()

	b.Run("tandem", func(b *testing.B) {
		counter := &requestCounter{}
		r := New(fleetResolver(f, counter), Options{
			Version: "0.1.0", Logger: slog.New(slog.DiscardHandler),
		})
		target := []Target{{Cluster: "bench", Tiers: []TierSet{{
			Solution: "bench", Tier: "edge", Revision: "rev-1", Objects: tenObjects("bench-tandem"),
		}}}}
		applyNoOp := func() {
			res := r.Apply(ctx, target, nil)
			if len(res) != 1 || res[0].Phase != PhaseReady {
				b.Fatalf("pass: %+v", res)
			}
		}
		applyNoOp()
		applyNoOp()
		counter.reset()
		for b.Loop() {
			applyNoOp()
		}
		reportRequests(b, counter)
	})

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
