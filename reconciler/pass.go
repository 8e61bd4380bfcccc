package reconciler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/renderer"
)

// reconcileCluster runs one pass over a cluster: every tier once its
// dependencies are Ready, independent tiers concurrently. Writes run under
// ctx; waits, for a slot, a dependency or health, end with waitCtx too,
// which a newer target for the cluster cancels. Every result, Progressing
// while a tier waits for health and final, is sent on out. Under a mode
// that watches, a tier the cluster's watch shows unchanged since its last
// Ready pass is not passed over again: its result is the last one, sent
// nowhere, and a cluster whose every tier is so costs no request at all.
func (r *Reconciler) reconcileCluster(ctx, waitCtx context.Context, t Target, out chan<- Result, mode passMode) []Result {
	if mode.watch && !mode.full {
		if results, ok := r.unchanged(t); ok {
			return results
		}
	}
	started := time.Now()
	turn, err := r.slots.begin(waitCtx)
	if err != nil {
		return nil
	}
	defer turn.end()
	cp, err := r.openCluster(ctx, t)
	if err != nil {
		phase := PhaseFailed
		if clusters.IsUnreachable(err) {
			phase = PhaseUnreachable
		}
		results := make([]Result, len(t.Tiers))
		for i, ts := range t.Tiers {
			results[i] = r.finish(ctx, waitCtx, Result{Key: KeyOf(t.Cluster, ts), Revision: ts.Revision,
				Phase: phase, Message: err.Error(), ChangeSet: ssa.NewChangeSet(),
				Started: started, Finished: time.Now()}, out)
		}
		return results
	}

	watch := r.watchOf(cp.cluster, mode)
	results := make([]Result, len(cp.tiers))
	marks := make([]*clusters.Mark, len(cp.tiers))
	kept := make([]map[schema.GroupKind]listedKind, len(cp.tiers))
	done := make([]chan struct{}, len(cp.tiers))
	for i := range done {
		done[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, ts := range cp.tiers {
		wg.Go(func() {
			defer close(done[i])
			err := cmp.Or(cp.errs[i], waitFor(waitCtx, cp.tiers, cp.deps[i], done, results))
			res := Result{Key: KeyOf(t.Cluster, ts), Revision: ts.Revision,
				ChangeSet: ssa.NewChangeSet(), Started: time.Now()}
			if err != nil {
				res.Phase, res.Message, res.Finished = PhaseFailed, err.Error(), time.Now()
				results[i] = r.finish(ctx, waitCtx, res, out)
				return
			}
			if watch != nil && !mode.full && !cp.removed[i] {
				if res, ok := cp.cluster.unchangedTier(ts, t); ok {
					results[i] = res
					return
				}
			}
			p := cp.tierPass(i, &r.opts)
			p.result, p.out, p.watch = res, out, watch
			p.result.Contested = mode.contested[p.id]
			if before, ok := cp.cluster.passed[res.Key]; ok && watch != nil && !mode.full {
				p.before = &before
			}
			results[i] = r.finish(ctx, waitCtx, p.run(ctx, waitCtx, turn), out)
			marks[i], kept[i] = p.mark, p.kept
		})
	}
	wg.Wait()
	if watch != nil {
		cp.cluster.remember(t, cp.tiers, cp.removed, marks, kept, results)
	}
	for _, res := range results {
		if res.Phase == PhaseUnreachable {
			r.forget(t.Cluster)
			break
		}
	}
	return results
}

// clusterPass is where a pass over a cluster starts from, whether it
// applies or plans: the connection, the ApplySet parents found there, and
// the tier sets to pass over, with one for each tier the render dropped.
type clusterPass struct {
	cluster *cluster
	tiers   []TierSet
	// removed marks the tier sets of dropped tiers.
	removed []bool
	// allowEmpty says per solution whether its tiers may prune their
	// last objects.
	allowEmpty map[string]bool
	parentOf   map[string]*corev1.Secret
	// holders are the parents by ApplySet id.
	holders map[string]*corev1.Secret
	// rendered holds every object the tier sets render.
	rendered map[object.ObjMetadata]bool
	// deps are the indexes of the tier sets each waits for, and errs
	// the dependency cycles that keep tier sets from going on at all.
	deps [][]int
	errs []error
}

// openCluster connects to a target's cluster and reads its ApplySet
// parents. A cluster it cannot reach is forgotten, to be resolved afresh.
func (r *Reconciler) openCluster(ctx context.Context, t Target) (*clusterPass, error) {
	c, err := r.connection(ctx, t.Cluster)
	var parents []corev1.Secret
	if err == nil {
		parents, err = c.ListParents(ctx)
	}
	if err != nil {
		if clusters.IsUnreachable(err) {
			r.forget(t.Cluster)
		}
		return nil, fmt.Errorf("cluster %s: %w", t.Cluster, err)
	}
	tiers, removed := withRemovedTiers(t, parents, r.opts.Instance)
	parentOf := make(map[string]*corev1.Secret, len(parents))
	holders := make(map[string]*corev1.Secret, len(parents))
	for i := range parents {
		parentOf[parents[i].Name] = &parents[i]
		holders[parents[i].Labels[applyset.IDLabel]] = &parents[i]
	}
	rendered := make(map[object.ObjMetadata]bool)
	for _, ts := range t.Tiers {
		for _, obj := range ts.Objects {
			rendered[c.Key(obj)] = true
		}
	}
	deps, errs := dependencies(tiers)
	return &clusterPass{cluster: c, tiers: tiers, removed: removed, allowEmpty: emptyAllowed(t),
		parentOf: parentOf, holders: holders, rendered: rendered, deps: deps, errs: errs}, nil
}

// tierPass returns the pass over the i-th tier set.
func (cp *clusterPass) tierPass(i int, opts *Options) *tierPass {
	ts := cp.tiers[i]
	name := applyset.ParentName(ts.Solution, ts.Tier)
	return &tierPass{
		opts:       opts,
		cluster:    cp.cluster,
		set:        ts,
		allowEmpty: cp.allowEmpty[ts.Solution],
		removed:    cp.removed[i],
		rendered:   cp.rendered,
		holders:    cp.holders,
		parentName: name,
		id:         applyset.ID(name),
		recorded:   recordOf(cp.parentOf[name]),
		log:        opts.Logger.With("cluster", cp.cluster.Name(), "solution", ts.Solution, "tier", ts.Tier, "revision", ts.Revision),
	}
}

// waitFor waits until the tiers at deps are done and says why not to go on
// if one of them is not Ready.
func waitFor(ctx context.Context, tiers []TierSet, deps []int, done []chan struct{}, results []Result) error {
	for _, d := range deps {
		select {
		case <-done[d]:
		case <-ctx.Done():
		}
		// A newer target wins over a dependency done at the same time.
		if err := ctx.Err(); err != nil {
			return err
		}
		if results[d].Phase != PhaseReady {
			return fmt.Errorf("dependency %s is %s; not applied", tiers[d].Tier, results[d].Phase)
		}
	}
	return nil
}

// withRemovedTiers adds an empty tier set for each parent the instance owns
// of a (solution, tier) the target no longer has, to prune what the tier
// left behind; removed marks those. Parents of other instances are none of
// its business; one that names no owner, written before owners were
// recorded, is claimed when the target names its solution, by rendering
// it or allowing it to be empty. Such a tier set is at its solution's
// revision, or at the parent's last one when the target has nothing of the
// solution.
func withRemovedTiers(t Target, parents []corev1.Secret, instance string) ([]TierSet, []bool) {
	tiers := t.Tiers
	revision := make(map[string]string)
	wanted := make(map[[2]string]bool)
	for _, t := range tiers {
		revision[t.Solution] = t.Revision
		wanted[[2]string{t.Solution, t.Tier}] = true
	}
	all := slices.Clone(tiers)
	removed := make([]bool, len(tiers))
	for _, p := range parents {
		sol, tier := p.Labels[renderer.LabelSolution], p.Labels[renderer.LabelTier]
		owner := p.Annotations[applyset.OwnerAnnotation]
		_, named := revision[sol]
		claimed := owner == "" && (named || slices.Contains(t.AllowEmpty, sol))
		if sol == "" || tier == "" || wanted[[2]string{sol, tier}] || p.Name != applyset.ParentName(sol, tier) ||
			!applyset.OwnedByTandem(p.Annotations[applyset.ToolingAnnotation]) || owner != instance && !claimed {
			continue
		}
		rev := cmp.Or(revision[sol], p.Annotations[applyset.RevisionAnnotation])
		all = append(all, TierSet{Solution: sol, Tier: tier, Revision: rev})
		removed = append(removed, true)
	}
	return all, removed
}

// recordOf reads a parent, nil when there is none.
func recordOf(parent *corev1.Secret) *applyset.Record {
	if parent == nil {
		return nil
	}
	r := applyset.Read(parent)
	return &r
}

// emptyAllowed says per solution whether its tiers may prune their last
// objects: when the solution still renders objects for the cluster, or when
// the target allows it an empty render.
func emptyAllowed(t Target) map[string]bool {
	allowed := make(map[string]bool)
	for _, ts := range t.Tiers {
		if len(ts.Objects) > 0 {
			allowed[ts.Solution] = true
		}
	}
	for _, sol := range t.AllowEmpty {
		allowed[sol] = true
	}
	return allowed
}
