package daemon

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-gitops/tandem/agent"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
)

// DefaultAgentTimeout is how long a pull site's agent may stay silent
// before its site's status says it is not known, when Config.AgentTimeout
// is zero.
const DefaultAgentTimeout = 2 * time.Minute

// hub is the hub side of pull-mode sites: the rollout's targets for their
// clusters become releases their agents fetch instead of passes of the
// applier, and what the agents report comes back as results. The loop
// sets the sites and releases; the HTTP handlers read releases and note
// contacts under mu, and hand reports to the loop.
type hub struct {
	instance string
	tokens   AgentTokens
	log      *slog.Logger

	mu sync.Mutex
	// sites maps each pull site to its cluster, clusters the reverse.
	sites    map[string]string
	clusters map[string]string
	releases map[string]agent.Release // by site
	contacts map[string]*AgentStatus  // by cluster
	// rendered is set once a revision rendered: until then no site is
	// known to be pull or push.
	rendered bool
}

func newHub(instance string, tokens AgentTokens, log *slog.Logger) *hub {
	return &hub{instance: instance, tokens: tokens, log: log,
		sites: map[string]string{}, clusters: map[string]string{}, releases: map[string]agent.Release{},
		contacts: map[string]*AgentStatus{}}
}

// setSites takes the pull sites of a render.
func (h *hub) setSites(sites []*renderer.Site) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sites, h.clusters, h.rendered = map[string]string{}, map[string]string{}, true
	for _, s := range sites {
		if s.Spec.Mode == renderer.ModePull {
			h.sites[s.Name], h.clusters[s.Spec.Cluster] = s.Spec.Cluster, s.Name
		}
	}
}

// split keeps the targets of pull sites' clusters as their releases and
// returns the others, for the applier. A pull site the targets leave out
// gets an empty release: nothing released to it.
func (h *hub) split(targets []reconciler.Target) (push []reconciler.Target) {
	h.mu.Lock()
	defer h.mu.Unlock()
	releases := map[string]agent.Release{}
	for _, t := range targets {
		site, pull := h.clusters[t.Cluster]
		if !pull {
			push = append(push, t)
			continue
		}
		rel := agent.Release{Site: site, Cluster: t.Cluster, Instance: h.instance, Tiers: []agent.ReleasedTier{}, AllowEmpty: t.AllowEmpty}
		for _, ts := range t.Tiers {
			rel.Tiers = append(rel.Tiers, agent.ReleasedTier{Solution: ts.Solution, Tier: ts.Tier, Revision: ts.Revision})
		}
		slices.SortFunc(rel.Tiers, func(a, b agent.ReleasedTier) int {
			return cmp.Or(cmp.Compare(a.Solution, b.Solution), cmp.Compare(a.Tier, b.Tier))
		})
		digest, err := reconciler.Digest(t, h.instance)
		if err != nil {
			h.log.Error("pull site's release not made; its agent keeps the one before", "site", site, "error", err)
			if old, ok := h.releases[site]; ok {
				releases[site] = old
			}
			continue
		}
		rel.Digest = digest
		releases[site] = rel
	}
	for site, cluster := range h.sites {
		if _, ok := releases[site]; !ok {
			releases[site] = agent.Release{Site: site, Cluster: cluster, Instance: h.instance, Tiers: []agent.ReleasedTier{}}
		}
	}
	h.releases = releases
	return push
}

// isPull reports whether cluster is a pull site's.
func (h *hub) isPull(cluster string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.clusters[cluster]
	return ok
}

// contact notes that site's agent was heard from now, and returns the
// site's cluster; false for a site that is not a pull site.
func (h *hub) contact(site string, now time.Time, note func(*AgentStatus)) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cluster, ok := h.sites[site]
	if !ok {
		return "", false
	}
	c := h.contacts[cluster]
	if c == nil {
		c = &AgentStatus{}
		h.contacts[cluster] = c
	}
	c.LastSeen = now
	if note != nil {
		note(c)
	}
	return cluster, true
}

// agentStatus returns what is known of the agent of cluster's site; nil
// for a push site, a zero LastSeen for an agent never heard from.
func (h *hub) agentStatus(cluster string) *AgentStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clusters[cluster]; !ok {
		return nil
	}
	if c := h.contacts[cluster]; c != nil {
		st := *c
		return &st
	}
	return &AgentStatus{}
}

// fresh returns the results of a report, each made about the site's
// cluster, that awaited says a target waits for and has not had. An agent
// repeats its latest results in every report, so a result no target was
// waiting for yet, about a tier whose wave the rollout has not released,
// or released again after an abort, is taken in once one is.
func fresh(rep report, awaited func(reconciler.Result) bool) []reconciler.Result {
	var out []reconciler.Result
	for _, res := range rep.results {
		res.Cluster = rep.cluster
		if awaited(res) {
			out = append(out, res)
		}
	}
	return out
}

// lastSeenDesc describes the one metric of the hub.
var lastSeenDesc = prometheus.NewDesc("tandem_agent_last_seen_timestamp_seconds",
	"When the agent of each pull site last reached the hub, in seconds since the epoch; a site whose agent never did since the hub started has none.",
	[]string{"site", "cluster"}, nil)

