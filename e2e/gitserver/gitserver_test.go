package gitserver

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCloneAndPushTriggerASignedWebhook(t *testing.T) {
	pushes := make(chan *http.Request, 4)
	bodies := make(chan []byte, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		pushes <- r
		bodies <- body
	}))
	defer hook.Close()

	root := t.TempDir()
	srv, err := Start(Options{Root: root, WebhookURL: hook.URL, WebhookSecret: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	seed := t.TempDir()
	if err := os.WriteFile(filepath.Join(seed, "tandem.yaml"), []byte("scale: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	url, err := srv.CreateRepo("config", seed, "Initial config")
	if err != nil {
		t.Fatal(err)
	}

	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := Git("clone", "--quiet", url, clone); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if data, err := os.ReadFile(filepath.Join(clone, "tandem.yaml")); err != nil || string(data) != "scale: 3\n" {
		t.Fatalf("cloned tandem.yaml = %q, %v", data, err)
	}
	if err := os.WriteFile(filepath.Join(clone, "tandem.yaml"), []byte("scale: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-C", clone, "commit", "--quiet", "-am", "Scale to 5"}, {"-C", clone, "push", "--quiet", "origin", "main"}} {
		if out, err := Git(args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}

	select {
	case r := <-pushes:
		body := <-bodies
		var payload map[string]string
		if err := json.Unmarshal(body, &payload); err != nil {
			t.Fatal(err)
		}
		if payload["repository"] != url {
			t.Errorf("webhook names repository %q, want %q", payload["repository"], url)
		}
		if sig := r.Header.Get("X-Tandem-Signature-256"); !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
			t.Errorf("signature header %q", sig)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook after the push")
	}
	if out, err := Git("--git-dir", filepath.Join(root, "config.git"), "log", "-1", "--format=%s", "main"); err != nil || out != "Scale to 5" {
		t.Errorf("server's main is at %q (%v), want the pushed commit", out, err)
	}
}
