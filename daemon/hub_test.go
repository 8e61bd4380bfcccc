package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tandem-gitops/tandem/agent"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

const (
	hubInstance = "hub-a"
	// canaryToken and mainToken are the agent tokens of the pull sites
	// canary-1 and main-1; pushToken is one written for the push site
	// main-2.
	canaryToken = "canary-1-0123456789abcdef"
	mainToken   = "main-1-0123456789abcdef"
	pushToken   = "main-2-0123456789abcdef"
)

// hubFS is the policy repository rolled out in two waves, canary-1 then
// the main ring, with canary-1 and main-1 pull sites.
func hubFS() fstest.MapFS {
	repo := policyFS("    waves:\n    - {matchLabels: {ring: canary}}\n    - {matchLabels: {ring: main}}\n")
	for _, s := range []string{"canary-1", "main-1"} {
		f := repo["sites/"+s+".yaml"]
		f.Data = bytes.Replace(f.Data, []byte("spec: {}"), []byte("spec: {mode: pull}"), 1)
	}
	return repo
}

// hubApplier records the targets it is given, from the loop's goroutine.
type hubApplier struct {
	mu    sync.Mutex
	given [][]reconciler.Target
}

func (a *hubApplier) Run(ctx context.Context, _ chan<- reconciler.Result) error {
	<-ctx.Done()
	return ctx.Err()
}

func (a *hubApplier) SetTargets(targets []reconciler.Target) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.given = append(a.given, targets)
}

// revisionOn returns the revision of the edge tier the applier was last
// given for cluster, "" when none.
func (a *hubApplier) revisionOn(cluster string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.given) == 0 {
		return ""
	}
	for _, t := range a.given[len(a.given)-1] {
		for _, ts := range t.Tiers {
			if t.Cluster == cluster && ts.Tier == "edge" {
				return ts.Revision
			}
		}
	}
	return ""
}

// clusters returns every cluster the applier was ever given.
func (a *hubApplier) clusters() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, targets := range a.given {
		for _, t := range targets {
			if !slices.Contains(out, t.Cluster) {
				out = append(out, t.Cluster)
			}
		}
	}
	slices.Sort(out)
	return out
}

// syncClock is a test's time, moved by hand and read by the loop and the
// HTTP handlers.
type syncClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *syncClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *syncClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// agentTokenFile writes the agent tokens of the hub's tests and reads
// them as tandem serve --agent-tokens does.
func agentTokenFile(t *testing.T) *TokenFiles {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent-tokens")
	content := "canary-1:" + canaryToken + "\nmain-1:" + mainToken + "\nmain-2:" + pushToken + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := ReadTokenFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	return tf
}

// hubConfig is the configuration of the hub's tests, over hubFS.
func hubConfig(t *testing.T, applier Applier) Config {
	return Config{Source: fakeSource{make(chan sources.Revision, 1)}, Trees: trees{"b1": hubFS()}, Applier: applier,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Instance: hubInstance, AgentTokens: agentTokenFile(t),
		AgentTimeout: time.Minute}
}

// runHub runs a daemon for cfg, hands it revision b1, waits until it has
// rendered it and serves its API.
func runHub(t *testing.T, cfg Config) (*Daemon, *httptest.Server) {
	t.Helper()
	d := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	cfg.Source.(fakeSource).give(revisionAt("b1"))
	eventually(t, "revision b1 rendered", func() bool { return d.Status().Render.LastGoodRevision == revisionAt("b1").String() })
	srv := httptest.NewServer(d.Handler(nil))
	t.Cleanup(srv.Close)
	return d, srv
}

