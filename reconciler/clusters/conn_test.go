package clusters

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

func TestConnectionIsRemadeWhenHowItReachesTheClusterChanges(t *testing.T) {
	base := func() *rest.Config {
		return &rest.Config{Host: "https://plant-a.example:6443", BearerToken: "token",
			TLSClientConfig: rest.TLSClientConfig{CAData: []byte("ca")}}
	}
	proxy := func(u string) func(*http.Request) (*url.URL, error) {
		return http.ProxyURL(&url.URL{Scheme: "http", Host: u})
	}
	tests := []struct {
		name   string
		change func(*rest.Config)
		same   bool
	}{
		{"nothing", func(*rest.Config) {}, true},
		{"a new transport wrapper", func(c *rest.Config) {
			c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return rt }
		}, true},
		{"host", func(c *rest.Config) { c.Host = "https://plant-b.example:6443" }, false},
		{"token", func(c *rest.Config) { c.BearerToken = "rotated" }, false},
		{"client key", func(c *rest.Config) { c.KeyData = []byte("key") }, false},
		{"client certificate file", func(c *rest.Config) { c.CertFile = "/etc/tandem/plant-a.crt" }, false},
		{"client key file", func(c *rest.Config) { c.KeyFile = "/etc/tandem/plant-a.key" }, false},
		{"exec plugin", func(c *rest.Config) { c.ExecProvider = &clientcmdapi.ExecConfig{Command: "aws"} }, false},
		{"auth provider", func(c *rest.Config) { c.AuthProvider = &clientcmdapi.AuthProviderConfig{Name: "oidc"} }, false},
		{"impersonation", func(c *rest.Config) { c.Impersonate.UserName = "tandem" }, false},
		{"server name", func(c *rest.Config) { c.ServerName = "plant-a" }, false},
		{"insecure", func(c *rest.Config) { c.Insecure = true }, false},
		{"proxy", func(c *rest.Config) { c.Proxy = proxy("proxy-a:3128") }, false},
	}
	made := &Conn{config: comparableConfig(base())}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.change(cfg)
			if got := made.MadeFrom(cfg); got != tt.same {
				t.Errorf("connection kept: %v, want %v", got, tt.same)
			}
		})
	}

	withProxy := base()
	withProxy.Proxy = proxy("proxy-a:3128")
	viaProxy := &Conn{config: comparableConfig(withProxy)}
	other := base()
	other.Proxy = proxy("proxy-b:3128")
	if viaProxy.MadeFrom(other) {
		t.Error("connection kept when the proxy changed")
	}
	same := base()
	same.Proxy = proxy("proxy-a:3128")
	if !viaProxy.MadeFrom(same) {
		t.Error("connection remade for the same proxy")
	}
}

func TestClientsOfAConnectionShareOneRequestBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(t, testbed.Options{Names: []string{"budget"}})
	cfg := rest.CopyConfig(f.Cluster("budget").RESTConfig())
	// Two requests now, the next in a quarter of an hour.
	cfg.QPS, cfg.Burst = 1.0/900, 2
	conn, err := Connect("budget", cfg, Options{FieldManager: "tandem", RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The two: discovering where Namespaces and ConfigMaps are served.
	for _, kind := range []string{"Namespace", "ConfigMap"} {
		if _, err := conn.mapper.RESTMapping(schema.GroupKind{Kind: kind}, "v1"); err != nil {
			t.Fatal(err)
		}
	}
	// Requests of kinds, each through a REST client of its own, wait for
	// the cluster's budget all the same: the limiter refuses at once a
	// wait past the deadline.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for key, obj := range map[client.ObjectKey]client.Object{
		{Name: "default"}: &corev1.Namespace{},
		{Namespace: "default", Name: "kube-root-ca.crt"}: &corev1.ConfigMap{},
	} {
		err := conn.Client().Get(ctx, key, obj)
		if err == nil || !strings.Contains(err.Error(), "rate limiter") {
			t.Fatalf("get %T %s with the budget spent: %v, want the rate limiter to hold it", obj, key, err)
		}
	}
}
