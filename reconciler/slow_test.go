package reconciler

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/tandem-gitops/tandem/e2e/testbed"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

// lateTransport holds every response until delay after the first request:
// an API server that starts answering late, as a site on a congested link.
type lateTransport struct {
	next  http.RoundTripper
	delay time.Duration
	once  sync.Once
	from  time.Time
}

func (l *lateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	l.once.Do(func() { l.from = time.Now() })
	resp, err := l.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	wait := time.NewTimer(time.Until(l.from.Add(l.delay)))
	defer wait.Stop()
	select {
	case <-wait.C:
		return resp, nil
	case <-req.Context().Done():
		resp.Body.Close()
		return nil, req.Context().Err()
	}
}

// proxied serves the cluster upstream reaches through a TLS proxy of its
// own, whose transport to upstream wrap may change and whose requests
// refuse may answer instead, and returns a configuration reaching the
// cluster through it, and the proxy.
func proxied(t *testing.T, upstream *rest.Config, wrap func(http.RoundTripper) http.RoundTripper, refuse func(*http.Request) bool) (*rest.Config, *httptest.Server) {
	t.Helper()
	rt, err := rest.TransportFor(upstream)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(upstream.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     wrap(rt),
		FlushInterval: -1,
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse(r) {
			http.Error(w, "refused by the test", http.StatusForbidden)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
	}}
	return cfg, srv
}

func TestSlowSiteDoesNotDelayTheOthers(t *testing.T) {
	f := testFleet(t)
	const delay = 10 * time.Second
	// A cluster of its own: the slow site's ApplySets are no others'.
	upstream := testbed.StartT(t, testbed.Options{Names: []string{"plant-slow"}}).Cluster("plant-slow").RESTConfig()
	slow, _ := proxied(t, upstream, func(rt http.RoundTripper) http.RoundTripper { return &lateTransport{next: rt, delay: delay} },
		func(*http.Request) bool { return false })
	fast := fleetResolver(f, nil)
	resolver := clusters.ResolverFunc(func(ctx context.Context, name string) (*rest.Config, error) {
		if name == "plant-slow" {
			return rest.CopyConfig(slow), nil
		}
		return fast.Resolve(ctx, name)
	})
	r := New(resolver, testOptions(t))

	target := func(cluster, solution string) Target {
		return Target{Cluster: cluster, Tiers: []TierSet{{Solution: solution, Tier: "edge", Revision: "main@sha1:51",
			Objects: []*unstructured.Unstructured{namespace(solution), configMap(solution, "settings", map[string]any{"site": cluster})}}}}
	}
	targets := []Target{target("cloud", "fast-cloud"), target("plant-a", "fast-plant"), target("plant-slow", "slow-plant")}

	type arrival struct {
		res   Result
		after time.Duration
	}
	progress := make(chan Result)
	var arrivals []arrival
	read := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(read)
		for res := range progress {
			arrivals = append(arrivals, arrival{res, time.Since(began)})
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results := r.Apply(ctx, targets, progress)
	close(progress)
	<-read

	for _, res := range results {
		requirePhase(t, res, PhaseReady)
	}
	var lastFast, firstSlowReady time.Duration
	var log string
	for _, a := range arrivals {
		log += fmt.Sprintf("%6s %s %s\n", a.after.Round(time.Millisecond), a.res.Cluster, a.res.Phase)
		switch {
		case a.res.Cluster != "plant-slow" && a.res.Phase == PhaseReady:
			lastFast = max(lastFast, a.after)
		case a.res.Cluster == "plant-slow" && a.res.Phase != PhaseProgressing && firstSlowReady == 0:
			firstSlowReady = a.after
		}
	}
	t.Logf("results as they arrived:\n%s", log)
	if lastFast == 0 || firstSlowReady == 0 {
		t.Fatalf("want Ready results of every site, got:\n%s", log)
	}
	// The slow site answers nothing before delay: if it held the others
	// up, their results would come after that.
	if lastFast >= delay {
		t.Errorf("fast sites Ready after %s, want before the slow site's first answer at %s", lastFast, delay)
	}
	if firstSlowReady < delay {
		t.Errorf("slow site done after %s, before its API server first answered at %s", firstSlowReady, delay)
	}
	for _, a := range arrivals {
		if a.res.Cluster == "plant-slow" && a.after <= lastFast && a.res.Phase != PhaseProgressing {
			t.Errorf("slow site %s at %s, before the fast sites were Ready", a.res.Phase, a.after)
		}
	}
}
