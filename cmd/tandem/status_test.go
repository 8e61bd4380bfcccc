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
	"github.com/tandem-gitops/tandem/reconciler"
)

const (
	mainRevision  = "refs/heads/main@sha1:4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	priorRevision = "refs/heads/main@sha1:9c1185a5c5e9fc54612808977ee8f548b2258d31"
)

// daemonStatus is what a daemon rolling out a new revision serves: the
// cloud and a plant are done, another plant is still waiting for health.
// Its phases began minutes ago, so that the ages printed stay the same
// however slowly a test runs.
func daemonStatus(now time.Time) daemon.Status {
	applied := now.Add(-90 * time.Second)
	return daemon.Status{
		Source: daemon.SourceStatus{URL: "https://git.example.com/iot/config.git", Ref: "refs/heads/main", Revision: mainRevision},
		Render: daemon.RenderStatus{Revision: mainRevision, LastGoodRevision: mainRevision},
		Targets: []daemon.TargetStatus{
			{Solution: "smart-factory", Tier: "cloud", Cluster: "cloud", DesiredRevision: mainRevision, AppliedRevision: mainRevision,
				Phase: "Ready", Message: "revision " + mainRevision + " applied, 9 objects ready",
				Changes: daemon.Changes{Configured: 1, Unchanged: 8}, Since: now.Add(-3 * time.Hour), LastReconcile: &applied},
			{Solution: "smart-factory", Tier: "edge", Cluster: "plant-a", DesiredRevision: mainRevision, AppliedRevision: mainRevision,
				Phase: "Ready", Message: "revision " + mainRevision + " applied, 7 objects ready",
				Changes: daemon.Changes{Configured: 1, Unchanged: 6}, Since: now.Add(-25 * time.Minute), LastReconcile: &applied,
				Models: []reconciler.ModelServing{{Model: "defect-detector", Workload: "Deployment/factory-edge/inference",
					Versions: []reconciler.VersionCount{{Version: "1.5.0", Pods: 3, Available: 3}}}}},
			{Solution: "smart-factory", Tier: "edge", Cluster: "plant-b", DesiredRevision: mainRevision, AppliedRevision: priorRevision,
				Phase: "Progressing", Message: "waiting for 2 objects\nto become ready",
				Changes: daemon.Changes{Configured: 2, Unchanged: 5}, Since: now.Add(-12 * time.Minute),
				Models: []reconciler.ModelServing{{Model: "defect-detector", Workload: "Deployment/factory-edge/inference",
					Versions: []reconciler.VersionCount{{Version: "1.4.0", Pods: 2, Available: 2}, {Version: "1.5.0", Pods: 2, Available: 1}}}}},
		},
	}
}

// serveStatus serves st at /api/v1/status, as tandem serve does.
func serveStatus(t *testing.T, st daemon.Status) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestStatusFromServerPrintsATableOfEveryTarget(t *testing.T) {
	url := serveStatus(t, daemonStatus(time.Now()))
	stdout, _, err := run(t, "status", "--server", url)
	if exitStatus(err) != exitFailure || err.Error() != "1 of 3 target(s) not Ready" {
		t.Errorf("exit %d, %v; want exit 1: 1 of 3 target(s) not Ready", exitStatus(err), err)
	}
	golden(t, "status-server.txt", stdout)
}

func TestStatusFromServerShowsWhenEachPullSitesAgentWasSeen(t *testing.T) {
	now := time.Now()
	st := daemonStatus(now)
	seen := now.Add(-20 * time.Minute)
	st.Targets = append(st.Targets, daemon.TargetStatus{Solution: "smart-factory", Tier: "edge", Cluster: "plant-c",
		DesiredRevision: mainRevision, AppliedRevision: mainRevision, Phase: daemon.PhaseUnknown, Since: now.Add(-time.Minute),
		Message: "agent last seen 20m0s ago; it last reported Ready at " + mainRevision,
		Mode:    "pull", Agent: &daemon.AgentStatus{LastSeen: seen}})
	stdout, _, err := run(t, "status", "--server", serveStatus(t, st))
	if exitStatus(err) != exitFailure || err.Error() != "2 of 4 target(s) not Ready" {
		t.Errorf("exit %d, %v; want exit 1: 2 of 4 target(s) not Ready", exitStatus(err), err)
	}
	lines := strings.Split(stdout, "\n")
	if !strings.Contains(lines[0], "AGENT") {
		t.Errorf("header %q has no AGENT column", lines[0])
	}
	for _, l := range lines[1:] {
		switch {
		case strings.Contains(l, "plant-c"):
			if !strings.Contains(l, "seen 20m ago") || !strings.Contains(l, "Unknown") {
				t.Errorf("plant-c's row does not say when its agent was seen and that its phase is unknown: %q", l)
			}
		case l != "" && !strings.Contains(l, "<push>"):
			t.Errorf("a push site's row does not say <push>: %q", l)
		}
	}
}

