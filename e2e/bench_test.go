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

	took := e.pushGenerations(b, time.Minute)
	b.ReportMetric(percentileMillis(took, 50), "p50-ms")
	b.ReportMetric(percentileMillis(took, 90), "p90-ms")
}

// pushGenerations runs b's iterations: each commits a change to a
// ConfigMap of every tier and times from the start of its push until
// every target is Ready at it, within timeout.
func (e *fleetEnv) pushGenerations(b *testing.B, timeout time.Duration) []time.Duration {
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
		e.waitAppliedQuickly(commit, timeout)
		took = append(took, time.Since(began))
	}
	return took
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

// benchRepo shapes the config repository a benchmark generates: a solution
// with a cloud tier on the cluster of that name and an edge tier on every
// site, of 10 objects each.
type benchRepo struct {
	// sites is how many edge sites the solution has.
	sites int
	// workload makes one of each tier's objects the Deployment "gateway",
	// whose replicas follow spec.scale: one per scale in the cloud, as many
	// as the cloud's at every site. The clusters then run workloads (full
	// clusters); without it every object is healthy once stored, and API
	// servers alone suffice.
	workload bool
}

// newLightFleet starts API servers for a cloud and the given number of
// edge sites, and a Git repository holding a solution for them whose 10
// objects per tier are healthy as soon as they are stored.
func newLightFleet(b testing.TB, sites int, opts fleetOptions) *fleetEnv {
	b.Helper()
	return newBenchFleet(b, benchRepo{sites: sites}, opts)
}

// newBenchFleet starts the clusters a generated repository targets, and
// the Git server holding it; full clusters when its tiers run a workload.
func newBenchFleet(b testing.TB, repo benchRepo, opts fleetOptions) *fleetEnv {
	b.Helper()
	if testing.Short() {
		b.Skip("starts Kubernetes control planes")
	}
	dir := b.TempDir()
	clusters := writeBenchRepo(b, dir, repo)
	res, err := renderer.Render(context.Background(), os.DirFS(dir), renderer.Options{})
	if err != nil {
		b.Fatalf("render the generated repository: %v", err)
	}
	if got, want := len(res.Targets), 1+repo.sites; got != want {
		b.Fatalf("the generated repository renders %d targets, want %d", got, want)
	}
	opts.APIServerOnly = !repo.workload
	return newFleetEnvWith(b, clusters, dir, opts)
}

// writeBenchRepo writes the config repository repo describes into dir, and
// returns the cluster names it targets, cloud first.
func writeBenchRepo(b testing.TB, dir string, repo benchRepo) []string {
	b.Helper()
	objects, cloudReplicas, edgeReplicas := benchObjects+benchThresholds, "", ""
	if repo.workload {
		objects = benchObjects + benchGateway
		cloudReplicas = "    replicas:\n    - {workload: gateway, perScale: 1, max: 200}\n"
		edgeReplicas = "    replicas:\n    - {workload: gateway, linkedTo: cloud/gateway, ratio: 1, max: 200}\n"
	}
	solution := fmt.Sprintf(`apiVersion: tandem.dev/v1alpha1
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
%s  - name: edge
    path: tiers/edge
    targets:
      sites: {matchLabels: {tier: edge}}
%s`, cloudReplicas, edgeReplicas)
	files := map[string]string{"tandem.yaml": solution}
	for _, tier := range benchTiers {
		files["tiers/"+tier+"/kustomization.yaml"] = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- objects.yaml\n"
		files["tiers/"+tier+"/objects.yaml"] = strings.ReplaceAll(objects, "NAMESPACE", "bench-"+tier)
	}
	clusters := []string{"cloud"}
	for i := 1; i <= repo.sites; i++ {
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
	writeFiles(b, dir, files)
	return clusters
}

// benchObjects are 9 of a tier's 10 objects, of 8 group-kinds, none of
// which needs a controller to become Ready; benchThresholds or benchGateway
// is the tenth. The settings ConfigMap's generation is what each commit of
// BenchmarkCommitToApplied changes.
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

// benchThresholds completes a tier healthy as soon as it is stored.
const benchThresholds = `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: thresholds
  namespace: NAMESPACE
data:
  vibration: "0.8"
  temperature: "75"
`

// benchGateway completes a tier that runs a workload: healthy once its
// Pods are Available on the cluster's kwok Node.
const benchGateway = `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway
  namespace: NAMESPACE
spec:
  replicas: 1
  selector:
    matchLabels: {app: gateway}
  template:
    metadata:
      labels: {app: gateway}
    spec:
      serviceAccountName: gateway
      containers:
      - name: gateway
        image: registry.example.com/gateway:1.0.0
        ports:
        - {containerPort: 4840}
`

// waitAppliedQuickly polls the status until every target is Ready at
// commit: every 10 ms for every 10 clusters, up to 100 ms. A status read
// costs the daemon in proportion to its targets; polling a hundred of them
// every 10 ms took a tenth of its CPU from the pushes it timed.
func (e *fleetEnv) waitAppliedQuickly(commit string, timeout time.Duration) {
	e.t.Helper()
	every := min(100*time.Millisecond, time.Duration((len(e.clients)+9)/10)*10*time.Millisecond)
	poll(e.t, timeout, every, "every cluster Ready at "+commit[:8], func() error {
		_, err := e.convergedAt(commit)
		return err
	})
}

// daemonMemory returns the daemon's resident memory from /proc (VmRSS, its
// peak VmHWM, and RssAnon, what is not mapped from files), and its Go memory
// statistics and goroutine count from /metrics, in bytes and goroutines.
func (e *fleetEnv) daemonMemory() map[string]float64 {
	e.t.Helper()
	mem := processMemory(e.t, e.daemon.Process.Pid)
	resp, err := http.Get("http://" + e.listen + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "go_memstats_") && name != "go_goroutines" {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			mem[name] = v
		}
	}
	return mem
}

// processMemory returns the resident memory of process pid from /proc, in
// bytes: VmRSS, its peak VmHWM, RssAnon, what is not mapped from files, and
// RssFile.
func processMemory(t testing.TB, pid int) map[string]float64 {
	t.Helper()
	mem := map[string]float64{}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains([]string{"VmRSS", "VmHWM", "RssAnon", "RssFile"}, key) {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			t.Fatalf("read %s of process %d: %v", key, pid, err)
		}
		mem[key] = kb * 1024
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