// eventually waits until done holds, failing the test after a deadline.
func eventually(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("never %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// callAPI makes a request of the daemon's API as the holder of token,
// posting body as JSON when it is not nil.
func callAPI(t *testing.T, srv *httptest.Server, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var in io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		in = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, srv.URL+path, in)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// reportReady posts canary-1's report that its edge tier is Ready at b1,
// naming cluster as the result's.
func reportReady(t *testing.T, srv *httptest.Server, cluster string, finished time.Time) {
	t.Helper()
	rep := agent.Report{Version: "v0.9.0", Time: finished, Results: []reconciler.Result{{
		Key:      reconciler.Key{Cluster: cluster, Solution: "plant", Tier: "edge"},
		Revision: revisionAt("b1").String(), Phase: reconciler.PhaseReady, Started: finished.Add(-time.Second), Finished: finished,
	}}}
	if code, body := callAPI(t, srv, http.MethodPost, "/api/v1/sites/canary-1/status", canaryToken, rep); code != http.StatusNoContent {
		t.Fatalf("report: %d %s, want 204", code, body)
	}
}

// targetOf returns the status of the edge tier on cluster, read through
// the API.
func targetOf(t *testing.T, srv *httptest.Server, cluster string) TargetStatus {
	t.Helper()
	resp, err := http.Get(srv.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("decode status: %v", err)
	}
	for _, ts := range st.Targets {
		if ts.Cluster == cluster && ts.Tier == "edge" {
			return ts
		}
	}
	t.Fatalf("status has no edge tier on %s: %+v", cluster, st.Targets)
	return TargetStatus{}
}

func TestAgentAPIAnswersAPullSiteOnlyWithItsOwnToken(t *testing.T) {
	_, srv := runHub(t, hubConfig(t, &hubApplier{}))
	for _, tt := range []struct {
		name, site, token string
		status            int
	}{
		{"no token", "canary-1", "", http.StatusUnauthorized},
		{"a token of no site", "canary-1", "nobody-0123456789abcdef", http.StatusUnauthorized},
		{"another pull site's token", "canary-1", mainToken, http.StatusForbidden},
		{"the token of a push site", "main-2", pushToken, http.StatusGone},
		{"its own token", "canary-1", canaryToken, http.StatusOK},
	} {
		for _, path := range []string{"/release", "/status"} {
			method, body := http.MethodGet, any(nil)
			if path == "/status" {
				method, body = http.MethodPost, agent.Report{Version: "v0.9.0"}
			}
			code, out := callAPI(t, srv, method, "/api/v1/sites/"+tt.site+path, tt.token, body)
			if want := tt.status; code != want && !(want == http.StatusOK && method == http.MethodPost && code == http.StatusNoContent) {
				t.Errorf("%s: %s %s: %d %s, want %d", tt.name, method, path, code, out, want)
			}
		}
	}

	res, err := renderer.Render(context.Background(), hubFS(), renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rev := revisionAt("b1").String()
	targets := newRollout(res, rev, nil, time.Now()).targets()
	i := slices.IndexFunc(targets, func(t reconciler.Target) bool { return t.Cluster == "canary-1" })
	if i < 0 {
		t.Fatalf("the rollout gives canary-1 nothing: %v", targets)
	}
	digest, err := reconciler.Digest(targets[i], hubInstance)
	if err != nil {
		t.Fatal(err)
	}
	code, out := callAPI(t, srv, http.MethodGet, "/api/v1/sites/canary-1/release", canaryToken, nil)
	var rel agent.Release
	if err := json.Unmarshal(out, &rel); code != http.StatusOK || err != nil {
		t.Fatalf("release: %d %s (%v)", code, out, err)
	}
	want := []agent.ReleasedTier{{Solution: "plant", Tier: "edge", Revision: rev}}
	if rel.Site != "canary-1" || rel.Cluster != "canary-1" || rel.Instance != hubInstance || !slices.Equal(rel.Tiers, want) {
		t.Errorf("release %+v, want canary-1's edge tier at %s from %s", rel, rev, hubInstance)
	}
	if rel.Digest != digest {
		t.Errorf("release digest %s, want the digest of the rollout's target %s", rel.Digest, digest)
	}
}

func TestAgentAPIIsOffWithoutAgentTokens(t *testing.T) {
	cfg := hubConfig(t, &hubApplier{})
	cfg.AgentTokens = nil
	_, srv := runHub(t, cfg)
	if code, out := callAPI(t, srv, http.MethodGet, "/api/v1/sites/canary-1/release", canaryToken, nil); code != http.StatusForbidden || !strings.Contains(string(out), "--agent-tokens") {
		t.Errorf("release without agent tokens: %d %s, want 403 naming --agent-tokens", code, out)
	}
}

func TestAgentReportReleasesTheNextWaveAndShowsInStatus(t *testing.T) {
	applier := &hubApplier{}
	_, srv := runHub(t, hubConfig(t, applier))
	rev := revisionAt("b1").String()
	if got := applier.revisionOn("main-2"); got != "" {
		t.Fatalf("main-2 was given %s before canary-1's agent reported", got)
	}
	if st := targetOf(t, srv, "canary-1"); st.Mode != "pull" || st.Phase != PhasePending || st.Agent == nil || !st.Agent.LastSeen.IsZero() {
		t.Errorf("canary-1 before its agent's contact: %+v, want Pending in pull mode, never seen", st)
	}

	// The agent names another site's cluster: the hub takes the result
	// as its own site's.
	reportReady(t, srv, "main-2", time.Now())
	// The loop hands out the next wave before it publishes the status.
	eventually(t, "canary-1 Ready", func() bool { return targetOf(t, srv, "canary-1").Phase == string(reconciler.PhaseReady) })
	if got := applier.revisionOn("main-2"); got != rev {
		t.Errorf("main-2 given %q once canary-1's agent reported Ready, want wave 2 released at %s", got, rev)
	}
	st := targetOf(t, srv, "canary-1")
	if st.Phase != string(reconciler.PhaseReady) || st.AppliedRevision != rev || st.Mode != "pull" {
		t.Errorf("canary-1 after its report: phase %s, applied %q, mode %q; want Ready at %s in pull mode", st.Phase, st.AppliedRevision, st.Mode, rev)
	}
	if a := st.Agent; a == nil || a.LastSeen.IsZero() || a.LastReport == nil || a.Version != "v0.9.0" {
		t.Errorf("canary-1's agent %+v, want seen, reported, at v0.9.0", a)
	}
	if st := targetOf(t, srv, "main-2"); st.Phase != PhasePending || st.Mode != "" || st.Agent != nil {
		t.Errorf("main-2, a push site no pass reached: %+v, want Pending with no agent", st)
	}
	if st := targetOf(t, srv, "main-1"); st.Mode != "pull" || st.DesiredRevision != rev {
		t.Errorf("main-1, a pull site of wave 2: %+v, want pull mode, desired %s", st, rev)
	}
	for _, c := range applier.clusters() {
		if c == "canary-1" || c == "main-1" {
			t.Errorf("the applier was given pull site %s's cluster: %v", c, applier.clusters())
		}
	}
}

// passes returns the passes the daemon's metrics count on cluster.
func passes(t *testing.T, d *Daemon, cluster string) uint64 {
	t.Helper()
	families, err := d.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, f := range families {
		if f.GetName() != "tandem_reconcile_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cluster" && l.GetValue() == cluster {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}

func TestARepeatedAgentReportCountsItsPassOnce(t *testing.T) {
	d, srv := runHub(t, hubConfig(t, &hubApplier{}))
	first := time.Now().Truncate(time.Second)
	reportReady(t, srv, "canary-1", first)
	eventually(t, "canary-1 Ready", func() bool { return targetOf(t, srv, "canary-1").Phase == string(reconciler.PhaseReady) })
	reportReady(t, srv, "canary-1", first)
	// The loop takes reports in order: once the next pass shows, the
	// repeated one has been taken, if it was handed on at all.
	next := first.Add(time.Minute)
	reportReady(t, srv, "canary-1", next)
	eventually(t, "the next pass shown", func() bool {
		last := targetOf(t, srv, "canary-1").LastReconcile
		return last != nil && last.Equal(next)
	})
	if n := passes(t, d, "canary-1"); n != 2 {
		t.Errorf("metrics count %d passes on canary-1, want 2 (the repeated report not counted)", n)
	}
}

func TestTheHubKeepsHowLongAnAgentWasLastCutOff(t *testing.T) {
	_, srv := runHub(t, hubConfig(t, &hubApplier{}))
	back := agent.Report{Version: "v0.9.0", Time: time.Now(), Offline: 3 * time.Minute}
	if code, body := callAPI(t, srv, http.MethodPost, "/api/v1/sites/canary-1/status", canaryToken, back); code != http.StatusNoContent {
		t.Fatalf("report: %d %s, want 204", code, body)
	}
	// The reports that follow were made with the hub in reach.
	reportReady(t, srv, "canary-1", time.Now())
	eventually(t, "canary-1 Ready", func() bool { return targetOf(t, srv, "canary-1").Phase == string(reconciler.PhaseReady) })
	if a := targetOf(t, srv, "canary-1").Agent; a == nil || a.Offline != 3*time.Minute {
		t.Errorf("canary-1's agent after a report made in reach: %+v, want the 3m it was last cut off", a)
	}
}

func TestAPullSiteWhoseAgentIsSilentIsUnknown(t *testing.T) {
	clock := &syncClock{t: time.Now().Truncate(time.Second)}
	cfg := hubConfig(t, &hubApplier{})
	cfg.Now = clock.now
	d, srv := runHub(t, cfg)
	reportReady(t, srv, "canary-1", clock.now())
	eventually(t, "canary-1 Ready", func() bool { return targetOf(t, srv, "canary-1").Phase == string(reconciler.PhaseReady) })
	// Of the pull sites, only canary-1's agent was seen: one series.
	if got, want := testutil.ToFloat64(d.hub), float64(clock.now().UnixNano())/1e9; got != want {
		t.Errorf("tandem_agent_last_seen_timestamp_seconds = %v, want canary-1's last contact %v", got, want)
	}

	clock.add(cfg.AgentTimeout)
	if st := targetOf(t, srv, "canary-1"); st.Phase != string(reconciler.PhaseReady) {
		t.Errorf("canary-1 silent for just the agent timeout: %s %q, want still Ready", st.Phase, st.Message)
	}
	clock.add(time.Second)
	st := targetOf(t, srv, "canary-1")
	if st.Phase != PhaseUnknown || !strings.Contains(st.Message, "agent last seen 61s ago") || !strings.Contains(st.Message, "Ready") {
		t.Errorf("canary-1 silent past the agent timeout: %s %q, want Unknown saying when its agent was last seen and what it reported", st.Phase, st.Message)
	}
	if code, out := callAPI(t, srv, http.MethodGet, "/api/v1/sites/canary-1/release", canaryToken, nil); code != http.StatusOK {
		t.Fatalf("release: %d %s", code, out)
	}
	if st := targetOf(t, srv, "canary-1"); st.Phase != string(reconciler.PhaseReady) {
		t.Errorf("canary-1 once its agent is back: %s %q, want Ready again", st.Phase, st.Message)
	}
}

func TestAReportTheLoopDidNotTakeIsTakenWhenPostedAgain(t *testing.T) {
	cfg := hubConfig(t, &hubApplier{})
	d := New(cfg)
	d.follow(context.Background(), revisionAt("b1"))
	d.publish()
	rep := agent.Report{Version: "v0.9.0", Results: []reconciler.Result{ready("canary-1", "edge", revisionAt("b1"))}}
	rep.Results[0].Solution = "plant"
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	// The agent gives up before the loop, not running yet, takes it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/sites/canary-1/status", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+canaryToken)
	d.Handler(nil).ServeHTTP(httptest.NewRecorder(), req)

	run, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(run) }()
	t.Cleanup(func() { stop(); <-done })
	srv := httptest.NewServer(d.Handler(nil))
	t.Cleanup(srv.Close)
	if code, out := callAPI(t, srv, http.MethodPost, "/api/v1/sites/canary-1/status", canaryToken, rep); code != http.StatusNoContent {
		t.Fatalf("report again: %d %s", code, out)
	}
	eventually(t, "canary-1 Ready", func() bool { return targetOf(t, srv, "canary-1").Phase == string(reconciler.PhaseReady) })
}

func TestAgentAPIKeepsTheLastGoodTokensWhenTheirFileIsGone(t *testing.T) {
	cfg := hubConfig(t, &hubApplier{})
	tokens := cfg.AgentTokens.(*TokenFiles)
	clock := &syncClock{t: time.Now()}
	tokens.now = clock.now
	_, srv := runHub(t, cfg)
	if err := os.Remove(tokens.path); err != nil {
		t.Fatal(err)
	}
	clock.add(tokenRecheck)
	if code, out := callAPI(t, srv, http.MethodGet, "/api/v1/sites/canary-1/release", canaryToken, nil); code != http.StatusOK {
		t.Errorf("release once the token file is gone: %d %s, want 200 with the last good tokens", code, out)
	}
	if code, out := callAPI(t, srv, http.MethodGet, "/api/v1/sites/canary-1/release", mainToken, nil); code != http.StatusForbidden {
		t.Errorf("release with main-1's token once the token file is gone: %d %s, want 403", code, out)
	}
}
