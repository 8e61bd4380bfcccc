package clusters

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kubeconfigOf is a kubeconfig with a context per cluster, each reaching
// the server given for it.
func kubeconfigOf(servers map[string]string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for name, server := range servers {
		fmt.Fprintf(&b, "- name: %s\n  cluster: {server: %s}\n", name, server)
	}
	b.WriteString("users:\n- name: tandem\n  user: {token: secret}\ncontexts:\n")
	for name := range servers {
		fmt.Fprintf(&b, "- name: %s\n  context: {cluster: %s, user: tandem}\n", name, name)
	}
	return b.String()
}

func TestKubeconfigResolverReadsTheFileAgainOnlyWhenItChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	write := func(content string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	host := func(r *KubeconfigResolver, cluster string) string {
		t.Helper()
		cfg, err := r.Resolve(t.Context(), cluster)
		if err != nil {
			t.Fatalf("resolve %s: %v", cluster, err)
		}
		return cfg.Host
	}
	first := time.Now().Add(-time.Hour).Truncate(time.Second)
	original := kubeconfigOf(map[string]string{"plant-a": "https://plant-a.example:6443", "plant-b": "https://plant-b.example:6443"})
	write(original, first)
	r := &KubeconfigResolver{Path: path}
	if got := host(r, "plant-a"); got != "https://plant-a.example:6443" {
		t.Fatalf("plant-a resolves to %s", got)
	}

	// Bytes of the same length and time: the file as it was read.
	write(string(bytes.Repeat([]byte{'#'}, len(original))), first)
	if got := host(r, "plant-b"); got != "https://plant-b.example:6443" {
		t.Errorf("plant-b resolves to %s with the file unchanged as far as its size and time tell, want it from the file as read", got)
	}

	moved := kubeconfigOf(map[string]string{"plant-a": "https://plant-a.example:16443", "plant-b": "https://plant-b.example:6443"})
	write(moved, first.Add(time.Minute))
	if got := host(r, "plant-a"); got != "https://plant-a.example:16443" {
		t.Errorf("plant-a resolves to %s once the file moved it, want the new server", got)
	}
	if _, err := r.Resolve(t.Context(), "plant-c"); err == nil || !strings.Contains(err.Error(), "plant-c") {
		t.Errorf("resolve a cluster with no context: %v, want an error naming it", err)
	}

	write("clusters: [", first.Add(2*time.Minute))
	if _, err := r.Resolve(t.Context(), "plant-a"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("resolve from a broken kubeconfig: %v, want an error naming the file", err)
	}
}
