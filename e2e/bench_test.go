package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/renderer"
)

// BenchmarkCommitToApplied measures what a platform engineer waits for: from
// the start of "git push" of a commit that changes every site to every
// target of a cloud and 10 edge sites being Ready at that commit, as the
// status endpoint (polled every 10 ms) reports it. The push webhook is the
// only trigger: the daemon fetches hourly and corrects drift hourly.
func BenchmarkCommitToApplied(b *testing.B) {
	e := newLightFleet(b, 10, fleetOptions{
		DaemonArgs: []string{"--interval", "1h", "--drift-interval", "1h", "--log-level", "info"},
	})
	e.startDaemon()
	e.waitConverged(e.head(), 3*time.Minute)

	var took []time.Duration
	for generation := 1; b.Loop(); generation++ {
		b.StopTimer()
		for _, tier := range benchTiers {
			e.edit(filepath.Join("tiers", tier, "objects.yaml"), func(s string) string {
				return strings.Replace(s, fmt.Sprintf("generation: %q", strconv.Itoa(generation-1)),
					fmt.Sprintf("generation: %q", strconv.Itoa(generation)), 1)
			})
		}
		e.gitRun("-C", e.clone, "commit", "--quiet", "--all", "-m", fmt.Sprintf("Roll settings to generation %d", generation))
		commit := e.head()
		b.StartTimer()

		began := time.Now()
		e.gitRun("-C", e.clone, "push", "--quiet", "origin", "main")
		e.waitAppliedQuickly(commit, time.Minute)
		took = append(took, time.Since(began))
	}
	b.ReportMetric(percentileMillis(took, 50), "p50-ms")
	b.ReportMetric(percentileMillis(took, 90), "p90-ms")
}

// BenchmarkDaemonRSS measures the resident memory of "tandem serve" keeping a
// cloud and 30 edge sites reconciled: after they converged, each iteration
// waits for a drift pass over every target and samples the daemon.
func BenchmarkDaemonRSS(b *testing.B) {
	e := newLightFleet(b, 30, fleetOptions{
		StartTimeout: 10 * time.Minute,
		DaemonArgs:   []string{"--interval", "1h", "--drift-interval", "5s", "--log-level", "info"},
	})
	e.startDaemon()
	e.waitConverged(e.head(), 5*time.Minute)

	var rss, heap float64
	for b.Loop() {
		e.waitDriftPass(time.Minute)
		b.StopTimer()
		mem := e.daemonMemory()
		rss, heap = max(rss, mem["VmRSS"]), max(heap, mem["go_memstats_heap_inuse_bytes"])
		b.StartTimer()
	}
	mem := e.daemonMemory()
	b.ReportMetric(rss/(1<<20), "RSS-MB")
	b.ReportMetric(mem["VmHWM"]/(1<<20), "peak-RSS-MB")
	b.ReportMetric(mem["RssAnon"]/(1<<20), "anon-RSS-MB")
	b.ReportMetric(heap/(1<<20), "heap-inuse-MB")
}

// benchTiers are the tiers of the generated solution: "cloud" on the
// cluster of that name, "edge" on every site.
var benchTiers = []string{"cloud", "edge"}

// newLightFleet starts API servers for a cloud and the given number of
// edge sites, and a Git repository holding a solution for them whose 10
// objects per tier are healthy as soon as they are stored.
func newLightFleet(b testing.TB, sites int, opts fleetOptions) *fleetEnv {
	b.Helper()
	if testing.Short() {
		b.Skip("starts Kubernetes control planes")
	}
	repo := b.TempDir()
	clusters := writeLightRepo(b, repo, sites)
	res, err := renderer.Render(context.Background(), os.DirFS(repo), renderer.Options{})
	if err != nil {
		b.Fatalf("render the generated repository: %v", err)
	}
	if got, want := len(res.Targets), 1+sites; got != want {
		b.Fatalf("the generated repository renders %d targets, want %d", got, want)
	}
	opts.APIServerOnly = true
	return newFleetEnvWith(b, clusters, repo, opts)
}