func TestStatusFromServerAsJSON(t *testing.T) {
	st := daemonStatus(time.Now())
	st.Targets = st.Targets[:2]
	url := serveStatus(t, st)
	report := statusJSON(t, exitOK, "--server", url+"/")
	if report.Source == nil || report.Source.Revision != mainRevision || report.Render == nil || report.Render.LastGoodRevision != mainRevision {
		t.Errorf("source %+v, render %+v: want the daemon's", report.Source, report.Render)
	}
	if len(report.Targets) != 2 {
		t.Fatalf("%d targets, want 2", len(report.Targets))
	}
	got := report.Targets[1]
	if got.Cluster != "plant-a" || got.Revision != mainRevision || got.DesiredRevision != mainRevision ||
		got.Changes == nil || got.Changes.Configured != 1 || !got.Since.Equal(st.Targets[1].Since) {
		t.Errorf("plant-a: %+v, want the daemon's %+v", got, st.Targets[1])
	}
}

func TestStatusModelsShowsTheVersionsEachSitesAvailablePodsRun(t *testing.T) {
	url := serveStatus(t, daemonStatus(time.Now()))
	stdout, _, err := run(t, "status", "models", "--server", url)
	if exitStatus(err) != exitFailure {
		t.Errorf("exit %d (%v), want 1: a target is not Ready", exitStatus(err), err)
	}
	golden(t, "status-models.txt", stdout)

	report := statusJSON(t, exitFailure, "models", "--server", url)
	got := report.Targets[2].Models
	if len(got) != 1 || got[0].Model != "defect-detector" || len(got[0].Versions) != 2 || got[0].Versions[1] != (reconciler.VersionCount{Version: "1.5.0", Pods: 2, Available: 1}) {
		t.Errorf("plant-b models %+v, want the daemon's 1.4.0 and 1.5.0", got)
	}
}

func TestStatusModelsNeedsTheDaemon(t *testing.T) {
	_, _, err := run(t, "status", "models", "--kubeconfig", "fleet")
	if exitStatus(err) != exitUsage || !strings.Contains(err.Error(), "give --server") {
		t.Errorf("exit %d (%v), want %d asking for --server", exitStatus(err), err, exitUsage)
	}
}

func TestStatusFromServerFailsWhenTheLatestRevisionDoesNotRender(t *testing.T) {
	st := daemonStatus(time.Now())
	st.Targets = st.Targets[:2]
	st.Render = daemon.RenderStatus{
		Revision:         priorRevision,
		Error:            "tandem.yaml:9: spec.scale: must not be negative",
		LastGoodRevision: mainRevision,
	}
	_, stderr, err := run(t, "status", "--server", serveStatus(t, st))
	if exitStatus(err) != exitFailure {
		t.Errorf("exit %d (%v), want 1", exitStatus(err), err)
	}
	if !strings.Contains(stderr, "revision "+priorRevision+" does not render; the clusters are given "+mainRevision) ||
		!strings.Contains(stderr, "tandem.yaml:9: spec.scale") {
		t.Errorf("stderr does not report the render error:\n%s", stderr)
	}
}