// Describe implements prometheus.Collector.
func (h *hub) Describe(ch chan<- *prometheus.Desc) { ch <- lastSeenDesc }

// Collect implements prometheus.Collector: when each pull site's agent was
// last seen, for an alert on an agent gone silent.
func (h *hub) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for cluster, site := range h.clusters {
		if c := h.contacts[cluster]; c != nil {
			ch <- prometheus.MustNewConstMetric(lastSeenDesc, prometheus.GaugeValue, float64(c.LastSeen.UnixNano())/1e9, site, cluster)
		}
	}
}

// AgentStatus is what the hub knows of a pull site's agent.
type AgentStatus struct {
	// LastSeen is when the agent last reached the hub; zero when it
	// never did since the hub started.
	LastSeen time.Time `json:"lastSeen"`
	// LastReport is when the agent last reported its site's status.
	LastReport *time.Time `json:"lastReport,omitempty"`
	Version    string     `json:"version,omitempty"`
	// Digest is the digest of the release the agent applies.
	Digest string `json:"digest,omitempty"`
	// Refused says why the agent does not apply the current release.
	Refused string `json:"refused,omitempty"`
	// Offline is how long the agent was last cut off from the hub, as
	// the first report after it reached the hub again said; later
	// reports leave it as it is.
	Offline time.Duration `json:"offline,omitempty"`
}

// report is an agent's report, for the loop to take in.
type report struct {
	site, cluster string
	results       []reconciler.Result
}

// siteRelease serves GET /api/v1/sites/{site}/release.
func (d *Daemon) siteRelease(w http.ResponseWriter, r *http.Request) {
	site, ok := d.authorizeAgent(w, r)
	if !ok {
		return
	}
	d.hub.mu.Lock()
	rel, ok := d.hub.releases[site]
	d.hub.mu.Unlock()
	if !ok {
		http.Error(w, "no revision rendered yet", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rel)
}

// siteStatus serves POST /api/v1/sites/{site}/status: the agent's report
// becomes the status of the site's tiers, and the results the rollout
// waits for.
func (d *Daemon) siteStatus(w http.ResponseWriter, r *http.Request) {
	site, ok := d.authorizeAgent(w, r)
	if !ok {
		return
	}
	var rep agent.Report
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20))
	if err := dec.Decode(&rep); err != nil {
		http.Error(w, "read report: "+err.Error(), http.StatusBadRequest)
		return
	}
	now := d.now()
	cluster, _ := d.hub.contact(site, now, func(c *AgentStatus) {
		c.LastReport, c.Version, c.Digest, c.Refused = &now, rep.Version, rep.Digest, rep.Refused
		if rep.Offline > 0 {
			c.Offline = rep.Offline
		}
	})
	if rep.Refused != "" {
		d.log.Warn("agent refuses its site's release", "site", site, "cluster", cluster, "why", rep.Refused)
	}
	select {
	case d.reports <- report{site: site, cluster: cluster, results: rep.Results}:
		w.WriteHeader(http.StatusNoContent)
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
		http.Error(w, "the daemon is not reconciling (not the leader?); try again", http.StatusServiceUnavailable)
	}
}

// authorizeAgent answers a request of the agent API that does not carry
// the token of the site it names, and otherwise returns the site. A token
// of another site is forbidden; no token, or one of no site, is
// unauthorized. Tokens are never logged.
func (d *Daemon) authorizeAgent(w http.ResponseWriter, r *http.Request) (string, bool) {
	site := r.PathValue("site")
	if d.hub.tokens == nil {
		http.Error(w, "the agent API is disabled: start tandem serve with --agent-tokens", http.StatusForbidden)
		return "", false
	}
	holder, ok, err := d.hub.tokens.Site(r)
	if err != nil {
		d.log.Error("cannot read the agent tokens; the last good ones stay in use", "error", err)
	}
	switch {
	case err != nil && !ok:
		http.Error(w, "the hub cannot read its agent tokens", http.StatusInternalServerError)
		return "", false
	case !ok:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
		http.Error(w, "a valid bearer token is required", http.StatusUnauthorized)
		return "", false
	case holder != site:
		d.log.Warn("agent token used for another site", "site", site, "token_of", holder, "remote", r.RemoteAddr)
		http.Error(w, fmt.Sprintf("this token is not site %s's", site), http.StatusForbidden)
		return "", false
	}
	d.hub.mu.Lock()
	rendered := d.hub.rendered
	d.hub.mu.Unlock()
	if !rendered {
		http.Error(w, "no revision rendered yet", http.StatusServiceUnavailable)
		return "", false
	}
	if _, known := d.hub.contact(site, d.now(), nil); !known {
		// Gone, not missing: the agent stops applying, and leaves the
		// site to the hub or to nobody.
		http.Error(w, fmt.Sprintf("site %s is not a pull-mode site of the current revision (spec.mode: pull)", site), http.StatusGone)
		return "", false
	}
	return site, true
}