// writeLightRepo writes a config repository with a cloud tier and an edge
// tier of 10 objects each and the given number of Site files, and returns
// the cluster names it targets, cloud first.
func writeLightRepo(b testing.TB, dir string, sites int) []string {
	b.Helper()
	files := map[string]string{"tandem.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata:
  name: bench
spec:
  scale: 1
  tiers:
  - name: cloud
    path: tiers/cloud
    targets:
      clusters: [cloud]
  - name: edge
    path: tiers/edge
    targets:
      sites: {matchLabels: {tier: edge}}
`}
	for _, tier := range benchTiers {
		files["tiers/"+tier+"/kustomization.yaml"] = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- objects.yaml\n"
		files["tiers/"+tier+"/objects.yaml"] = strings.ReplaceAll(benchObjects, "NAMESPACE", "bench-"+tier)
	}
	clusters := []string{"cloud"}
	for i := 1; i <= sites; i++ {
		name := fmt.Sprintf("site-%02d", i)
		clusters = append(clusters, name)
		files["sites/"+name+".yaml"] = fmt.Sprintf(`apiVersion: tandem.dev/v1alpha1
kind: Site
metadata:
  name: %s
  labels: {tier: edge}
spec:
  cluster: %s
  weight: 1
`, name, name)
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return clusters
}

// benchObjects are a tier's 10 objects of 8 group-kinds, none of which needs
// a controller to become Ready. The settings ConfigMap's generation is what
// each benchmarked commit changes.
const benchObjects = `apiVersion: v1
kind: Namespace
metadata:
  name: NAMESPACE
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: NAMESPACE
data:
  generation: "0"
  mode: production
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: topics
  namespace: NAMESPACE
data:
  telemetry: plants/+/telemetry/#
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: thresholds
  namespace: NAMESPACE
data:
  vibration: "0.8"
  temperature: "75"
---
apiVersion: v1
kind: Secret
metadata:
  name: credentials
  namespace: NAMESPACE
type: Opaque
stringData:
  token: not-a-real-token
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: gateway
  namespace: NAMESPACE
---
apiVersion: v1
kind: Service
metadata:
  name: gateway
  namespace: NAMESPACE
spec:
  selector: {app: gateway}
  ports:
  - {name: opcua, port: 4840, targetPort: 4840}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: gateway
  namespace: NAMESPACE
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: gateway
  namespace: NAMESPACE
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: gateway}
subjects:
- {kind: ServiceAccount, name: gateway, namespace: NAMESPACE}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: gateway
  namespace: NAMESPACE
spec:
  podSelector: {matchLabels: {app: gateway}}
  policyTypes: [Ingress]
  ingress:
  - ports:
    - {port: 4840}
`

// waitAppliedQuickly polls the status every 10 ms until every target is
// Ready at commit.
func (e *fleetEnv) waitAppliedQuickly(commit string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := e.convergedAt(commit)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("waited %s for every cluster Ready at %s: %v", timeout, commit[:8], err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDriftPass waits until every target has finished a pass after the
// current status was read.
func (e *fleetEnv) waitDriftPass(timeout time.Duration) {
	e.t.Helper()
	before, err := e.status()
	if err != nil {
		e.t.Fatal(err)
	}
	e.eventually(timeout, "a drift pass on every target", func() error {
		st, err := e.status()
		if err != nil {
			return err
		}
		for i, ts := range st.Targets {
			prev := before.Targets[i].LastReconcile
			if ts.LastReconcile == nil || prev == nil || !ts.LastReconcile.After(*prev) {
				return fmt.Errorf("%s/%s on %s has not reconciled again", ts.Solution, ts.Tier, ts.Cluster)
			}
		}
		return nil
	})
}

// daemonMemory returns the daemon's resident memory from /proc (VmRSS, its
// peak VmHWM, and RssAnon, what is not mapped from files), and its Go memory
// statistics from /metrics, in bytes.
func (e *fleetEnv) daemonMemory() map[string]float64 {
	e.t.Helper()
	mem := map[string]float64{}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.daemon.Process.Pid))
	if err != nil {
		e.t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains([]string{"VmRSS", "VmHWM", "RssAnon", "RssFile"}, key) {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			e.t.Fatalf("read %s of the daemon: %v", key, err)
		}
		mem[key] = kb * 1024
	}
	resp, err := http.Get("http://" + e.listen + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "go_memstats_") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			mem[name] = v
		}
	}
	return mem
}

// percentileMillis returns the nearest-rank p-th percentile of took, in
// milliseconds.
func percentileMillis(took []time.Duration, p float64) float64 {
	if len(took) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(took))
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return float64(sorted[max(rank, 1)-1]) / float64(time.Millisecond)
}
