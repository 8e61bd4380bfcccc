package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/daemon"
)

func TestRolloutCommandsReadTheStatusAndActWithABearerToken(t *testing.T) {
	var authorization, action string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := daemon.RolloutStatus{Solution: "smart-factory", Revision: "refs/heads/main@sha1:1a2b", Wave: 1, Waves: 2,
			State: daemon.RolloutWaitingForApproval, Since: time.Now(), Updated: 1, Sites: 3,
			Waiting: []string{"plant-c: waiting for its window, opens at 2026-12-01T21:00:00Z"}}
		switch r.URL.Path {
		case "/api/v1/status":
			json.NewEncoder(w).Encode(daemon.Status{Rollouts: []daemon.RolloutStatus{st}})
		default:
			authorization, action = r.Header.Get("Authorization"), r.Method+" "+r.URL.Path
			st.Wave, st.State = 2, daemon.RolloutProgressing
			json.NewEncoder(w).Encode(st)
		}
	}))
	defer srv.Close()

	out, _, err := run(t, "rollout", "status", "--server", srv.URL)
	if err != nil || !strings.Contains(out, "smart-factory") || !strings.Contains(out, "1/2") || !strings.Contains(out, "WaitingForApproval") || !strings.Contains(out, "plant-c: waiting for its window") {
		t.Errorf("rollout status: %v\n%s", err, out)
	}
	_, _, err = run(t, "rollout", "approve", "smart-factory", "--server", srv.URL)
	if exitCode(err) != exitUsage || action != "" {
		t.Errorf("approve without a token: exit %d, request %q; want a usage error and no request", exitCode(err), action)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("0123456789abcdef-ada\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, "rollout", "approve", "smart-factory", "--server", srv.URL, "--token-file", tokenFile)
	if err != nil || action != "POST /api/v1/rollouts/smart-factory/approve" || authorization != "Bearer 0123456789abcdef-ada" || !strings.Contains(out, "2/2") {
		t.Errorf("approve: %v, request %q with %q\n%s", err, action, authorization, out)
	}
}
