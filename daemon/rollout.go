package daemon

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/renderer/maintenance"
)

// rollout releases a rendered revision to each solution's sites wave by
// wave, as the solution's spec.rollout orders them. Tiers on named clusters
// (the cloud) go with the first wave. Within a wave, at most maxConcurrency
// sites are updated at once; the next wave is released once the wave's
// sites are Ready at the revision (up to maxFailures of them may fail
// instead) and have stayed so for soak, and, when the wave asks for it,
// once it is approved. Until then the sites of later waves keep running
// what they ran before, drift correction included, and a site that ran
// nothing yet is left alone. More failures than the wave allows, or a wave
// not Ready by its progressDeadline, halt the solution's rollout where it
// is; an abort gives every site of the solution back what it ran before.
type rollout struct {
	revision string
	next     map[reconciler.Key]reconciler.TierSet
	prev     map[reconciler.Key]reconciler.TierSet
	// ran names the clusters given targets before: one the revision no
	// longer targets stays a target, with no tiers, so the reconciler
	// prunes what it ran when the solutions allow it.
	ran        []string
	allowEmpty []string
	solutions  map[string]*solutionRollout
	// tiers are the keys of next by solution and cluster: a site's tiers.
	tiers map[[2]string][]reconciler.Key
	// reached is where each target stands, from the results received.
	reached map[reconciler.Key]reached
}

// solutionRollout is the rollout of one solution.
type solutionRollout struct {
	name  string
	waves []*wave
	// wave is the wave of each of the solution's clusters.
	wave map[string]int
	// deadlined is set when a wave missed its progress deadline, until
	// the rollout is resumed.
	deadlined string
	aborted   bool
	since     time.Time // when the state last changed
}

// wave is one wave of a solution's rollout.
type wave struct {
	// windows are the maintenance windows of the wave's sites: a site is
	// released only while one is open.
	windows map[string]maintenance.Schedule
	policy  renderer.Policy
	// sites are the wave's clusters that rollout counts, in order; named
	// clusters (the cloud) are released with the first wave at once.
	sites, named []string
	released     map[string]bool
	// started is when the wave was released, ready when its sites were
	// all Ready (zero while not); approved is set by an approval.
	started, ready time.Time
	approved       bool
}

// reached is the phase of a target's latest result at the revision,
// whether a pass at the revision ended Ready, and whether one ended failed
// (Failed or Unreachable) with none Ready since: a failed site retrying is
// Progressing again for a while, and still failed.
type reached struct {
	phase         reconciler.Phase
	ready, failed bool
	since         time.Time // when it failed, or when phase began
	why           string    // the message of the failure
}

// newRollout plans the rollout of a rendered revision over current, the
// targets the clusters were given before, starting at now.
func newRollout(res *renderer.Result, revision string, current []reconciler.Target, now time.Time) *rollout {
	r := &rollout{
		revision:   revision,
		next:       tierSets(reconciler.TargetsFor(res, revision)),
		prev:       tierSets(current),
		allowEmpty: reconciler.AllowEmpty(res),
		solutions:  map[string]*solutionRollout{},
		reached:    map[reconciler.Key]reached{},
		tiers:      map[[2]string][]reconciler.Key{},
	}
	for k := range r.next {
		r.tiers[[2]string{k.Solution, k.Cluster}] = append(r.tiers[[2]string{k.Solution, k.Cluster}], k)
	}
	for _, t := range current {
		r.ran = append(r.ran, t.Cluster)
	}
	descriptors := map[string]*renderer.Solution{}
	for _, s := range res.Solutions {
		descriptors[s.Name] = s
	}
	windows := map[string]maintenance.Schedule{}
	for _, s := range res.Sites {
		windows[s.Name] = s.Windows()
	}
	for _, t := range res.Targets {
		s, ok := r.solutions[t.Solution]
		if !ok {
			s = &solutionRollout{name: t.Solution, wave: map[string]int{}, since: now}
			r.solutions[t.Solution] = s
		}
		for len(s.waves) <= t.Wave {
			s.waves = append(s.waves, &wave{released: map[string]bool{}, windows: map[string]maintenance.Schedule{}})
		}
		if _, seen := s.wave[t.Cluster]; seen {
			continue
		}
		s.wave[t.Cluster] = t.Wave
		w := s.waves[t.Wave]
		if t.Site == "" {
			w.named = append(w.named, t.Cluster)
		} else {
			w.sites = append(w.sites, t.Cluster)
			w.windows[t.Cluster] = windows[t.Site]
		}
	}
	for _, s := range r.solutions {
		for i, w := range s.waves {
			slices.Sort(w.sites)
			if d, ok := descriptors[s.name]; ok {
				w.policy = d.Policy(i, len(w.sites))
			} else {
				w.policy = renderer.Policy{MaxConcurrency: len(w.sites)}
			}
		}
	}
	r.advance(now)
	return r
}

