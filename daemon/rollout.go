package daemon

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
)

// rollout releases a rendered revision to each solution's sites wave by
// wave, as the solution's spec.rollout.waves orders them. Tiers on named
// clusters (the cloud) go with the first wave. A wave is released once every
// target of the waves before it is Ready at the revision; until then the
// sites of later waves keep running what they ran before, drift correction
// included, and a site that ran nothing yet is left alone. A target that
// fails or cannot be reached halts its solution's rollout where it is.
type rollout struct {
	revision string
	next     map[reconciler.Key]reconciler.TierSet
	prev     map[reconciler.Key]reconciler.TierSet
	// ran names the clusters given targets before: one the revision no
	// longer targets stays a target, with no tiers, so the reconciler
	// prunes what it ran when the solutions allow it.
	ran        []string
	allowEmpty []string
	// wave is the wave of each solution on each cluster the revision
	// targets, as the render stamped it; waves the number of waves of
	// each solution, and released the highest wave released.
	wave     map[solutionCluster]int
	waves    map[string]int
	released map[string]int
	// reached is where each target stands, from the results received.
	reached map[reconciler.Key]reached
}

type solutionCluster struct{ solution, cluster string }

// reached is the phase of a target's latest result at the revision, and
// whether a pass at the revision ended Ready.
type reached struct {
	phase reconciler.Phase
	ready bool
}

// newRollout plans the rollout of a rendered revision over current, the
// targets the clusters were given before.
func newRollout(res *renderer.Result, revision string, current []reconciler.Target) *rollout {
	r := &rollout{
		revision:   revision,
		next:       tierSets(reconciler.TargetsFor(res, revision)),
		prev:       tierSets(current),
		allowEmpty: reconciler.AllowEmpty(res),
		wave:       map[solutionCluster]int{},
		waves:      map[string]int{},
		released:   map[string]int{},
		reached:    map[reconciler.Key]reached{},
	}
	for _, t := range current {
		r.ran = append(r.ran, t.Cluster)
	}
	for _, t := range res.Targets {
		r.wave[solutionCluster{t.Solution, t.Cluster}] = t.Wave
		r.waves[t.Solution] = max(r.waves[t.Solution], t.Wave+1)
	}
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
	st.phase = res.Phase
	st.ready = res.Phase == reconciler.PhaseReady && !res.Finished.IsZero()
	r.reached[res.Key] = st
}

// isReleased reports whether the new revision is released to k's cluster.
// A cluster the revision no longer targets is in the solution's last wave.
func (r *rollout) isReleased(k reconciler.Key) bool {
	w, ok := r.wave[solutionCluster{k.Solution, k.Cluster}]
	if !ok {
		w = r.waves[k.Solution] - 1
	}
	return w <= r.released[k.Solution]
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

// advance releases the next wave of every solution whose released targets
// are all Ready at the revision, and reports whether it released any.
func (r *rollout) advance() bool {
	advanced := false
	for sol, n := range r.waves {
		for r.released[sol] < n-1 && r.waveDone(sol) {
			r.released[sol]++
			advanced = true
		}
	}
	return advanced
}

func (r *rollout) waveDone(sol string) bool {
	for k := range r.next {
		if k.Solution == sol && r.isReleased(k) && !r.reached[k].ready {
			return false
		}
	}
	return true
}

// RolloutStatus is how far a revision has reached the sites of a solution.
type RolloutStatus struct {
	Solution string `json:"solution"`
	Revision string `json:"revision"`
	// Wave is the number of waves released, of Waves.
	Wave  int `json:"wave"`
	Waves int `json:"waves"`
	// Complete is true once every wave is released and Ready.
	Complete bool `json:"complete"`
	// Halted names the released targets that failed or cannot be reached,
	// which keep the next wave from being released.
	Halted string `json:"halted,omitempty"`
}

// status reports the rollout of every solution.
func (r *rollout) status() []RolloutStatus {
	var out []RolloutStatus
	for sol, n := range r.waves {
		st := RolloutStatus{Solution: sol, Revision: r.revision, Wave: r.released[sol] + 1, Waves: n, Complete: true}
		var halted []string
		for k := range r.next {
			if k.Solution != sol || !r.isReleased(k) {
				continue
			}
			reached := r.reached[k]
			if !reached.ready {
				st.Complete = false
			}
			if reached.phase == reconciler.PhaseFailed || reached.phase == reconciler.PhaseUnreachable {
				halted = append(halted, fmt.Sprintf("%s on %s %s", k.Tier, k.Cluster, reached.phase))
			}
		}
		if st.Wave < n {
			st.Complete = false
		}
		if len(halted) > 0 {
			slices.Sort(halted)
			st.Halted = fmt.Sprintf("wave %d of %d: %s", st.Wave, n, strings.Join(halted, ", "))
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b RolloutStatus) int { return cmp.Compare(a.Solution, b.Solution) })
	return out
}
