package daemon

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/fieldset"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

// Status is the daemon's report, served as JSON at /api/v1/status.
type Status struct {
	// Replica names this replica when several share the fleet in shards
	// (serve --shards).
	Replica  string          `json:"replica,omitempty"`
	Source   SourceStatus    `json:"source"`
	Render   RenderStatus    `json:"render"`
	Rollouts []RolloutStatus `json:"rollouts,omitempty"`
	Targets  []TargetStatus  `json:"targets"`
}

// SourceStatus is what the poller knows about the config repository.
type SourceStatus struct {
	URL                 string     `json:"url"`
	Ref                 string     `json:"ref"`
	Revision            string     `json:"revision,omitempty"`
	Subject             string     `json:"subject,omitempty"`
	Rewritten           bool       `json:"rewritten,omitempty"`
	LastAttempt         *time.Time `json:"lastAttempt,omitempty"`
	LastSuccess         *time.Time `json:"lastSuccess,omitempty"`
	LastError           string     `json:"lastError,omitempty"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
}

// RenderStatus says how the latest revision rendered.
type RenderStatus struct {
	// Revision is the latest revision rendered, successfully or not.
	Revision string `json:"revision,omitempty"`
	// Error names the file and field that stopped it; empty on success.
	Error string `json:"error,omitempty"`
	// LastGoodRevision is the latest revision that rendered, the one the
	// clusters are given.
	LastGoodRevision string     `json:"lastGoodRevision,omitempty"`
	Time             *time.Time `json:"time,omitempty"`
	Warnings         []string   `json:"warnings,omitempty"`
}

// TargetStatus is where one tier of one solution stands on one cluster.
type TargetStatus struct {
	Solution string `json:"solution"`
	Tier     string `json:"tier"`
	Cluster  string `json:"cluster"`
	// Shard and Owner say, when replicas share the fleet in shards, which
	// shard the cluster is in and which replica holds it ("" while none
	// does); a target another replica holds is reported from its
	// cluster's ApplySet parent.
	Shard *int   `json:"shard,omitempty"`
	Owner string `json:"owner,omitempty"`
	// Mode is "pull" for a pull site's cluster, whose agent applies what
	// the hub released and reports back; Agent is what the hub knows of
	// that agent. Empty for a cluster the hub reaches itself.
	Mode  string       `json:"mode,omitempty"`
	Agent *AgentStatus `json:"agent,omitempty"`
	// DesiredRevision is the revision the cluster is to run;
	// AppliedRevision the latest one applied in full and found healthy.
	DesiredRevision string `json:"desiredRevision"`
	AppliedRevision string `json:"appliedRevision,omitempty"`
	// Removed marks a tier the desired revision no longer has on the
	// cluster and whose pruning did not succeed, for example because
	// the solution does not allow an empty render.
	Removed bool `json:"removed,omitempty"`
	// Phase is Pending until the first pass, then the reconciler's phase.
	Phase   string  `json:"phase"`
	Message string  `json:"message,omitempty"`
	Changes Changes `json:"changes"`
	// Corrected counts objects the latest pass put back after drift.
	Corrected int `json:"corrected"`
	// Drift lists the objects to which the latest pass found fields
	// other field managers added, removed or, for a tier that says
	// drift: report, left in place.
	Drift []fieldset.Drift `json:"drift,omitempty"`
	// Models says what the tier's workloads serve of each model: the
	// versions their pods run and how many of those pods are available,
	// as the latest pass read them; none when it did not get to apply.
	Models []reconciler.ModelServing `json:"models,omitempty"`
	// Since is when the target entered its phase; LastReconcile when the
	// latest pass ended.
	Since         time.Time  `json:"since"`
	LastReconcile *time.Time `json:"lastReconcile,omitempty"`
}

// Changes counts what the latest pass did, object by object.
type Changes struct {
	Created    int `json:"created"`
	Configured int `json:"configured"`
	Unchanged  int `json:"unchanged"`
	Deleted    int `json:"deleted"`
	Skipped    int `json:"skipped"`
}

// PhasePending is the phase of a target no pass has reached yet.
const PhasePending = "Pending"

// PhaseUnknown is the phase of a pull site's target whose agent has not
// reached the hub for longer than the agent timeout: what it last
// reported may no longer hold.
const PhaseUnknown = "Unknown"

// fromAgent says what the agent of a pull site's target last told: a
// target whose agent has been silent for longer than timeout is Unknown,
// saying since when and what it last reported, rather than showing that
// as if it still held; one whose agent refuses the release says why.
func (t *TargetStatus) fromAgent(now time.Time, timeout time.Duration) {
	seen := t.Agent.LastSeen
	switch {
	case seen.IsZero():
		// Its first report makes the target more than Pending.
		t.Message = "waiting for the site's agent to report"
	case now.Sub(seen) > timeout:
		t.Message = fmt.Sprintf("agent last seen %s ago; it last reported %s at %s", duration.HumanDuration(now.Sub(seen)), t.Phase, cmp.Or(t.AppliedRevision, t.DesiredRevision))
		t.Phase = PhaseUnknown
	case t.Agent.Refused != "" && t.AppliedRevision != t.DesiredRevision:
		t.Message = "the site's agent refuses the release: " + t.Agent.Refused
	}
}

// statusStore accumulates renders and reconcile results. The daemon's
// loop owns it.
type statusStore struct {
	render  RenderStatus
	targets map[reconciler.Key]*TargetStatus
	// taken is the result each target last took in, since it was given
	// its desired revision.
	taken map[reconciler.Key]resultStamp
}

// resultStamp tells one result of a tier apart from another.
type resultStamp struct {
	revision          string
	phase             reconciler.Phase
	started, finished time.Time
}

func stampOf(res reconciler.Result) resultStamp {
	return resultStamp{res.Revision, res.Phase, res.Started, res.Finished}
}

func newStatusStore() *statusStore {
	return &statusStore{targets: map[reconciler.Key]*TargetStatus{}, taken: map[reconciler.Key]resultStamp{}}
}

func (s *statusStore) renderFailed(rev sources.Revision, err error) {
	now := time.Now()
	s.render.Revision, s.render.Error, s.render.Time, s.render.Warnings = rev.String(), err.Error(), &now, nil
}

// rendered records a revision's render.
func (s *statusStore) rendered(rev sources.Revision, res *renderer.Result) {
	now := time.Now()
	s.render = RenderStatus{Revision: rev.String(), LastGoodRevision: rev.String(), Time: &now, Warnings: res.Warnings}
}

// setTargets makes targets the desired ones and returns the keys of those
// no longer among them, which are dropped. A target given a new revision is
// Pending until a pass over it reports: its former phase was about another
// revision.
func (s *statusStore) setTargets(targets []reconciler.Target) (dropped []reconciler.Key) {
	now := time.Now()
	desired := map[reconciler.Key]bool{}
	for _, t := range targets {
		for _, ts := range t.Tiers {
			k := reconciler.KeyOf(t.Cluster, ts)
			desired[k] = true
			st, ok := s.targets[k]
			if !ok {
				st = &TargetStatus{Solution: ts.Solution, Tier: ts.Tier, Cluster: t.Cluster, Phase: PhasePending, Since: now}
				s.targets[k] = st
			}
			if st.DesiredRevision != ts.Revision || st.Removed {
				st.DesiredRevision, st.Phase, st.Since, st.Message, st.Removed = ts.Revision, PhasePending, now, "", false
				delete(s.taken, k)
			}
		}
	}
	for k := range s.targets {
		if !desired[k] {
			delete(s.targets, k)
			delete(s.taken, k)
			dropped = append(dropped, k)
		}
	}
	return dropped
}

// awaits reports whether res is about a target at the revision it is to
// run, and not the result the target took in last.
func (s *statusStore) awaits(res reconciler.Result) bool {
	st, ok := s.targets[res.Key]
	return ok && !st.Removed && st.DesiredRevision == res.Revision && s.taken[res.Key] != stampOf(res)
}

func (s *statusStore) observe(res reconciler.Result) {
	k := res.Key
	st, ok := s.targets[k]
	switch {
	case !ok && res.Phase != reconciler.PhaseReady && !res.Finished.IsZero():
		// A tier the render no longer has, whose pruning was refused or
		// failed: shown until it is gone.
		st = &TargetStatus{Solution: res.Solution, Tier: res.Tier, Cluster: res.Cluster, Removed: true}
		s.targets[k] = st
	case !ok:
		return
	case st.Removed && res.Phase == reconciler.PhaseReady:
		delete(s.targets, k) // pruned
		return
	case !st.Removed && res.Revision != st.DesiredRevision:
		return // a pass over targets replaced since
	}
	if phase := string(res.Phase); phase != st.Phase {
		st.Phase, st.Since = phase, cmp.Or(res.Finished, time.Now())
	}
	st.Message = res.Message
	c := res.Counts()
	st.Changes = Changes{Created: c.Created, Configured: c.Configured, Unchanged: c.Unchanged, Deleted: c.Deleted, Skipped: c.Skipped}
	st.Corrected, st.Drift = res.Corrected, res.Drift
	if !res.Finished.IsZero() {
		finished := res.Finished
		st.LastReconcile = &finished
		// A progress report has read no pods yet: what the pods served
		// before stays until the pass ends.
		st.Models = res.Models
	}
	if res.Phase == reconciler.PhaseReady {
		st.AppliedRevision = res.Revision
	}
	s.taken[k] = stampOf(res)
}

// snapshot returns the render and the targets, sorted by key.
func (s *statusStore) snapshot() Status {
	out := Status{Render: s.render, Targets: make([]TargetStatus, 0, len(s.targets))}
	for _, k := range slices.SortedFunc(maps.Keys(s.targets), reconciler.Key.Compare) {
		out.Targets = append(out.Targets, *s.targets[k])
	}
	return out
}

// sourceStatus is what the source says about fetching the repository.
func sourceStatus(src sources.Status, spec sources.Spec) SourceStatus {
	out := SourceStatus{
		URL:                 cmp.Or(src.Revision.URL, spec.URL),
		Ref:                 spec.Ref.String(),
		Revision:            src.Revision.String(),
		Subject:             src.Revision.Subject,
		Rewritten:           src.Rewritten,
		LastAttempt:         timePtr(src.LastAttempt),
		LastSuccess:         timePtr(src.LastSuccess),
		ConsecutiveFailures: src.ConsecutiveFailures,
	}
	if src.LastError != nil {
		out.LastError = src.LastError.Error()
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
