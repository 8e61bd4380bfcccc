package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tandem-gitops/tandem/reconciler"
)

var phases = []reconciler.Phase{reconciler.PhaseReady, reconciler.PhaseProgressing, reconciler.PhaseFailed, reconciler.PhaseUnreachable}

// metrics are the daemon's Prometheus metrics, in a registry of their own.
type metrics struct {
	registry        *prometheus.Registry
	reconcileTime   *prometheus.HistogramVec
	objects         *prometheus.CounterVec
	corrected       *prometheus.CounterVec
	drifted         *prometheus.GaugeVec
	phase           *prometheus.GaugeVec
	appliedRevision *prometheus.GaugeVec
	modelPods       *prometheus.GaugeVec
	// modelSeries are the modelPods series each target's latest pass
	// set, to delete those of versions its next pass no longer finds.
	modelSeries    map[reconciler.Key][]prometheus.Labels
	renderTime     prometheus.Histogram
	renderFailures prometheus.Counter
}

// newMetrics returns the daemon's metrics, registered with extra in one
// registry.
func newMetrics(source Source, extra ...prometheus.Collector) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		reconcileTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tandem_reconcile_duration_seconds",
			Help:    "Duration of a reconcile pass of one tier on one cluster, health wait included.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"cluster", "solution", "tier", "phase"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_objects_total",
			Help: "Objects handled by reconcile passes, by action: created, configured, deleted (pruned), skipped (orphaned).",
		}, []string{"cluster", "action"}),
		corrected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_objects_corrected_total",
			Help: "Objects put back into their desired state after drift.",
		}, []string{"cluster"}),
		drifted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tandem_drifted_objects",
			Help: "Objects to which the latest pass found fields other field managers added, per (solution, tier, cluster) and whether it removed them.",
		}, []string{"cluster", "solution", "tier", "corrected"}),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tandem_target_phase",
			Help: "1 for the current phase of each (solution, tier, cluster), 0 for the others.",
		}, []string{"cluster", "solution", "tier", "phase"}),
		appliedRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tandem_applied_revision_info",
			Help: "The revision last applied in full and healthy, per (solution, tier, cluster).",
		}, []string{"cluster", "solution", "tier", "revision"}),
		modelPods: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tandem_model_serving_pods",
			Help: "Available pods of a model's serving workload that run a version of the model, per site, as the latest pass read them.",
		}, []string{"solution", "site", "model", "version"}),
		modelSeries: map[reconciler.Key][]prometheus.Labels{},
		renderTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tandem_render_duration_seconds",
			Help:    "Duration of rendering a revision, every cluster and tier.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		renderFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tandem_render_failures_total",
			Help: "Revisions that did not render and were not applied.",
		}),
	}
	m.registry.MustRegister(
		m.reconcileTime, m.objects, m.corrected, m.drifted, m.phase, m.appliedRevision, m.modelPods, m.renderTime, m.renderFailures,
		&sourceCollector{source: source},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.registry.MustRegister(extra...)
	return m
}

func (m *metrics) observeRender(d time.Duration, err error) {
	m.renderTime.Observe(d.Seconds())
	if err != nil {
		m.renderFailures.Inc()
	}
}