func tierSets(targets []reconciler.Target) map[reconciler.Key]reconciler.TierSet {
	sets := map[reconciler.Key]reconciler.TierSet{}
	for _, t := range targets {
		for _, ts := range t.Tiers {
			sets[reconciler.KeyOf(t.Cluster, ts)] = ts
		}
	}
	return sets
}

// observe takes in a result of a pass at the revision; those of passes at
// the revision before say nothing about its rollout. A Progressing one
// changes the phase; only a final Ready one says the target is at the
// revision.
func (r *rollout) observe(res reconciler.Result) {
	if res.Revision != r.revision {
		return
	}
	st := r.reached[res.Key]
	final := !res.Finished.IsZero()
	failed := final && (res.Phase == reconciler.PhaseFailed || res.Phase == reconciler.PhaseUnreachable)
	if st.phase != res.Phase && !st.failed || failed && !st.failed {
		st.since = cmp.Or(res.Finished, res.Started)
	}
	st.phase = res.Phase
	st.ready = res.Phase == reconciler.PhaseReady && final
	switch {
	case failed:
		st.failed, st.why = true, res.Message
	case st.ready:
		st.failed, st.why = false, ""
	}
	r.reached[res.Key] = st
}

// siteState is where a solution's site stands at the revision.
type siteState int

const (
	updating siteState = iota
	siteReady
	siteFailed
)

// site says where the solution's tiers on cluster stand: Ready when every
// one is, failed when one failed or could not be reached.
func (r *rollout) site(sol, cluster string) siteState {
	state := siteReady
	for _, k := range r.tiers[[2]string{sol, cluster}] {
		switch st := r.reached[k]; {
		case st.failed || st.phase == reconciler.PhaseFailed || st.phase == reconciler.PhaseUnreachable:
			return siteFailed
		case !st.ready:
			state = updating
		}
	}
	return state
}

// isReleased reports whether the new revision is released to k's cluster.
// A cluster the revision no longer targets is in the solution's last wave.
func (r *rollout) isReleased(k reconciler.Key) bool {
	s, ok := r.solutions[k.Solution]
	switch {
	case !ok:
		// A solution the revision targets nowhere: its tiers go, as
		// the reconciler prunes what its solutions allow.
		return true
	case s.aborted:
		return false
	}
	i, ok := s.wave[k.Cluster]
	if !ok {
		// Dropped from the solution: pruned with the last wave.
		return !s.waves[len(s.waves)-1].started.IsZero()
	}
	w := s.waves[i]
	return w.released[k.Cluster] || !w.started.IsZero() && slices.Contains(w.named, k.Cluster)
}

// targets returns what every cluster runs at this point of the rollout:
// the new revision where it is released, the previous one elsewhere.
func (r *rollout) targets() []reconciler.Target {
	sets := map[reconciler.Key]reconciler.TierSet{}
	for k, ts := range r.next {
		if r.isReleased(k) {
			sets[k] = ts
		} else if old, ok := r.prev[k]; ok {
			sets[k] = old
		}
	}
	// A tier the revision drops stays until its cluster's wave comes, when
	// leaving it out prunes it.
	for k, old := range r.prev {
		if _, ok := r.next[k]; !ok && !r.isReleased(k) {
			sets[k] = old
		}
	}
	return groupByCluster(sets, r.ran, r.allowEmpty)
}

