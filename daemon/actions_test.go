package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/sources"
)

func TestReadTokensRefusesShortAndRepeatedTokens(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ content, want string }{
		{"# on-call\nada:0123456789abcdef0123\n", ""},
		{"ada:short\n", "tokens:1: the token of ada is shorter than 16 characters"},
		{"ada:0123456789abcdef\nbob:0123456789abcdef\n", "tokens:2: the token of bob is given twice"},
		{"0123456789abcdef\n", "tokens:1: want name:token"},
	} {
		path := filepath.Join(dir, "tokens")
		if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadTokens(path)
		if got := ""; err != nil {
			got = strings.TrimPrefix(err.Error(), dir+"/")
			if got != tt.want {
				t.Errorf("%q: %v, want %q", tt.content, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("%q read, want %q", tt.content, tt.want)
		}
	}
}

// runningDaemon runs a daemon over the policy repository whose second wave
// asks for an approval, with the token ada holds, and serves its API.
func runningDaemon(t *testing.T, tokens Tokens) (*Daemon, *httptest.Server, chan<- reconciler.Result) {
	t.Helper()
	src := fakeSource{make(chan sources.Revision, 1)}
	results := make(chan reconciler.Result, 16)
	applier := &relayApplier{results: results}
	d := New(Config{Source: src, Trees: trees{"b1": policyFS("    waves:\n    - {matchLabels: {ring: canary}}\n    - {matchLabels: {ring: main}, approve: true}\n")},
		Applier: applier, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tokens: tokens})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	src.revisions <- revisionAt("b1")
	srv := httptest.NewServer(d.Handler(nil))
	t.Cleanup(srv.Close)
	return d, srv, results
}

// relayApplier hands the daemon the results a test sends.
type relayApplier struct{ results chan reconciler.Result }

func (a *relayApplier) Run(ctx context.Context, out chan<- reconciler.Result) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case res := <-a.results:
			out <- res
		}
	}
}

func (a *relayApplier) SetTargets([]reconciler.Target) {}

func rolloutState(t *testing.T, d *Daemon, want string) RolloutStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st := d.Status().Rollouts; len(st) == 1 && st[0].State == want {
			return st[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout never %s: %+v", want, d.Status().Rollouts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func postAction(t *testing.T, srv *httptest.Server, path, token string) (int, string) {
	t.Helper()
	code, body := callAPI(t, srv, http.MethodPost, path, token, nil)
	return code, string(body)
}

func TestRolloutActionsNeedATokenAndGoThroughTheLoop(t *testing.T) {
	const token = "0123456789abcdef-ada"
	d, srv, results := runningDaemon(t, Tokens{token: "ada"})
	rolloutState(t, d, RolloutProgressing)
	for _, tt := range []struct {
		token, path string
		status      int
		says        string
	}{
		{"", "/api/v1/rollouts/plant/approve", http.StatusUnauthorized, "bearer token"},
		{"wrong-token-0123456789", "/api/v1/rollouts/plant/approve", http.StatusUnauthorized, "bearer token"},
		{token, "/api/v1/rollouts/elsewhere/approve", http.StatusNotFound, "does not roll out solution elsewhere"},
		{token, "/api/v1/rollouts/plant/approve", http.StatusConflict, "waits for wave 1 to be Ready"},
		{token, "/api/v1/rollouts/plant/launch", http.StatusConflict, "unknown action"},
	} {
		if code, body := postAction(t, srv, tt.path, tt.token); code != tt.status || !strings.Contains(body, tt.says) {
			t.Errorf("POST %s with %q: %d %s, want %d saying %q", tt.path, tt.token, code, body, tt.status, tt.says)
		}
	}
	now := time.Now()
	results <- reconciler.Result{Key: reconciler.Key{Cluster: "canary-1", Solution: "plant", Tier: "edge"},
		Revision: revisionAt("b1").String(), Phase: reconciler.PhaseReady, Started: now, Finished: now}
	rolloutState(t, d, RolloutWaitingForApproval)
	code, body := postAction(t, srv, "/api/v1/rollouts/plant/approve", token)
	var st RolloutStatus
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || st.Wave != 2 || st.Updated != 4 {
		t.Fatalf("approve: %d %s, want wave 2 released to 4 sites", code, body)
	}
	if code, body := postAction(t, srv, "/api/v1/rollouts/plant/abort", token); code != http.StatusOK || !strings.Contains(body, `"state":"Aborted"`) {
		t.Errorf("abort: %d %s", code, body)
	}
}

func TestRolloutActionsAreOffWithoutTokens(t *testing.T) {
	_, srv, _ := runningDaemon(t, nil)
	if code, body := postAction(t, srv, "/api/v1/rollouts/plant/abort", "anything-at-all-0123"); code != http.StatusForbidden || !strings.Contains(body, "--api-token-file") {
		t.Errorf("an action without tokens configured: %d %s, want 403 naming --api-token-file", code, body)
	}
}
