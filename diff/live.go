package diff

import (
	"slices"
	"strings"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tandem-gitops/tandem/reconciler"
)

// LiveName is the name of the base side of a comparison with the live
// clusters.
const LiveName = "live"

// Orphaned is what happens, in a comparison with the live clusters, to an
// object the head revision no longer has but which is annotated
// tandem.dev/prune: disabled: it stays, without the label that made it
// tandem's. It counts as a change.
const Orphaned Action = "orphaned"

// Drifted is an object, in a comparison with the live clusters, to which
// other field managers added fields that its tier leaves in place (drift:
// report): it differs from Git without a pass changing it. It counts as a
// change. Where the tier corrects drift, the object is Changed.
const Drifted Action = "drifted"

// Failure is a cluster, or one tier on it, that could not be compared with
// the head revision.
type Failure struct {
	Cluster string `json:"cluster"`
	// Solution and Tier are empty when the whole cluster failed.
	Solution    string `json:"solution,omitempty"`
	Tier        string `json:"tier,omitempty"`
	Unreachable bool   `json:"unreachable,omitempty"`
	Error       string `json:"error"`
}

// String says where the failure is and why.
func (f Failure) String() string {
	if f.Tier == "" {
		return "cluster " + f.Cluster + ": " + f.Error
	}
	return "cluster " + f.Cluster + ", tier " + f.Solution + "/" + f.Tier + ": " + f.Error
}

// liveActions maps what a reconcile pass would do to an object to what a
// report calls it; an object left unchanged is no change.
var liveActions = map[ssa.Action]Action{
	ssa.CreatedAction:    Added,
	ssa.ConfiguredAction: Changed,
	ssa.DeletedAction:    Removed,
	ssa.SkippedAction:    Orphaned,
}

// serverFields are the metadata fields the API server keeps for itself:
// no render sets them, and no reviewer needs to see them change.
var serverFields = []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"}

// Live reports what applying head would do to the live clusters, from the
// reconciler's plans of it (see reconciler.Reconciler.Plan): the objects it
// would create are Added, with the desired object; those it would
// configure are Changed, with the live object against the server's dry-run
// answer; those it would prune are Removed, and those annotated
// tandem.dev/prune: disabled Orphaned, and those with fields added by hand
// that their tier leaves in place Drifted. Both sides leave out status and the
// metadata the server keeps for itself, and Secret values come masked.
// Clusters and tiers that could not be planned are the report's Failures.
func Live(head Revision, plans []reconciler.Plan) (*Report, error) {
	sites := map[reconciler.Key]string{}
	after := map[target]bool{}
	if head.Result != nil {
		for _, t := range head.Result.Targets {
			sites[reconciler.Key{Cluster: t.Cluster, Solution: t.Solution, Tier: t.Tier}] = t.Site
			after[target{t.Solution, t.Tier, t.Cluster, t.Site}] = true
		}
	}
	r := &Report{Base: LiveName, Head: head.Name, Changes: []Change{}}
	clusters := map[string]bool{}
	before := map[target]bool{}
	for _, p := range plans {
		clusters[p.Cluster] = true
		if p.Err != nil {
			r.Failures = addFailure(r.Failures, p)
		}
		t := target{p.Solution, p.Tier, p.Cluster, sites[p.Key]}
		for _, c := range p.Changes {
			if c.Live != nil {
				before[t] = true
			}
			action, ok := liveActions[c.Action]
			if c.Action == ssa.UnchangedAction && c.Drift != nil {
				action, ok = Drifted, true
			}
			if !ok {
				continue
			}
			r.Changes = append(r.Changes, Change{
				ObjectKey: ObjectKey{Cluster: p.Cluster, Group: c.ObjMetadata.GroupKind.Group, Kind: c.ObjMetadata.GroupKind.Kind,
					Namespace: c.ObjMetadata.Namespace, Name: c.ObjMetadata.Name},
				Solution: p.Solution, Tier: p.Tier, Site: t.site, Action: action,
				Base: withoutServerFields(c.Live), Head: withoutServerFields(c.Planned),
			})
		}
	}
	slices.SortStableFunc(r.Changes, func(a, b Change) int { return compareKeys(a.ObjectKey, b.ObjectKey) })
	// Every change is one the reconciler would make, so none drops out
	// here, even one whose difference normalising hides.
	if _, err := describe(r.Changes); err != nil {
		return nil, err
	}
	r.Clusters = len(clusters)
	r.Summary = summarize(r.Changes, before, after, tierRanks(head.Result))
	return r, nil
}

// addFailure adds the failure of a plan; the tiers of a cluster failing
// alike, as an unreachable one does, make one failure of the cluster.
func addFailure(failures []Failure, p reconciler.Plan) []Failure {
	msg := strings.TrimPrefix(p.Err.Error(), "cluster "+p.Cluster+": ")
	for i := range failures {
		if f := &failures[i]; f.Cluster == p.Cluster && f.Error == msg {
			f.Solution, f.Tier = "", ""
			return failures
		}
	}
	f := Failure{Cluster: p.Cluster, Unreachable: p.Unreachable, Error: msg}
	if !p.Unreachable {
		f.Solution, f.Tier = p.Solution, p.Tier
	}
	return append(failures, f)
}

// withoutServerFields returns a copy of u without status and serverFields,
// or nil for nil.
func withoutServerFields(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	out := u.DeepCopy()
	delete(out.Object, "status")
	for _, f := range serverFields {
		unstructured.RemoveNestedField(out.Object, "metadata", f)
	}
	return out
}
