package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

// FleetSitesEnv sets how many edge sites BenchmarkFleet runs; 100 unless set.
const FleetSitesEnv = "TANDEM_FLEET_SITES"

// FleetProfilesEnv names a directory where BenchmarkFleet writes the
// daemon's heap profiles at both sizes of the fleet (heap-small.pb.gz,
// heap-large.pb.gz), a CPU profile of the pushes (cpu-pushes.pb.gz), for
// "go tool pprof", and its goroutines at both sizes, grouped by stack
// (goroutines-small.txt, goroutines-large.txt); none unless set. The daemon then samples an
// allocation every 4 KB instead of every 512 KB, for the difference of
// the two heaps to tell what a site costs.
const FleetProfilesEnv = "TANDEM_FLEET_PROFILES"

// fleetFirstSites is how many edge sites BenchmarkFleet's repository holds
// before the commit that adds the others; the difference in the daemon's
// memory between the two is its cost per site.
const fleetFirstSites = 10

// fleetIdle is how long BenchmarkFleet lets the converged fleet idle
// before the first memory sample at each size, and the window over which
// it counts the daemon's CPU time and requests.
const fleetIdle = 60 * time.Second

// fleetSettle is how long BenchmarkFleet lets the converged fleet idle in
// all before the settled memory sample at each size: past the Go
// runtime's periodic collection, every two minutes when nothing else
// collects, and the scavenging after it that hands the passes' garbage
// back to the system. What the daemon holds for a fleet that idles for
// hours between commits.
const fleetSettle = 3 * time.Minute