// groupByCluster groups tier sets into targets, with a target for each of
// clusters too, with no tiers when it has none.
func groupByCluster(sets map[reconciler.Key]reconciler.TierSet, clusters, allowEmpty []string) []reconciler.Target {
	byCluster := map[string]*reconciler.Target{}
	for _, c := range clusters {
		byCluster[c] = &reconciler.Target{Cluster: c, AllowEmpty: allowEmpty}
	}
	for _, k := range slices.SortedFunc(maps.Keys(sets), reconciler.Key.Compare) {
		t, ok := byCluster[k.Cluster]
		if !ok {
			t = &reconciler.Target{Cluster: k.Cluster, AllowEmpty: allowEmpty}
			byCluster[k.Cluster] = t
		}
		t.Tiers = append(t.Tiers, sets[k])
	}
	targets := make([]reconciler.Target, 0, len(byCluster))
	for _, c := range slices.Sorted(maps.Keys(byCluster)) {
		targets = append(targets, *byCluster[c])
	}
	return targets
}

// advance moves every solution's rollout as far as it may go at now, and
// reports whether it released a site.
func (r *rollout) advance(now time.Time) bool {
	advanced := false
	for _, s := range r.solutions {
		if s.advance(r, now) {
			advanced = true
		}
	}
	return advanced
}

// advance goes through the waves in order: each is started once the one
// before is done (and approved, when it asks for it), has sites released
// up to its concurrency, and is done once its sites are Ready, or failed
// within its budget, and have soaked.
func (s *solutionRollout) advance(r *rollout, now time.Time) bool {
	if s.aborted || s.deadlined != "" {
		return false
	}
	released := false
	for i, w := range s.waves {
		if w.started.IsZero() {
			if w.policy.Approve && !w.approved {
				return released
			}
			w.started, s.since = now, now
		}
		busy, failed := 0, 0
		for _, c := range w.sites {
			if !w.released[c] {
				continue
			}
			switch r.site(s.name, c) {
			case updating:
				busy++
			case siteFailed:
				failed++
			}
		}
		for _, c := range w.sites {
			if busy >= w.policy.MaxConcurrency || failed > w.policy.MaxFailures {
				break
			}
			if !w.released[c] && w.windows[c].Open(now) {
				w.released[c], released = true, true
				busy++
			}
		}
		if !s.waveDone(r, w) {
			w.ready = time.Time{}
			if s.onlyWaiting(r, w, now) {
				// Sites waiting for their windows do not spend the
				// wave's progress deadline: it starts again.
				w.started = now
			}
			if d := w.policy.ProgressDeadline; d > 0 && now.Sub(w.started) >= d {
				s.deadlined = fmt.Sprintf("wave %d of %d not Ready within its progress deadline of %s", i+1, len(s.waves), d)
				s.since = now
			}
			return released
		}
		if w.ready.IsZero() {
			w.ready, s.since = now, now
		}
		if now.Sub(w.ready) < w.policy.Soak {
			return released
		}
	}
	return released
}

// waveDone reports whether every site of w was released and is Ready, or
// failed within the wave's budget, and every named cluster is Ready.
func (s *solutionRollout) waveDone(r *rollout, w *wave) bool {
	failed := 0
	for _, c := range w.sites {
		if !w.released[c] {
			return false
		}
		switch r.site(s.name, c) {
		case updating:
			return false
		case siteFailed:
			failed++
		}
	}
	for _, c := range w.named {
		if r.site(s.name, c) != siteReady {
			return false
		}
	}
	return failed <= w.policy.MaxFailures
}

