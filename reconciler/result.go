package reconciler

import (
	"cmp"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tandem-gitops/tandem/reconciler/fieldset"
)

// Target is what one cluster should run: the tier sets rendered for it.
//
// A solution that has ApplySet parents on the cluster but no tier set in
// the target renders nothing there: it no longer targets the cluster, or
// the cluster is given with no tiers at all because the render targets it
// no more. Like a tier set with no objects, that prunes the solution's
// objects only when AllowEmpty names the solution, and otherwise fails
// saying how to allow it. A solution deleted from the repository is named
// by no render, so its objects are never pruned: a commit that deletes a
// descriptor by mistake leaves every site running. To remove a solution,
// commit it with spec.allowEmpty and no targets, and delete it once its
// objects are pruned.
type Target struct {
	Cluster string
	Tiers   []TierSet
	// AllowEmpty names the solutions that may render nothing for the
	// cluster (spec.allowEmpty) and so prune everything they have there.
	AllowEmpty []string
}

// TierSet is one tier of one solution as rendered for one cluster.
type TierSet struct {
	Solution string
	Tier     string
	// Revision is the source revision the objects were rendered from.
	Revision string
	// DependsOn names tiers of the same solution that must be Ready on the
	// cluster before this one is applied. A tier not targeted at the
	// cluster constrains nothing there.
	DependsOn []string
	Objects   []*unstructured.Unstructured
	// NoWait makes applied the end of a pass: nothing is waited for.
	NoWait bool
	// HealthTimeout bounds the wait for health; Options.HealthTimeout
	// when zero.
	HealthTimeout time.Duration
	// Adopt lets the pass take over objects that exist on the cluster but
	// were not created by tandem; without it they are conflicts.
	Adopt bool
	// ReportDrift leaves fields other field managers added to the tier's
	// objects in place, reporting them as Result.Drift; without it a pass
	// removes them.
	ReportDrift bool
}

// Phase is where a (cluster, solution, tier) stands.
type Phase string

const (
	// PhaseReady: the revision is applied and every object is healthy.
	PhaseReady Phase = "Ready"
	// PhaseProgressing: the revision is being applied, or its objects are
	// not healthy yet.
	PhaseProgressing Phase = "Progressing"
	// PhaseFailed: applying, pruning or the health check failed, or a
	// dependency is not Ready.
	PhaseFailed Phase = "Failed"
	// PhaseUnreachable: the cluster could not be reached.
	PhaseUnreachable Phase = "Unreachable"
)

// Key names one tier of one solution on one cluster: what a result, a
// plan and a status are about.
type Key struct {
	Cluster, Solution, Tier string
}

// Compare orders keys by cluster, then solution, then tier: the order of
// results, plans and status everywhere.
func (k Key) Compare(o Key) int {
	return cmp.Or(cmp.Compare(k.Cluster, o.Cluster), cmp.Compare(k.Solution, o.Solution), cmp.Compare(k.Tier, o.Tier))
}

// String names the key as cluster/solution/tier.
func (k Key) String() string { return k.Cluster + "/" + k.Solution + "/" + k.Tier }

// KeyOf returns the key of a tier set on a cluster.
func KeyOf(cluster string, ts TierSet) Key { return Key{cluster, ts.Solution, ts.Tier} }

// Result is the outcome of a reconcile of one tier on one cluster.
type Result struct {
	Key
	// Revision is the revision this pass applied.
	Revision string
	Phase    Phase
	// Message says what happened, naming the object that failed.
	Message string
	// ChangeSet lists what happened to every object: created, configured,
	// unchanged, deleted (pruned) or skipped (orphaned, left in place).
	ChangeSet *ssa.ChangeSet
	// Ignored lists the objects carrying the ApplySet's label that the
	// pass left alone, not being provably its members; Adopted the
	// existing objects it took over.
	Ignored []Ignored
	Adopted []Adopted
	// Drift lists the objects other field managers added fields to, which
	// the pass removed or, for a tier that says drift: report, left.
	Drift []fieldset.Drift
	// Corrected counts the objects put back into their desired state on a
	// pass over the revision already applied: the drift that was undone.
	Corrected int
	// Contested names the objects changed back soon after every
	// correction, by another controller fighting tandem say, whose
	// corrections Run starts backing off with this pass; each is named
	// once, when the backing off begins.
	Contested []string
	// Models says, for each workload of the tier that serves a model, the
	// versions its pods run, read at the end of a pass that applied the
	// revision, healthy or not; nil for a tier that serves no model.
	Models []ModelServing
	// Started and Finished bound the pass.
	Started  time.Time
	Finished time.Time
}

// Counts tallies a change set by action.
type Counts struct {
	Created, Configured, Unchanged, Deleted, Skipped int
}

// Counts tallies the result's change set.
func (r Result) Counts() Counts {
	var c Counts
	if r.ChangeSet == nil {
		return c
	}
	for _, e := range r.ChangeSet.Entries {
		c.add(e.Action)
	}
	return c
}

func (c *Counts) add(action ssa.Action) {
	switch action {
	case ssa.CreatedAction:
		c.Created++
	case ssa.ConfiguredAction:
		c.Configured++
	case ssa.UnchangedAction:
		c.Unchanged++
	case ssa.DeletedAction:
		c.Deleted++
	case ssa.SkippedAction:
		c.Skipped++
	}
}
