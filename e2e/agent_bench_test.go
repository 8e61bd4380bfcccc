package e2e

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// BenchmarkAgentSteadyState measures the agent of a pull-mode site (the
// fixture's plant-c, on a full cluster) once its site converged, with the
// agent's default intervals: each iteration is an idle window of two
// minutes, after which the agent's resident memory and the requests it
// sent to the hub and to its site's API server in the window are
// sampled, the requests scaled to an hour.
func BenchmarkAgentSteadyState(b *testing.B) {
	e, a := newPullFleet(b)
	e.waitConverged(e.head(), 3*time.Minute)
	// The defaults of tandem agent, rather than the tests' short ones.
	a.stop()
	a.args = []string{"--poll-interval", "10s", "--report-interval", "30s", "--drift-interval", "30m", "--log-level", "info"}
	restarted := time.Now()
	a.start()
	// Steady state begins once the restarted agent's first pass over
	// every tier has been reported.
	e.eventually(time.Minute, "the restarted agent's first passes reported", func() error {
		st, err := e.status()
		if err != nil {
			return err
		}
		for _, ts := range st.Targets {
			if ts.Cluster == "plant-c" && (ts.LastReconcile == nil || ts.LastReconcile.Before(restarted) ||
				ts.Agent == nil || ts.Agent.LastReport == nil || !ts.Agent.LastReport.After(*ts.LastReconcile)) {
				return errorf("%s/%s on plant-c: no pass reported since the agent's restart", ts.Solution, ts.Tier)
			}
		}
		return nil
	})
	const window = 2 * time.Minute
	var rss, anon, hub, site float64
	for b.Loop() {
		before := a.requests(b)
		b.StopTimer()
		time.Sleep(window) // the idle window measured
		b.StartTimer()
		after := a.requests(b)
		mem := processMemory(b, a.proc.Pid)
		rss, anon = max(rss, mem["VmRSS"]), max(anon, mem["RssAnon"])
		hub = (after[0] - before[0]) * float64(time.Hour/window)
		site = (after[1] - before[1]) * float64(time.Hour/window)
	}
	b.ReportMetric(rss/(1<<20), "RSS-MB")
	b.ReportMetric(anon/(1<<20), "anon-RSS-MB")
	b.ReportMetric(hub, "hub-requests/h")
	b.ReportMetric(site, "apiserver-requests/h")
}

// requests returns how many requests the agent has sent to the hub and to
// its site's API server.
func (a *agentProc) requests(b testing.TB) [2]float64 {
	b.Helper()
	families, err := scrape(a.listen)
	if err != nil {
		b.Fatal(err)
	}
	hub, _ := metricValue(families, "tandem_agent_hub_requests_total", nil)
	return [2]float64{hub, sum(families["tandem_cluster_requests_total"])}
}

// sum adds up the samples of a counter family.
func sum(mf *dto.MetricFamily) float64 {
	var total float64
	for _, m := range mf.GetMetric() {
		total += m.GetCounter().GetValue()
	}
	return total
}
