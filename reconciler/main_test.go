package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/e2e/testbed"
	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

// The clusters are shared by every test of the package: starting them is
// most of the run time.
var (
	fleetOnce sync.Once
	fleet     *testbed.Fleet
	fleetErr  error
	fleetDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fleet != nil {
		if err := fleet.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop clusters:", err)
		}
	}
	if fleetDir != "" {
		os.RemoveAll(fleetDir)
	}
	os.Exit(code)
}

// testFleet starts the shared clusters "cloud" and "plant-a" on first use;
// both run workloads, so Deployments become Available.
func testFleet(t *testing.T) *testbed.Fleet {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Kubernetes control planes")
	}
	fleetOnce.Do(func() {
		if fleetDir, fleetErr = os.MkdirTemp("", "tandem-reconciler-"); fleetErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		fleet, fleetErr = testbed.Start(ctx, testbed.Options{Names: []string{"cloud", "plant-a"}, Full: true, Dir: fleetDir})
	})
	if fleetErr != nil {
		t.Fatal(fleetErr)
	}
	// A target is all a cluster runs: the ApplySets a test leaves behind
	// would be solutions the next test's targets removed.
	t.Cleanup(func() {
		for _, name := range []string{"cloud", "plant-a"} {
			c, err := client.New(fleet.Cluster(name).RESTConfig(), client.Options{})
			if err == nil {
				err = c.DeleteAllOf(context.Background(), &corev1.Secret{}, client.InNamespace(applyset.Namespace), client.HasLabels{applyset.IDLabel})
			}
			if err != nil {
				t.Errorf("forget the ApplySets on %s: %v", name, err)
			}
		}
	})
	return fleet
}

// requestCounter counts the requests made to a cluster, and among them the
// writes: dry-run requests change nothing and are not writes.
type requestCounter struct {
	requests, writes atomic.Int64
	mu               sync.Mutex
	log              []string
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		c.requests.Add(1)
		line := req.Method + " " + req.URL.RequestURI()
		if req.Method != http.MethodGet && !strings.Contains(req.URL.RawQuery, "dryRun=All") {
			c.writes.Add(1)
			line += " (write)"
		}
		c.mu.Lock()
		c.log = append(c.log, line)
		c.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

func (c *requestCounter) reset() {
	c.requests.Store(0)
	c.writes.Store(0)
	c.mu.Lock()
	c.log = nil
	c.mu.Unlock()
}

func (c *requestCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, "\n")
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// fleetResolver resolves cluster names to the fleet's clusters, counting
// requests when counter is set.
func fleetResolver(f *testbed.Fleet, counter *requestCounter) clusters.Resolver {
	return clusters.ResolverFunc(func(_ context.Context, name string) (*rest.Config, error) {
		c := f.Cluster(name)
		if c == nil {
			return nil, fmt.Errorf("no cluster %s", name)
		}
		cfg := c.RESTConfig()
		if counter != nil {
			cfg.WrapTransport = counter.wrap
		}
		return cfg, nil
	})
}

// testOptions are quick options for tests.
func testOptions(t *testing.T) Options {
	return Options{
		Version:       "0.1.0",
		HealthTimeout: 90 * time.Second,
		Logger:        slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// kubeClient returns a plain client for a fleet cluster, to look at it and
// to change it behind tandem's back.
func kubeClient(t *testing.T, f *testbed.Fleet, name string) client.Client {
	t.Helper()
	c, err := client.New(f.Cluster(name).RESTConfig(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func namespace(name string) *unstructured.Unstructured {
	return obj("v1", "Namespace", "", name, nil)
}

func configMap(ns, name string, data map[string]any) *unstructured.Unstructured {
	return obj("v1", "ConfigMap", ns, name, map[string]any{"data": data})
}

// deployment is a Deployment of one container with a port (whose protocol
// the server defaults) and resources.
func deployment(ns, name string, replicas int64) *unstructured.Unstructured {
	labels := map[string]any{"app": name}
	return obj("apps/v1", "Deployment", ns, name, map[string]any{"spec": map[string]any{
		"replicas": replicas,
		"selector": map[string]any{"matchLabels": labels},
		"template": map[string]any{
			"metadata": map[string]any{"labels": labels},
			"spec": map[string]any{"containers": []any{map[string]any{
				"name":      "app",
				"image":     "registry.example/" + name + ":1.0",
				"args":      []any{"--listen", ":8080"},
				"ports":     []any{map[string]any{"name": "http", "containerPort": int64(8080)}},
				"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "64Mi"}},
			}}},
		},
	}})
}

func obj(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// onlyResult returns the single result of a pass, failing otherwise.
func onlyResult(t *testing.T, results []Result) Result {
	t.Helper()
	if len(results) != 1 {
		t.Fatalf("got %d results, want 1: %+v", len(results), results)
	}
	return results[0]
}

func requirePhase(t *testing.T, r Result, want Phase) {
	t.Helper()
	if r.Phase != want {
		t.Fatalf("%s/%s/%s: phase %s (%s), want %s\n%s", r.Cluster, r.Solution, r.Tier, r.Phase, r.Message, want, r.ChangeSet)
	}
}