// onlyWaiting reports whether all w waits for is sites outside their
// maintenance windows: every site released is Ready or failed, every named
// cluster Ready, and no site held back but by its window.
func (s *solutionRollout) onlyWaiting(r *rollout, w *wave, now time.Time) bool {
	waiting := false
	for _, c := range w.sites {
		switch {
		case !w.released[c] && w.windows[c].Open(now):
			return false
		case !w.released[c]:
			waiting = true
		case r.site(s.name, c) == updating:
			return false
		}
	}
	for _, c := range w.named {
		if r.site(s.name, c) != siteReady {
			return false
		}
	}
	return waiting
}

// complete reports whether every wave is done and soaked.
func (s *solutionRollout) complete(r *rollout) bool {
	for _, w := range s.waves {
		if w.started.IsZero() || w.ready.IsZero() || !s.waveDone(r, w) {
			return false
		}
	}
	return true
}

// current returns the index of the wave the rollout is at: the last one
// started.
func (s *solutionRollout) current() int {
	i := 0
	for j, w := range s.waves {
		if !w.started.IsZero() {
			i = j
		}
	}
	return i
}

// nextWake returns when, after now, the rollout next needs a look with
// nothing else happening: a soak ending, a progress deadline passing or a
// waiting site's window opening; zero for never.
func (r *rollout) nextWake(now time.Time) time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, s := range r.solutions {
		if s.aborted || s.deadlined != "" {
			continue
		}
		w := s.waves[s.current()]
		for _, c := range w.sites {
			if w.released[c] || w.windows[c].Open(now) {
				continue
			}
			if opens, _ := w.windows[c].Next(now); !opens.IsZero() {
				earliest(opens)
			}
		}
		switch {
		case !w.ready.IsZero() && w.policy.Soak > 0:
			earliest(w.ready.Add(w.policy.Soak))
		case w.ready.IsZero() && w.policy.ProgressDeadline > 0 && !w.started.IsZero():
			earliest(w.started.Add(w.policy.ProgressDeadline))
		}
	}
	return next
}

// errNoRollout says an action names a solution the revision does not roll
// out.
var errNoRollout = fmt.Errorf("no rollout of that solution")

// approve lets go the wave of sol that waits for an approval: the first
// one not started, once the wave before it is done and soaked.
func (r *rollout) approve(sol string, now time.Time) error {
	s, ok := r.solutions[sol]
	if !ok {
		return errNoRollout
	}
	i := slices.IndexFunc(s.waves, func(w *wave) bool { return w.started.IsZero() })
	switch {
	case i < 0:
		return fmt.Errorf("every wave of %s is released", sol)
	case !s.waves[i].policy.Approve:
		return fmt.Errorf("wave %d of %d of %s needs no approval", i+1, len(s.waves), sol)
	case s.aborted || s.deadlined != "":
		return fmt.Errorf("the rollout of %s is not going on", sol)
	}
	if prev := s.waves[max(i-1, 0)]; i > 0 && (prev.ready.IsZero() || now.Sub(prev.ready) < prev.policy.Soak) {
		return fmt.Errorf("wave %d of %d of %s waits for wave %d to be Ready and soaked before it can be approved", i+1, len(s.waves), sol, i)
	}
	s.waves[i].approved = true
	r.advance(now)
	return nil
}

// resume restarts the progress deadline of a rollout that missed it.
func (r *rollout) resume(sol string, now time.Time) error {
	s, ok := r.solutions[sol]
	switch {
	case !ok:
		return errNoRollout
	case s.aborted:
		return fmt.Errorf("the rollout of %s was aborted; push a new commit to roll out again", sol)
	case s.deadlined == "":
		return fmt.Errorf("the rollout of %s is not halted by its progress deadline", sol)
	}
	s.deadlined, s.since = "", now
	s.waves[s.current()].started = now
	r.advance(now)
	return nil
}

// abort gives every site of sol what it ran before the revision.
func (r *rollout) abort(sol string, now time.Time) error {
	s, ok := r.solutions[sol]
	if !ok {
		return errNoRollout
	}
	s.aborted, s.since = true, now
	return nil
}

