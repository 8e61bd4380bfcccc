package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

// TestAgentRunsAPullSiteTheHubCannotReach runs a hub ("tandem serve") with a
// cloud and two push sites, and plant-c as a pull-mode site whose API
// server the hub is never given: an agent beside plant-c applies what the
// hub released to it, under the hub's rollout waves, keeps the site
// converged while the hub is down, and reports back once it is up again.
func TestAgentRunsAPullSiteTheHubCannotReach(t *testing.T) {
	e, a := newPullFleet(t)
	const converge = 2 * time.Minute
	initial := e.head()
	t.Run("the pull site converges through its agent", func(t *testing.T) {
		e.t, a.t = t, t
		st := e.waitConverged(initial, converge)
		e.assertMatchesRender(e.expected())
		for _, ts := range st.Targets {
			if ts.Cluster != "plant-c" {
				if ts.Mode != "" || ts.Agent != nil {
					t.Errorf("%s/%s on %s: mode %q, agent %+v; want a push site", ts.Solution, ts.Tier, ts.Cluster, ts.Mode, ts.Agent)
				}
				continue
			}
			if ts.Mode != "pull" || ts.Agent == nil || ts.Agent.LastReport == nil || ts.Agent.Digest == "" {
				t.Errorf("%s/%s on plant-c: mode %q, agent %+v; want a pull site with the agent's report", ts.Solution, ts.Tier, ts.Mode, ts.Agent)
			}
		}
		families, err := e.metrics()
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := metricValue(families, "tandem_cluster_requests_total", map[string]string{"cluster": "plant-c"}); ok {
			t.Errorf("the hub sent %v requests to plant-c's API server, want none", v)
		}
		if v, ok := metricValue(families, "tandem_cluster_requests_total", map[string]string{"cluster": "plant-b"}); !ok || v == 0 {
			t.Errorf("the hub counts no requests to plant-b's API server: the metric does not tell")
		}
	})

	t.Run("a token reads only its own site's release", func(t *testing.T) {
		url := "http://" + e.listen + "/api/v1/sites/plant-c/release"
		for _, tc := range []struct {
			token string
			want  int
		}{{"", http.StatusUnauthorized}, {"not-a-token-of-any-site", http.StatusUnauthorized}, {plantAToken, http.StatusForbidden}, {plantCToken, http.StatusOK}} {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET plant-c's release with token %q: %s, want %d", tc.token, resp.Status, tc.want)
			}
		}
		if log := testbed.TailFile(e.logPath, 100000); strings.Contains(log, plantAToken) || strings.Contains(log, plantCToken) {
			t.Errorf("the hub logged a token")
		}
	})

	var scaled string
	t.Run("a scale change reaches the pull site in its wave", func(t *testing.T) {
		e.t, a.t = t, t
		e.edit("tandem.yaml", func(s string) string { return strings.Replace(s, "scale: 3", "scale: 5", 1) })
		scaled = e.commitAndPush("Scale smart-factory to 5")
		// plant-c is in the second wave: it is given the commit only once
		// the canary, plant-a, is Ready at it.
		e.eventually(converge, "every cluster Ready at the scale change, plant-c after the canary", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			canary, released := true, false
			for _, ts := range st.Targets {
				switch ts.Cluster {
				case "plant-a":
					canary = canary && ts.Phase == "Ready" && strings.HasSuffix(ts.AppliedRevision, scaled)
				case "plant-c":
					released = released || strings.HasSuffix(ts.DesiredRevision, scaled)
				}
			}
			if released && !canary {
				t.Fatalf("plant-c was released the scale change before the canary was Ready at it: %+v", st.Targets)
			}
			return converged(st, scaled)
		})
		e.assertMatchesRender(e.expected())
	})

	want := e.replicas("plant-c", "Deployment", "factory-edge", "inference")
	t.Run("with the hub down, the agent corrects drift", func(t *testing.T) {
		e.t, a.t = t, t
		e.stopDaemon(syscall.SIGTERM)
		e.scaleByHand("plant-c", "factory-edge", "inference", want+2)
		a.waitReplicas(want, "put back by the agent while the hub is down")
	})

	t.Run("a restarted agent with no hub runs the release it stored", func(t *testing.T) {
		e.t, a.t = t, t
		a.stop()
		a.start()
		e.scaleByHand("plant-c", "factory-edge", "inference", want+3)
		a.waitReplicas(want, "put back by the restarted agent while the hub is down")
	})

	t.Run("the restarted hub shows the pull site converged from the agent's report", func(t *testing.T) {
		e.t, a.t = t, t
		e.startDaemon()
		st := e.waitConverged(scaled, converge)
		for _, ts := range st.Targets {
			if ts.Cluster == "plant-c" && (ts.Agent == nil || ts.Agent.LastReport == nil || ts.Agent.Offline <= 0) {
				t.Errorf("%s/%s on plant-c: agent %+v; want its report, saying how long it was cut off", ts.Solution, ts.Tier, ts.Agent)
			}
		}
	})

	t.Run("an agent whose render differs from the hub's refuses to apply", func(t *testing.T) {
		e.t, a.t = t, t
		// Another ref at the same commit: the agent renders the same
		// objects, but as another tandem instance than the hub.
		e.gitRun("-C", e.clone, "push", "--quiet", "origin", "HEAD:refs/heads/plant-c-local")
		a.stop()
		a.args = []string{"--ref", "plant-c-local"}
		a.start()
		e.edit("tandem.yaml", func(s string) string { return strings.Replace(s, "scale: 5", "scale: 6", 1) })
		e.gitRun("-C", e.clone, "commit", "--quiet", "--all", "-m", "Scale smart-factory to 6")
		again := e.head()
		e.gitRun("-C", e.clone, "push", "--quiet", "origin", "HEAD:refs/heads/plant-c-local")
		e.gitRun("-C", e.clone, "push", "--quiet", "origin", "main")
		var refusal string
		e.eventually(converge, "plant-c's agent refusing the scale change", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			for _, ts := range st.Targets {
				if ts.Cluster == "plant-c" && strings.HasSuffix(ts.DesiredRevision, again) && ts.Agent != nil && strings.Contains(ts.Agent.Refused, again) {
					refusal = ts.Agent.Refused
					if !strings.Contains(ts.Message, "refuses the release") {
						return fmt.Errorf("%s/%s on plant-c says %q, not the refusal", ts.Solution, ts.Tier, ts.Message)
					}
					return nil
				}
			}
			return fmt.Errorf("no refusal of %s from plant-c's agent yet", again[:8])
		})
		for _, says := range []string{"digest", "instance", "plant-c-local", "--instance"} {
			if !strings.Contains(refusal, says) {
				t.Errorf("the refusal does not say %q: %s", says, refusal)
			}
		}
		if got := e.replicas("plant-c", "Deployment", "factory-edge", "inference"); got != want {
			t.Errorf("plant-c inference at %d replicas after the refused release, want %d as before", got, want)
		}
		if !strings.Contains(testbed.TailFile(a.logPath(), 200), "release refused") {
			t.Errorf("the agent's log does not say it refused the release")
		}
	})

	t.Run("a site taken out of pull mode: its agent stops and forgets its release", func(t *testing.T) {
		e.t, a.t = t, t
		stored := &unstructured.Unstructured{}
		stored.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"})
		key := client.ObjectKey{Namespace: "tandem-system", Name: "tandem-agent-plant-c"}
		if err := e.clients["plant-c"].Get(context.Background(), key, stored); err != nil {
			t.Fatalf("the agent's stored release: %v", err)
		}
		e.edit("sites/plant-c.yaml", func(s string) string { return strings.Replace(s, "  mode: pull\n", "", 1) })
		e.commitAndPush("Push to plant-c from the hub")
		e.eventually(time.Minute, "the agent's stored release deleted", func() error {
			err := e.clients["plant-c"].Get(context.Background(), key, stored)
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("ConfigMap %s still there (%v)", key, err)
		})
		if log := testbed.TailFile(a.logPath(), 200); !strings.Contains(log, "no pull-mode site: the agent stops applying") {
			t.Errorf("the agent's log does not say it stopped applying")
		}
	})
}

