package daemon

import (
	"cmp"
	"fmt"
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
	next     map[targetKey]reconciler.TierSet
	prev     map[targetKey]reconciler.TierSet
	// ran names the clusters given targets before: one the revision no
	// longer targets stays a target, with no tiers, so the reconciler
	// prunes what it ran when the solutions allow it.
	ran        []string
	allowEmpty []string
	// wave is the wave of each solution on each cluster the revision
	// targets; waves the number of waves of each solution, and released
	// the highest wave released.
	wave     map[solutionCluster]int
	waves    map[string]int
	released map[string]int
}

type solutionCluster struct{ solution, cluster string }

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
	}
	solutions := make(map[string]*renderer.Solution, len(res.Solutions))
	for _, s := range res.Solutions {
		solutions[s.Name] = s
	}
	for _, t := range current {
		r.ran = append(r.ran, t.Cluster)
	}
	sites := make(map[string]*renderer.Site, len(res.Sites))
	for _, s := range res.Sites {
		sites[s.Name] = s
	}
	for _, t := range res.Targets {
		w := 0
		if site, ok := sites[t.Site]; ok && t.Site != "" {
			w = solutions[t.Solution].Wave(site)
		}
		r.wave[solutionCluster{t.Solution, t.Cluster}] = w
		r.waves[t.Solution] = max(r.waves[t.Solution], w+1)
	}
	return r
}

func tierSets(targets []reconciler.Target) map[targetKey]reconciler.TierSet {
	sets := map[targetKey]reconciler.TierSet{}
	for _, t := range targets {
		for _, ts := range t.Tiers {
			sets[targetKey{ts.Solution, ts.Tier, t.Cluster}] = ts
		}
	}
	return sets
}

// isReleased reports whether the new revision is released to k's cluster.
// A cluster the revision no longer targets is in the solution's last wave.
func (r *rollout) isReleased(k targetKey) bool {
	w, ok := r.wave[solutionCluster{k.solution, k.cluster}]
	if !ok {
		w = r.waves[k.solution] - 1
	}
	return w <= r.released[k.solution]
}

// targets returns what every cluster runs at this point of the rollout:
// the new revision where it is released, the previous one elsewhere.
func (r *rollout) targets() []reconciler.Target {
	sets := map[targetKey]reconciler.TierSet{}
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
func groupByCluster(sets map[targetKey]reconciler.TierSet, clusters, allowEmpty []string) []reconciler.Target {
	keys := make([]targetKey, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b targetKey) int {
		return cmp.Or(cmp.Compare(a.cluster, b.cluster), cmp.Compare(a.solution, b.solution), cmp.Compare(a.tier, b.tier))
	})
	byCluster := map[string]*reconciler.Target{}
	for _, c := range clusters {
		byCluster[c] = &reconciler.Target{Cluster: c, AllowEmpty: allowEmpty}
	}
	for _, k := range keys {
		t, ok := byCluster[k.cluster]
		if !ok {
			t = &reconciler.Target{Cluster: k.cluster, AllowEmpty: allowEmpty}
			byCluster[k.cluster] = t
		}
		t.Tiers = append(t.Tiers, sets[k])
	}
	targets := make([]reconciler.Target, 0, len(byCluster))
	for _, t := range byCluster {
		targets = append(targets, *t)
	}
	slices.SortFunc(targets, func(a, b reconciler.Target) int { return cmp.Compare(a.Cluster, b.Cluster) })
	return targets
}

// advance releases the next wave of every solution whose released targets
// are all Ready at the revision, as ready says, and reports whether it
// released any.
func (r *rollout) advance(ready func(targetKey, string) bool) bool {
	advanced := false
	for sol, n := range r.waves {
		for r.released[sol] < n-1 && r.waveDone(sol, ready) {
			r.released[sol]++
			advanced = true
		}
	}
	return advanced
}

func (r *rollout) waveDone(sol string, ready func(targetKey, string) bool) bool {
	for k := range r.next {
		if k.solution == sol && r.isReleased(k) && !ready(k, r.revision) {
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

// status reports the rollout of every solution; phase says where a target
// stands and whether it is at the revision.
func (r *rollout) status(phase func(targetKey) (string, bool)) []RolloutStatus {
	var out []RolloutStatus
	for sol, n := range r.waves {
		st := RolloutStatus{Solution: sol, Revision: r.revision, Wave: r.released[sol] + 1, Waves: n, Complete: true}
		var halted []string
		for k := range r.next {
			if k.solution != sol || !r.isReleased(k) {
				continue
			}
			p, atRevision := phase(k)
			if p != string(reconciler.PhaseReady) || !atRevision {
				st.Complete = false
			}
			if p == string(reconciler.PhaseFailed) || p == string(reconciler.PhaseUnreachable) {
				halted = append(halted, fmt.Sprintf("%s on %s %s", k.tier, k.cluster, p))
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
