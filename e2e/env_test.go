package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/e2e/gitserver"
	"github.com/tandem-gitops/tandem/e2e/testbed"
	"github.com/tandem-gitops/tandem/renderer"
)

// fleetEnv is the whole product running for real: local clusters, a Git
// server holding the config repository, a clone to author commits in, and
// "tandem serve" as a process that the push webhook reaches.
type fleetEnv struct {
	t          testing.TB
	fleet      *testbed.Fleet
	git        *gitserver.Server
	repoURL    string
	clone      string
	listen     string
	secretFile string
	cacheDir   string
	logPath    string
	daemon     *exec.Cmd
	clients    map[string]client.Client
	// daemonArgs are added to, and override, the flags startDaemon
	// passes; daemonEnv is added to its environment.
	daemonArgs []string
	daemonEnv  []string
}

// fleetOptions shape a fleetEnv beyond its clusters and fixture.
type fleetOptions struct {
	// APIServerOnly starts API servers alone, without what runs workloads:
	// enough for objects that are healthy once stored, and far lighter.
	APIServerOnly bool
	// Lean starts each API server small (testbed.Options.Lean); only with
	// APIServerOnly.
	Lean bool
	// Parallel bounds how many clusters start at once; zero starts all.
	Parallel int
	// StartTimeout bounds the start of each cluster; zero means testbed's.
	StartTimeout time.Duration
	// Logf receives the clusters' progress lines; nil means the test log.
	Logf func(format string, args ...any)
	// DaemonArgs are added to the flags of "tandem serve", and DaemonEnv
	// to its environment.
	DaemonArgs []string
	DaemonEnv  []string
}

func newFleetEnv(t *testing.T, clusters []string, fixture string) *fleetEnv {
	t.Helper()
	return newFleetEnvWith(t, clusters, fixture, fleetOptions{})
}