// RolloutStatus is how far a revision has reached the sites of a solution.
type RolloutStatus struct {
	Solution string `json:"solution"`
	Revision string `json:"revision"`
	// Wave is the number of the wave the rollout is at, of Waves.
	Wave  int `json:"wave"`
	Waves int `json:"waves"`
	// State is Progressing, Soaking, WaitingForApproval, Halted, Aborted
	// or Complete; Since is when the rollout got there.
	State string    `json:"state"`
	Since time.Time `json:"since"`
	// Complete is true once every wave is released, Ready and soaked.
	Complete bool `json:"complete"`
	// Halted says why the rollout does not go on: the released sites
	// that failed or cannot be reached past the wave's budget, each with
	// tier, phase and since, or a missed progress deadline.
	Halted string `json:"halted,omitempty"`
	// SoakUntil is when the current wave's soak ends.
	SoakUntil *time.Time `json:"soakUntil,omitempty"`
	// Updated counts the sites given the revision, of Sites.
	Updated int `json:"updated"`
	Sites   int `json:"sites"`
	// Waiting names the sites of the current wave outside their
	// maintenance windows, each with when its next window opens.
	Waiting []string `json:"waiting,omitempty"`
}

// Rollout states.
const (
	RolloutProgressing        = "Progressing"
	RolloutSoaking            = "Soaking"
	RolloutWaitingForApproval = "WaitingForApproval"
	RolloutHalted             = "Halted"
	RolloutAborted            = "Aborted"
	RolloutComplete           = "Complete"
)

// status reports the rollout of every solution at now.
func (r *rollout) status(now time.Time) []RolloutStatus {
	out := make([]RolloutStatus, 0, len(r.solutions))
	for _, s := range r.solutions {
		i := s.current()
		w := s.waves[i]
		st := RolloutStatus{Solution: s.name, Revision: r.revision, Wave: i + 1, Waves: len(s.waves), State: RolloutProgressing, Since: s.since}
		for _, wv := range s.waves {
			st.Sites += len(wv.sites)
			st.Updated += len(wv.released)
		}
		var failed []string
		for _, k := range slices.SortedFunc(maps.Keys(r.next), reconciler.Key.Compare) {
			if reached := r.reached[k]; k.Solution == s.name && r.isReleased(k) && reached.failed {
				phase := reached.phase
				if phase != reconciler.PhaseUnreachable {
					phase = reconciler.PhaseFailed // retrying, Progressing meanwhile
				}
				line := fmt.Sprintf("%s on %s %s since %s", k.Tier, k.Cluster, phase, reached.since.UTC().Format(time.RFC3339))
				if reached.why != "" {
					line += " (" + truncate(reached.why, 200) + ")"
				}
				failed = append(failed, line)
			}
		}
		for _, c := range w.sites {
			if opens, _ := w.windows[c].Next(now); !w.released[c] && !w.windows[c].Open(now) && !w.started.IsZero() {
				st.Waiting = append(st.Waiting, fmt.Sprintf("%s: waiting for its window, opens at %s", c, opens.UTC().Format(time.RFC3339)))
			}
		}
		soaked := !w.ready.IsZero() && now.Sub(w.ready) >= w.policy.Soak
		switch {
		case s.aborted:
			st.State = RolloutAborted
		case s.deadlined != "":
			st.State, st.Halted = RolloutHalted, s.deadlined
		case len(failed) > w.policy.MaxFailures:
			st.State = RolloutHalted
			st.Halted = fmt.Sprintf("wave %d of %d: %s", i+1, len(s.waves), strings.Join(failed, ", "))
		case !w.ready.IsZero() && !soaked:
			st.State = RolloutSoaking
			until := w.ready.Add(w.policy.Soak)
			st.SoakUntil = &until
		case soaked && i+1 < len(s.waves):
			st.State = RolloutWaitingForApproval
		case soaked && s.complete(r):
			st.State, st.Complete = RolloutComplete, true
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b RolloutStatus) int { return cmp.Compare(a.Solution, b.Solution) })
	return out
}

// truncate shortens s to at most n runes, saying so.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