func TestStatusFromServerReportsAHaltedRollout(t *testing.T) {
	st := daemonStatus(time.Now())
	st.Rollouts = []daemon.RolloutStatus{{Solution: "smart-factory", Revision: mainRevision, Wave: 1, Waves: 2,
		Halted: "wave 1 of 2: edge on plant-a Unreachable"}}
	_, stderr, _ := run(t, "status", "--server", serveStatus(t, st))
	want := "Rollout of smart-factory at " + mainRevision + ": wave 1 of 2 released; halted by edge on plant-a Unreachable"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr does not report the halted rollout %q:\n%s", want, stderr)
	}
}

func TestStatusFromServerReportsAnHTTPError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	_, _, err := run(t, "status", "--server", srv.URL)
	if exitStatus(err) != exitFailure || !strings.Contains(err.Error(), "503 Service Unavailable: starting") {
		t.Errorf("exit %d, %v; want exit 1 with the server's answer", exitStatus(err), err)
	}
}

// unreachableKubeconfig has one context, plant-z, whose server is not
// listening.
const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: admin
  user: {token: secret}
contexts:
- name: plant-z
  context: {cluster: gone, user: admin}
current-context: plant-z
`

func TestStatusFromClustersListsAClusterItCannotReadAsUnreachable(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, kubeconfig, unreachableKubeconfig)
	report := statusJSON(t, exitFailure, "--kubeconfig", kubeconfig)
	if len(report.Targets) != 1 {
		t.Fatalf("targets %+v, want one row for plant-z", report.Targets)
	}
	if got := report.Targets[0]; got.Cluster != "plant-z" || got.Phase != "Unreachable" || !strings.Contains(got.Message, "127.0.0.1:1") {
		t.Errorf("row %+v, want plant-z Unreachable naming its server", got)
	}
	_, _, err := run(t, "status", "--kubeconfig", kubeconfig)
	if exitStatus(err) != exitFailure || err.Error() != "cannot read cluster(s) plant-z" {
		t.Errorf("exit %d, %v; want exit 1: cannot read cluster(s) plant-z", exitStatus(err), err)
	}
}

func TestStatusNamesAContextTheKubeconfigLacks(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, kubeconfig, unreachableKubeconfig)
	_, _, err := run(t, "status", "--kubeconfig", kubeconfig, "--context", "plant-a")
	if exitStatus(err) != exitFailure || !strings.Contains(err.Error(), "context plant-a is not in the kubeconfig") {
		t.Errorf("exit %d, %v; want exit 1 naming context plant-a", exitStatus(err), err)
	}
}

func TestStatusRefusesConflictingFlags(t *testing.T) {
	tests := [][]string{
		{"status", "--server", "http://localhost:8080", "--kubeconfig", "fleet"},
		{"status", "--server", "http://localhost:8080", "--context", "plant-a"},
		{"status", "-o", "yaml"},
		{"status", "plant-a"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			if _, _, err := run(t, args...); exitStatus(err) != exitUsage {
				t.Errorf("exit %d (%v), want %d", exitStatus(err), err, exitUsage)
			}
		})
	}
}

func TestShortRevision(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "<none>"},
		{mainRevision, "main@sha1:4b825dc642cb"},
		{"refs/tags/v1.2.0@sha1:4b825dc642cb6eb9a060e54bf8d69288fbee4904", "v1.2.0@sha1:4b825dc642cb"},
		{"sha1:4b825dc642cb6eb9a060e54bf8d69288fbee4904", "sha1:4b825dc642cb"},
		{"dir:/srv/config@sha256:fe8b5fafcb62a480a6cce8f5b36f2e5c8a7e3c49e5bd61e208dfe00c40a763f3", "dir:/srv/config@sha256:fe8b5fafcb62"},
		{"sha1:4b825d", "sha1:4b825d"},
	}
	for _, tt := range tests {
		if got := shortRevision(tt.in); got != tt.want {
			t.Errorf("shortRevision(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// statusJSON runs "tandem status -o json" with args, expects exit code
// want, and returns the report it printed.
func statusJSON(t *testing.T, want int, args ...string) statusReport {
	t.Helper()
	stdout, stderr, err := run(t, append([]string{"status", "-o", "json"}, args...)...)
	if exitStatus(err) != want {
		t.Fatalf("status: exit %d (%v), want %d\n%s", exitStatus(err), err, want, stderr)
	}
	var report statusReport
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("decode status output: %v\n%s", err, stdout)
	}
	return report
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
