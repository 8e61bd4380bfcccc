package agent

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testHub is a hub's agent API answering with what a test sets, and
// recording the tokens it was sent.
type testHub struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string
	status int // answered when not 0
	// reportStatus is answered to reports when not 0.
	reportStatus int
	site         string // the site of the release answered
	report       Report // the last report posted
}

func newTestHub(t *testing.T) *testHub {
	h := &testHub{site: "plant-a"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/sites/{site}/release", func(w http.ResponseWriter, r *http.Request) {
		if h.answered(w, r) {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		json.NewEncoder(w).Encode(Release{Site: h.site, Cluster: h.site, Instance: "tandem", Tiers: []ReleasedTier{}})
	})
	mux.HandleFunc("POST /api/v1/sites/{site}/status", func(w http.ResponseWriter, r *http.Request) {
		if h.answered(w, r) {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.reportStatus != 0 {
			http.Error(w, "the daemon is not reconciling", h.reportStatus)
			return
		}
		h.report = Report{}
		if err := json.NewDecoder(r.Body).Decode(&h.report); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	h.Server = httptest.NewServer(mux)
	t.Cleanup(h.Close)
	return h
}

// answered records the request's token and answers the status set, if
// any.
func (h *testHub) answered(w http.ResponseWriter, r *http.Request) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens = append(h.tokens, r.Header.Get("Authorization"))
	if h.status != 0 {
		http.Error(w, "the token is not plant-a's", h.status)
		return true
	}
	return false
}

func (h *testHub) set(status int, site string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status, h.site = status, site
}

func writeToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newTestClient(t *testing.T, hub *testHub) *Client {
	t.Helper()
	c := &Client{URL: hub.URL + "/", TokenFile: filepath.Join(t.TempDir(), "token"), HTTP: hub.Client()}
	writeToken(t, c.TokenFile, "first-token\n")
	return c
}

func TestClientReadsTheTokenFileForEveryRequest(t *testing.T) {
	hub := newTestHub(t)
	c := newTestClient(t, hub)

	if _, err := c.Release(t.Context(), "plant-a"); err != nil {
		t.Fatal(err)
	}
	writeToken(t, c.TokenFile, "rotated-token")
	if err := c.Report(t.Context(), "plant-a", Report{Version: "1.2.3", Digest: "sha256:abc"}); err != nil {
		t.Fatal(err)
	}

	hub.mu.Lock()
	defer hub.mu.Unlock()
	want := []string{"Bearer first-token", "Bearer rotated-token"}
	if !slices.Equal(hub.tokens, want) {
		t.Errorf("hub was sent tokens %q, want %q", hub.tokens, want)
	}
	if hub.report.Version != "1.2.3" || hub.report.Digest != "sha256:abc" {
		t.Errorf("hub got report %+v, want version 1.2.3 of digest sha256:abc", hub.report)
	}
}

func TestClientNamesWhatTheHubRefused(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		site    string // of the release the hub answers
		request func(*Client) error
		code    int // of the *StatusError; 0 for none
		want    []string
	}{
		{
			name:   "release forbidden",
			status: http.StatusForbidden,
			request: func(c *Client) error {
				_, err := c.Release(t.Context(), "plant-a")
				return err
			},
			code: http.StatusForbidden,
			want: []string{"GET http://", "/api/v1/sites/plant-a/release", "403 Forbidden", "the token is not plant-a's"},
		},
		{
			name:   "report forbidden",
			status: http.StatusForbidden,
			request: func(c *Client) error {
				return c.Report(t.Context(), "plant-a", Report{})
			},
			code: http.StatusForbidden,
			want: []string{"POST http://", "/api/v1/sites/plant-a/status", "403 Forbidden", "the token is not plant-a's"},
		},
		{
			name: "release of another site",
			site: "plant-b",
			request: func(c *Client) error {
				_, err := c.Release(t.Context(), "plant-a")
				return err
			},
			want: []string{`"plant-b"`, "not of plant-a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newTestHub(t)
			hub.set(tt.status, cmp.Or(tt.site, "plant-a"))
			err := tt.request(newTestClient(t, hub))
			if err == nil {
				t.Fatal("no error, want one")
			}
			var status *StatusError
			switch {
			case tt.code == 0 && errors.As(err, &status):
				t.Errorf("error %q is a *StatusError, want none", err)
			case tt.code != 0 && !errors.As(err, &status):
				t.Errorf("error %q is no *StatusError", err)
			case tt.code != 0 && status.Code != tt.code:
				t.Errorf("status error has code %d, want %d", status.Code, tt.code)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestClientRequestsCountsSentAndFailed(t *testing.T) {
	hub := newTestHub(t)
	c := newTestClient(t, hub)
	steps := []struct {
		status int
		site   string
		fail   bool
	}{
		{site: "plant-a"},
		{status: http.StatusForbidden, site: "plant-a", fail: true},
		{site: "plant-b", fail: true},
		{status: http.StatusServiceUnavailable, site: "plant-a", fail: true},
		{site: "plant-a"},
	}
	for i, step := range steps {
		hub.set(step.status, step.site)
		_, err := c.Release(t.Context(), "plant-a")
		if (err != nil) != step.fail {
			t.Fatalf("request %d: error %v, want failure %t", i, err, step.fail)
		}
	}
	hub.set(0, "plant-a")
	if err := c.Report(t.Context(), "plant-a", Report{}); err != nil {
		t.Fatal(err)
	}
	hub.Close()
	if err := c.Report(t.Context(), "plant-a", Report{}); err == nil {
		t.Fatal("report to a closed hub sent, want an error")
	}

	if sent, failed := c.Requests(); sent != 7 || failed != 4 {
		t.Errorf("Requests() = %d sent, %d failed; want 7 sent, 4 failed", sent, failed)
	}
}

func TestTheAgentTellsTheHubHowLongItWasCutOff(t *testing.T) {
	hub := newTestHub(t)
	a := New(Config{Site: "plant-a", Hub: newTestClient(t, hub), Logger: discard})

	hub.set(http.StatusBadGateway, "plant-a")
	a.poll(t.Context())
	cutOff := time.Now()
	// The hub answers the poll but not yet the report the agent sends
	// on its return, as a hub that has not rendered yet.
	hub.set(0, "plant-a")
	hub.mu.Lock()
	hub.reportStatus = http.StatusServiceUnavailable
	hub.mu.Unlock()
	a.poll(t.Context())
	hub.mu.Lock()
	hub.reportStatus = 0
	hub.mu.Unlock()
	a.report(t.Context())

	hub.mu.Lock()
	rep := hub.report
	hub.mu.Unlock()
	if began := rep.Time.Add(-rep.Offline); rep.Offline <= 0 || began.After(cutOff) {
		t.Errorf("report after the hub came back says offline %v, from %v; want from the first failed poll, before %v", rep.Offline, began, cutOff)
	}
	a.report(t.Context())
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if hub.report.Offline != 0 {
		t.Errorf("a report made in reach of the hub says offline %v, want none", hub.report.Offline)
	}
}