// BenchmarkFleet runs "tandem serve" against a cloud and a hundred edge
// sites (FleetSitesEnv), each a lean API server of its own on one shared
// etcd, with the generated solution of BenchmarkCommitToApplied. It starts
// with fleetFirstSites sites in the repository, then pushes a commit adding
// the rest, and measures: the daemon's memory at both sizes, a minute
// after converging and settled (fleetSettle), and so its cost per site;
// its CPU time and the requests it sends while the fleet
// idles; and, each iteration, from the start of "git push" of a commit
// changing every site until every target is Ready at it (webhook only: the
// daemon fetches and corrects drift hourly).
func BenchmarkFleet(b *testing.B) {
	sites := 100
	if v := os.Getenv(FleetSitesEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= fleetFirstSites {
			b.Fatalf("%s=%q: want a number of sites above %d", FleetSitesEnv, v, fleetFirstSites)
		}
		sites = n
	}
	if testing.Short() {
		b.Skip("starts Kubernetes control planes")
	}
	dir := b.TempDir()
	writeBenchRepo(b, dir, benchRepo{sites: fleetFirstSites})
	clusters := []string{"cloud"}
	for i := 1; i <= sites; i++ {
		clusters = append(clusters, fmt.Sprintf("site-%02d", i))
	}

	daemonArgs := []string{"--interval", "1h", "--drift-interval", "1h", "--log-level", "info"}
	var daemonEnv []string
	profileDir, profileURL := os.Getenv(FleetProfilesEnv), ""
	if profileDir != "" {
		daemonEnv = append(daemonEnv, "GODEBUG=memprofilerate=4096")
		port, err := testbed.FreePort()
		if err != nil {
			b.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		daemonArgs = append(daemonArgs, "--pprof-listen", addr)
		profileURL = "http://" + addr + "/debug/pprof/"
	}
	// profile saves the daemon's profile named by path as file.
	profile := func(path, file string) {
		if profileDir == "" {
			return
		}
		if err := saveURL(profileURL+path, filepath.Join(profileDir, file)); err != nil {
			b.Fatal(err)
		}
	}

	memBefore := memAvailable(b)
	began := time.Now()
	e := newFleetEnvWith(b, clusters, dir, fleetOptions{
		APIServerOnly: true,
		Lean:          true,
		Parallel:      4,
		StartTimeout:  5 * time.Minute,
		// A line per cluster would crowd out the benchmark's summary,
		// which the test log truncates.
		Logf:       func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
		DaemonArgs: daemonArgs,
		DaemonEnv:  daemonEnv,
	})
	started := time.Since(began)
	memAfter := memAvailable(b)
	b.Logf("%d API servers and etcd started in %s, 4 at a time; available memory %.1f GB → %.1f GB (%.0f MB per API server)",
		len(clusters), started.Round(time.Second), memBefore/(1<<30), memAfter/(1<<30), (memBefore-memAfter)/float64(len(clusters))/(1<<20))

	e.startDaemon()
	e.waitConverged(e.head(), 5*time.Minute)
	e.idle(fleetIdle)
	smallFresh := e.daemonMemory()
	e.idle(fleetSettle - fleetIdle)
	small := e.daemonMemory()
	profile("heap?gc=1", "heap-small.pb.gz")
	profile("goroutine?debug=1", "goroutines-small.txt")

	writeBenchRepo(b, e.clone, benchRepo{sites: sites})
	grown := e.commitAndPush(fmt.Sprintf("Add %d sites", sites-fleetFirstSites))
	growBegan := time.Now()
	e.waitConverged(grown, 10*time.Minute)
	grew := time.Since(growBegan)
	if got := len(e.expected().Targets); got != len(clusters) {
		b.Fatalf("the grown repository renders %d targets, want %d", got, len(clusters))
	}

	cpu0, requests0, restarts0 := e.daemonCPU(), e.clusterCounter("tandem_cluster_requests_total"), e.clusterCounter("tandem_cluster_watch_restarts_total")
	window := e.idle(fleetIdle)
	cpu1, requests1, restarts1 := e.daemonCPU(), e.clusterCounter("tandem_cluster_requests_total"), e.clusterCounter("tandem_cluster_watch_restarts_total")
	largeFresh := e.daemonMemory()
	e.idle(fleetSettle - fleetIdle)
	large := e.daemonMemory()
	profile("heap?gc=1", "heap-large.pb.gz")
	profile("goroutine?debug=1", "goroutines-large.txt")
	perHour := float64(time.Hour) / float64(window)
	cpuPerHour := (cpu1 - cpu0).Seconds() * perHour
	requestsPerSiteHour := (requests1 - requests0) / float64(len(clusters)) * perHour

	cpuProfile := make(chan struct{})
	go func() {
		defer close(cpuProfile)
		profile("profile?seconds=60", "cpu-pushes.pb.gz")
	}()
	took := e.pushGenerations(b, 2*time.Minute)
	<-cpuProfile
	requestsPerPush := (e.clusterCounter("tandem_cluster_requests_total") - requests1) / float64(len(took)*len(clusters))
	afterPushes := e.daemonMemory()

	mb := func(v float64) float64 { return v / (1 << 20) }
	added := float64(sites - fleetFirstSites)
	perSite := mb(large["VmRSS"]-small["VmRSS"]) / added
	freshPerSite := mb(largeFresh["VmRSS"]-smallFresh["VmRSS"]) / added
	anonPerSite := mb(large["RssAnon"]-small["RssAnon"]) / added
	b.ReportMetric(float64(sites), "sites")
	b.ReportMetric(percentileMillis(took, 50), "p50-ms")
	b.ReportMetric(percentileMillis(took, 90), "p90-ms")
	b.ReportMetric(mb(large["VmRSS"]), "RSS-MB")
	b.ReportMetric(perSite, "MB-per-site")
	b.ReportMetric(freshPerSite, "MB-per-site-at-60s")
	b.ReportMetric(anonPerSite, "anon-MB-per-site")
	b.ReportMetric(cpuPerHour, "cpu-s-per-hour")
	b.ReportMetric(requestsPerSiteHour, "requests-per-site-hour")
	b.ReportMetric(requestsPerPush, "requests-per-site-push")

	b.Logf("fleet of 1 cloud + %d sites (lean API servers on one etcd; started in %s; %d sites added by one commit, applied in %s)",
		sites, started.Round(time.Second), sites-fleetFirstSites, grew.Round(time.Millisecond))
	b.Logf("push → applied on all %d targets: p50 %.0f ms, p90 %.0f ms over %d pushes (target p50 ≤ 5 s at 100 sites), %.1f requests per site and push",
		len(clusters), percentileMillis(took, 50), percentileMillis(took, 90), len(took), requestsPerPush)
	b.Logf("daemon RSS: %.1f MB (%.1f MB anonymous) with 1 + %d sites, %.1f MB (%.1f MB anonymous) with 1 + %d, after %s idle each (%.1f MB and %.1f MB after %s); %.1f MB (%.1f MB anonymous) after the pushes, peak %.1f MB",
		mb(small["VmRSS"]), mb(small["RssAnon"]), fleetFirstSites, mb(large["VmRSS"]), mb(large["RssAnon"]), sites, fleetSettle,
		mb(smallFresh["VmRSS"]), mb(largeFresh["VmRSS"]), fleetIdle,
		mb(afterPushes["VmRSS"]), mb(afterPushes["RssAnon"]), mb(afterPushes["VmHWM"]))
	b.Logf("marginal memory: %.2f MB RSS, %.2f MB anonymous per site settled, %.2f MB RSS per site %s after converging (target ≤ 0.5 MB per site); Go heap in use %.1f MB → %.1f MB",
		perSite, anonPerSite, freshPerSite, fleetIdle, mb(small["go_memstats_heap_inuse_bytes"]), mb(large["go_memstats_heap_inuse_bytes"]))
	b.Logf("per site: %.1f goroutines, %.0f KB of goroutine stacks, %.0f KB of Go heap in use",
		(large["go_goroutines"]-small["go_goroutines"])/added, (large["go_memstats_stack_inuse_bytes"]-small["go_memstats_stack_inuse_bytes"])/added/1024,
		(large["go_memstats_heap_inuse_bytes"]-small["go_memstats_heap_inuse_bytes"])/added/1024)
	b.Logf("idle over %s: %.2f CPU s (%.1f CPU s per hour), %.0f requests to %d clusters (%.2f per site per hour; target 0 beyond the watches), %.0f watch restarts",
		window.Round(time.Second), (cpu1 - cpu0).Seconds(), cpuPerHour, requests1-requests0, len(clusters), requestsPerSiteHour, restarts1-restarts0)
}

// idle lets the converged fleet idle for d and returns how long it did.
func (e *fleetEnv) idle(d time.Duration) time.Duration {
	began := time.Now()
	time.Sleep(d)
	return time.Since(began)
}

// daemonCPU returns the CPU time the daemon has used, user and system,
// from /proc/<pid>/stat.
func (e *fleetEnv) daemonCPU() time.Duration {
	e.t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.daemon.Process.Pid))
	if err != nil {
		e.t.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces; the fields
	// after it start with the state, utime being the 12th of them.
	_, rest, ok := strings.Cut(string(stat), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		e.t.Fatalf("read /proc/%d/stat: %q", e.daemon.Process.Pid, stat)
	}
	var ticks float64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			e.t.Fatalf("read /proc/%d/stat: %v", e.daemon.Process.Pid, err)
		}
		ticks += v
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	return time.Duration(ticks * float64(time.Second) / 100)
}

// clusterCounter sums a per-cluster counter of the daemon's /metrics over
// every cluster and label.
func (e *fleetEnv) clusterCounter(name string) float64 {
	e.t.Helper()
	families, err := e.metrics()
	if err != nil {
		e.t.Fatal(err)
	}
	var sum float64
	if mf, ok := families[name]; ok {
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// memAvailable returns the machine's MemAvailable from /proc/meminfo, in
// bytes.
func memAvailable(b *testing.B) float64 {
	b.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024
		}
	}
	b.Fatal("no MemAvailable in /proc/meminfo")
	return 0
}

// saveURL writes what a GET of url answers to file.
func saveURL(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return f.Close()
}