// The agent tokens of the pull-mode site plant-c and of plant-a.
const plantCToken, plantAToken = "plant-c-token-0123456789", "plant-a-token-0123456789"

// newPullFleet starts full clusters for the fixture, whose plant-c is made a
// pull-mode site, a hub given every cluster but plant-c, and an agent for
// plant-c.
func newPullFleet(t testing.TB) (*fleetEnv, *agentProc) {
	t.Helper()
	fixture := t.TempDir()
	if err := os.CopyFS(fixture, os.DirFS("../fixtures/smart-factory")); err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(fixture, "sites", "plant-c.yaml")
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(site, []byte(strings.Replace(string(data), "  cluster: plant-c\n", "  cluster: plant-c\n  mode: pull\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	tokens := filepath.Join(dir, "agent-tokens")
	if err := os.WriteFile(tokens, []byte("plant-c:"+plantCToken+"\nplant-a:"+plantAToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newFleetEnvWith(t, []string{"cloud", "plant-a", "plant-b", "plant-c"}, fixture, fleetOptions{})
	hubKubeconfig := kubeconfigWithout(t, e.fleet.Kubeconfig, "plant-c", filepath.Join(dir, "hub-kubeconfig"))
	e.daemonArgs = append(e.daemonArgs, "--kubeconfig", hubKubeconfig, "--agent-tokens", tokens)
	e.startDaemon()

	a := &agentProc{t: t, env: e, dir: filepath.Join(dir, "agent"), token: filepath.Join(dir, "plant-c-token")}
	if err := os.WriteFile(a.token, []byte(plantCToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("--- tandem agent log (last lines)\n%s", testbed.TailFile(a.logPath(), 60))
		}
	})
	a.start()
	return e, a
}

// agentProc is "tandem agent" for plant-c, run as a process.
type agentProc struct {
	t     testing.TB
	env   *fleetEnv
	dir   string
	token string
	args  []string
	// listen is the address of the agent's /healthz and /metrics.
	listen string
	// proc is the running process, and exited closed when it exited.
	proc   *os.Process
	exited chan struct{}
}

func (a *agentProc) logPath() string { return filepath.Join(a.dir, "agent.log") }

// start starts the agent, reaching its site through the fleet's
// kubeconfig context plant-c and the hub at the daemon's address.
func (a *agentProc) start() {
	a.t.Helper()
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		a.t.Fatal(err)
	}
	port, err := testbed.FreePort()
	if err != nil {
		a.t.Fatal(err)
	}
	a.listen = "127.0.0.1:" + strconv.Itoa(port)
	logFile, err := os.OpenFile(a.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.t.Fatal(err)
	}
	args := append([]string{"agent",
		"--site", "plant-c",
		"--hub", "http://" + a.env.listen,
		"--token-file", a.token,
		"--repo", a.env.repoURL,
		"--kubeconfig", a.env.fleet.Kubeconfig,
		"--context", "plant-c",
		"--cache-dir", filepath.Join(a.dir, "cache"),
		"--listen", a.listen,
		"--poll-interval", "1s",
		"--report-interval", "2s",
		"--retry-interval", "1s",
		"--max-retry-interval", "3s",
		"--drift-interval", "1h", // drift is seen by the watch
		"--log-level", "debug",
	}, a.args...)
	cmd := exec.Command(tandemBin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// The kernel sends Pdeathsig when the thread that started the process
	// exits: the thread is held until the process exits.
	started, exited := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(exited)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
	}()
	err = <-started
	logFile.Close()
	if err != nil {
		a.t.Fatal(err)
	}
	a.proc, a.exited = cmd.Process, exited
}

// stop stops the agent and waits for it to exit.
func (a *agentProc) stop() {
	if a.proc == nil {
		return
	}
	select {
	case <-a.exited:
		a.t.Errorf("tandem agent had exited before it was stopped")
	default:
	}
	a.proc.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		a.proc.Kill()
		<-a.exited
		a.t.Errorf("tandem agent did not stop on SIGTERM within 30s")
	}
	a.proc = nil
}

// waitReplicas waits until plant-c's inference Deployment is at want
// replicas again.
func (a *agentProc) waitReplicas(want int64, what string) {
	a.t.Helper()
	a.env.eventually(30*time.Second, fmt.Sprintf("plant-c inference at %d replicas, %s", want, what), func() error {
		if got := a.env.replicas("plant-c", "Deployment", "factory-edge", "inference"); got != want {
			return fmt.Errorf("at %d replicas", got)
		}
		return nil
	})
}

// kubeconfigWithout writes to path the kubeconfig at from without the
// context, cluster and user of cluster, and returns path.
func kubeconfigWithout(t testing.TB, from, cluster, path string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(from)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cluster]
	if ctx == nil {
		t.Fatalf("kubeconfig %s has no context %s", from, cluster)
	}
	delete(cfg.Clusters, ctx.Cluster)
	delete(cfg.AuthInfos, ctx.AuthInfo)
	delete(cfg.Contexts, cluster)
	if cfg.CurrentContext == cluster {
		cfg.CurrentContext = ""
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
