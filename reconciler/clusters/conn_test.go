package clusters

import (
	"net/http"
	"net/url"
	"testing"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
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