func newFleetEnvWith(t testing.TB, clusters []string, fixture string, opts fleetOptions) *fleetEnv {
	t.Helper()
	e := &fleetEnv{t: t, clients: map[string]client.Client{}, daemonArgs: opts.DaemonArgs, daemonEnv: opts.DaemonEnv}
	e.fleet = testbed.StartT(t, testbed.Options{Names: clusters, Full: !opts.APIServerOnly,
		Lean: opts.Lean, Parallel: opts.Parallel, StartTimeout: opts.StartTimeout, Logf: opts.Logf})
	for _, c := range e.fleet.Clusters() {
		kube, err := client.New(c.RESTConfig(), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e.clients[c.Name] = kube
	}

	port, err := testbed.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	e.listen = "127.0.0.1:" + strconv.Itoa(port)
	dir := t.TempDir()
	e.secretFile = filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(e.secretFile, []byte("e2e-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.cacheDir = filepath.Join(dir, "cache")
	e.logPath = filepath.Join(dir, "tandem.log")

	e.git, err = gitserver.Start(gitserver.Options{
		Root:          filepath.Join(dir, "git"),
		WebhookURL:    "http://" + e.listen + "/hooks/git",
		WebhookSecret: []byte("e2e-secret"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.git.Close() })
	if err := os.MkdirAll(filepath.Join(dir, "git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if e.repoURL, err = e.git.CreateRepo("config", fixture, "Initial smart-factory solution"); err != nil {
		t.Fatal(err)
	}
	e.clone = filepath.Join(dir, "clone")
	e.gitRun("clone", "--quiet", e.repoURL, e.clone)

	t.Cleanup(func() {
		e.stopDaemon(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("--- tandem serve log (last lines)\n%s", testbed.TailFile(e.logPath, 60))
		}
	})
	return e
}

// replica is a second "tandem serve" for the same clusters and repository,
// with its own address, cache and log; the push webhook reaches only e.
func (e *fleetEnv) replica() *fleetEnv {
	e.t.Helper()
	r := *e
	port, err := testbed.FreePort()
	if err != nil {
		e.t.Fatal(err)
	}
	dir := e.t.TempDir()
	r.listen = "127.0.0.1:" + strconv.Itoa(port)
	r.cacheDir, r.logPath, r.daemon = filepath.Join(dir, "cache"), filepath.Join(dir, "tandem.log"), nil
	e.t.Cleanup(func() {
		r.stopDaemon(syscall.SIGTERM)
		if e.t.Failed() {
			e.t.Logf("--- replica's tandem serve log (last lines)\n%s", testbed.TailFile(r.logPath, 40))
		}
	})
	return &r
}

// otherRepository is a second "tandem serve", a tandem instance of its own,
// on e's clusters: it follows the repository name, created on e's Git
// server from the files of dir, and authors commits in a clone of it. The
// push webhook reaches only e, so it fetches every second instead.
func (e *fleetEnv) otherRepository(name, dir string) *fleetEnv {
	e.t.Helper()
	r := e.replica()
	var err error
	if r.repoURL, err = e.git.CreateRepo(name, dir, "Initial "+name+" solution"); err != nil {
		e.t.Fatal(err)
	}
	r.clone = filepath.Join(e.t.TempDir(), "clone")
	r.gitRun("clone", "--quiet", r.repoURL, r.clone)
	r.daemonArgs = append(slices.Clone(e.daemonArgs), "--interval", "1s")
	return r
}

// startDaemon starts "tandem serve" and waits until it answers /healthz.
func (e *fleetEnv) startDaemon() {
	e.t.Helper()
	logFile, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	args := []string{"serve",
		"--repo", e.repoURL,
		"--kubeconfig", e.fleet.Kubeconfig,
		"--listen", e.listen,
		"--webhook-secret-file", e.secretFile,
		"--cache-dir", e.cacheDir,
		"--interval", "1h", // pushes arrive by webhook
		"--drift-interval", "5s",
		"--retry-interval", "1s",
		"--max-retry-interval", "3s",
		"--health-timeout", "2m",
		"--log-level", "debug",
	}
	cmd := exec.Command(tandemBin, append(args, e.daemonArgs...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if len(e.daemonEnv) > 0 {
		cmd.Env = append(os.Environ(), e.daemonEnv...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	logFile.Close()
	e.daemon = cmd
	e.eventually(30*time.Second, "tandem serve answers /healthz", func() error {
		resp, err := http.Get("http://" + e.listen + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// stopDaemon signals the daemon and waits for it to exit.
func (e *fleetEnv) stopDaemon(sig syscall.Signal) {
	if e.daemon == nil {
		return
	}
	e.daemon.Process.Signal(sig)
	done := make(chan struct{})
	go func() { e.daemon.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		e.daemon.Process.Kill()
		<-done
		e.t.Errorf("tandem serve did not stop on %v within 40s", sig)
	}
	e.daemon = nil
}

func (e *fleetEnv) status() (daemon.Status, error) {
	return fetchStatus("http://" + e.listen + "/api/v1/status")
}

// fetchStatus reads a daemon's status endpoint.
func fetchStatus(url string) (daemon.Status, error) {
	var st daemon.Status
	resp, err := http.Get(url)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// gitRun runs git in the clone's parent and fails the test on error.
func (e *fleetEnv) gitRun(args ...string) string {
	e.t.Helper()
	out, err := gitserver.Git(args...)
	if err != nil {
		e.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// commitAndPush commits everything changed in the clone and pushes it,
// returning the new head commit.
func (e *fleetEnv) commitAndPush(message string) string {
	e.t.Helper()
	e.gitRun("-C", e.clone, "add", "--all")
	e.gitRun("-C", e.clone, "commit", "--quiet", "-m", message)
	e.gitRun("-C", e.clone, "push", "--quiet", "origin", "main")
	return e.head()
}

func (e *fleetEnv) head() string { return e.gitRun("-C", e.clone, "rev-parse", "HEAD") }

// edit rewrites a file of the clone.
func (e *fleetEnv) edit(path string, change func(string) string) {
	e.t.Helper()
	full := filepath.Join(e.clone, path)
	data, err := os.ReadFile(full)
	if err != nil {
		e.t.Fatal(err)
	}
	changed := change(string(data))
	if changed == string(data) {
		e.t.Fatalf("edit of %s changed nothing", path)
	}
	if err := os.WriteFile(full, []byte(changed), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// waitConverged waits until every target of the status has applied commit
// and is Ready, except the clusters in except, and returns the status.
func (e *fleetEnv) waitConverged(commit string, timeout time.Duration, except ...string) daemon.Status {
	e.t.Helper()
	var st daemon.Status
	e.eventually(timeout, "every cluster Ready at "+commit[:8], func() error {
		var err error
		st, err = e.convergedAt(commit, except...)
		return err
	})
	return st
}

// convergedAt reads the status once and says why not every target (but
// those on the clusters in except) is Ready at commit, or nil.
func (e *fleetEnv) convergedAt(commit string, except ...string) (daemon.Status, error) {
	st, err := e.status()
	if err != nil {
		return st, err
	}
	return st, converged(st, commit, except...)
}

// converged says why the status does not show every target (but those on
// the clusters in except) Ready at commit, or nil when it does.
func converged(st daemon.Status, commit string, except ...string) error {
	if !strings.HasSuffix(st.Render.LastGoodRevision, commit) {
		return fmt.Errorf("last rendered revision %q (render error %q)", st.Render.LastGoodRevision, st.Render.Error)
	}
	if len(st.Targets) == 0 {
		return fmt.Errorf("no targets")
	}
	for _, ts := range st.Targets {
		if slices.Contains(except, ts.Cluster) {
			continue
		}
		if ts.Phase != "Ready" || !strings.HasSuffix(ts.AppliedRevision, commit) {
			return fmt.Errorf("%s/%s on %s: %s at %q: %s", ts.Solution, ts.Tier, ts.Cluster, ts.Phase, ts.AppliedRevision, ts.Message)
		}
	}
	return nil
}

// expected renders the clone as it is now: what the clusters must run.
func (e *fleetEnv) expected() *renderer.Result {
	e.t.Helper()
	res, err := renderer.Render(context.Background(), os.DirFS(e.clone), renderer.Options{})
	if err != nil {
		e.t.Fatalf("render the clone: %v", err)
	}
	return res
}

// checkedKinds are the kinds the fixture uses; every cluster must hold
// exactly the rendered objects of these kinds that carry the solution label.
var checkedKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Namespace"},
	{Version: "v1", Kind: "ConfigMap"},
	{Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "ResourceQuota"},
	{Version: "v1", Kind: "LimitRange"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "apps", Version: "v1", Kind: "StatefulSet"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
}

// assertMatchesRender checks every cluster (but those in except) against the
// render: the same objects, no more, no fewer, and workloads at the rendered
// replicas, all Available.
func (e *fleetEnv) assertMatchesRender(res *renderer.Result, except ...string) {
	e.t.Helper()
	ctx := context.Background()
	want := map[string]map[string]*unstructured.Unstructured{} // cluster → key → object
	for _, t := range res.Targets {
		if want[t.Cluster] == nil {
			want[t.Cluster] = map[string]*unstructured.Unstructured{}
		}
		for _, o := range t.Objects {
			want[t.Cluster][objectKey(o)] = o
		}
	}
	for cluster, kube := range e.clients {
		if slices.Contains(except, cluster) {
			continue
		}
		got := map[string]*unstructured.Unstructured{}
		for _, gvk := range checkedKinds {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			if err := kube.List(ctx, list, client.HasLabels{renderer.LabelSolution}); err != nil {
				e.t.Fatalf("cluster %s: list %s: %v", cluster, gvk.Kind, err)
			}
			for i := range list.Items {
				o := &list.Items[i]
				got[objectKey(o)] = o
			}
		}
		for key, w := range want[cluster] {
			live, ok := got[key]
			if !ok {
				if slices.ContainsFunc(checkedKinds, func(g schema.GroupVersionKind) bool { return g.Kind == w.GetKind() }) {
					e.t.Errorf("cluster %s: %s missing", cluster, key)
				}
				continue
			}
			wantReplicas, found, _ := unstructured.NestedInt64(w.Object, "spec", "replicas")
			if !found {
				continue
			}
			replicas, _, _ := unstructured.NestedInt64(live.Object, "spec", "replicas")
			ready, _, _ := unstructured.NestedInt64(live.Object, "status", "readyReplicas")
			if replicas != wantReplicas || ready != wantReplicas {
				e.t.Errorf("cluster %s: %s has %d replicas, %d ready; want %d", cluster, key, replicas, ready, wantReplicas)
			}
		}
		for key := range got {
			if _, ok := want[cluster][key]; !ok {
				e.t.Errorf("cluster %s: %s is not in the render (not pruned, or a duplicate)", cluster, key)
			}
		}
	}
}

// replicas returns a live workload's spec.replicas.
func (e *fleetEnv) replicas(cluster, kind, namespace, name string) int64 {
	e.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind})
	if err := e.clients[cluster].Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		e.t.Fatalf("cluster %s: get %s %s/%s: %v", cluster, kind, namespace, name, err)
	}
	n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	return n
}

func objectKey(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

// eventually retries check every 250 ms until it succeeds or timeout passes.
func (e *fleetEnv) eventually(timeout time.Duration, what string, check func() error) {
	e.t.Helper()
	poll(e.t, timeout, 250*time.Millisecond, what, check)
}

// poll runs check, then again at every tick of every, until it succeeds;
// past timeout it fails the test with check's latest error.
func poll(t testing.TB, timeout, every time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// writeTree writes files into a new temporary directory and returns it.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return dir
}

// writeFiles writes files, by path relative to dir, creating directories.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