func (m *metrics) observe(res reconciler.Result) {
	for _, p := range phases {
		v := 0.0
		if p == res.Phase {
			v = 1
		}
		m.phase.WithLabelValues(res.Cluster, res.Solution, res.Tier, string(p)).Set(v)
	}
	if res.Finished.IsZero() {
		return // a progress report; the final result follows
	}
	m.reconcileTime.WithLabelValues(res.Cluster, res.Solution, res.Tier, string(res.Phase)).
		Observe(res.Finished.Sub(res.Started).Seconds())
	c := res.Counts()
	for action, n := range map[string]int{"created": c.Created, "configured": c.Configured, "deleted": c.Deleted, "skipped": c.Skipped} {
		if n > 0 {
			m.objects.WithLabelValues(res.Cluster, action).Add(float64(n))
		}
	}
	if res.Corrected > 0 {
		m.corrected.WithLabelValues(res.Cluster).Add(float64(res.Corrected))
	}
	if res.Phase != reconciler.PhaseUnreachable {
		var removed, left int
		for _, d := range res.Drift {
			if d.Corrected {
				removed++
			} else {
				left++
			}
		}
		m.drifted.WithLabelValues(res.Cluster, res.Solution, res.Tier, "true").Set(float64(removed))
		m.drifted.WithLabelValues(res.Cluster, res.Solution, res.Tier, "false").Set(float64(left))
	}
	m.observeModels(res)
	if res.Phase == reconciler.PhaseReady {
		m.appliedRevision.DeletePartialMatch(prometheus.Labels{"cluster": res.Cluster, "solution": res.Solution, "tier": res.Tier})
		m.appliedRevision.WithLabelValues(res.Cluster, res.Solution, res.Tier, res.Revision).Set(1)
	}
}

// observeModels sets the available pods per model version a pass read,
// and deletes the series of versions the target's previous pass found and
// this one did not. The site is the cluster the target names. A model's
// workloads of one tier count together.
func (m *metrics) observeModels(res reconciler.Result) {
	pods := map[[2]string]int{}
	for _, ms := range res.Models {
		for _, v := range ms.Versions {
			pods[[2]string{ms.Model, v.Version}] += v.Available
		}
	}
	series := make([]prometheus.Labels, 0, len(pods))
	for mv, n := range pods {
		labels := prometheus.Labels{"solution": res.Solution, "site": res.Cluster, "model": mv[0], "version": mv[1]}
		m.modelPods.With(labels).Set(float64(n))
		series = append(series, labels)
	}
	for _, old := range m.modelSeries[res.Key] {
		if _, ok := pods[[2]string{old["model"], old["version"]}]; !ok {
			m.modelPods.Delete(old)
		}
	}
	if len(series) == 0 {
		delete(m.modelSeries, res.Key)
		return
	}
	m.modelSeries[res.Key] = series
}

// forget drops the series of a target no longer reconciled, so that a
// removed site does not stay Ready on dashboards.
func (m *metrics) forget(k reconciler.Key) {
	labels := prometheus.Labels{"cluster": k.Cluster, "solution": k.Solution, "tier": k.Tier}
	m.phase.DeletePartialMatch(labels)
	m.appliedRevision.DeletePartialMatch(labels)
	m.drifted.DeletePartialMatch(labels)
	m.reconcileTime.DeletePartialMatch(labels)
	for _, old := range m.modelSeries[k] {
		m.modelPods.Delete(old)
	}
	delete(m.modelSeries, k)
}

// sourceCollector reads the source's status at scrape time.
type sourceCollector struct{ source Source }

var (
	fetchFailuresDesc = prometheus.NewDesc("tandem_git_fetch_consecutive_failures",
		"Failed fetches of the config repository since the last success.", []string{"url", "ref"}, nil)
	fetchSuccessDesc = prometheus.NewDesc("tandem_git_last_fetch_success_timestamp_seconds",
		"When the last successful fetch of the config repository ended.", []string{"url", "ref"}, nil)
	sourceRevisionDesc = prometheus.NewDesc("tandem_git_revision_info",
		"The revision the config repository's followed ref resolves to.", []string{"url", "ref", "revision"}, nil)
)

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fetchFailuresDesc
	ch <- fetchSuccessDesc
	ch <- sourceRevisionDesc
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	st, spec := c.source.Status(), c.source.Spec()
	url, ref := spec.URL, spec.Ref.String()
	ch <- prometheus.MustNewConstMetric(fetchFailuresDesc, prometheus.GaugeValue, float64(st.ConsecutiveFailures), url, ref)
	if !st.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(fetchSuccessDesc, prometheus.GaugeValue, float64(st.LastSuccess.Unix()), url, ref)
	}
	if !st.Revision.IsZero() {
		ch <- prometheus.MustNewConstMetric(sourceRevisionDesc, prometheus.GaugeValue, 1, url, ref, st.Revision.Commit)
	}
}
