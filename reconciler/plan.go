package reconciler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/reconciler/fieldset"
)

// Plan is what a pass would do to one tier on one cluster, worked out
// without changing anything there.
type Plan struct {
	Key
	// Revision is the revision the plan applies.
	Revision string
	// Err says why the tier could not be planned, or not in full, naming
	// the object at fault; Changes then hold what could be planned.
	Err error
	// Unreachable is set when Err is a failure to reach the cluster.
	Unreachable bool
	// Changes say what would happen to every object the tier renders or
	// holds, in apply order.
	Changes []Change
}

// Change is what a pass would do to one object. Action is created,
// configured or unchanged for an object of the render, deleted for a member
// the render no longer has, and skipped for one of those annotated
// PruneAnnotation=disabled, which would leave the ApplySet and stay. The
// values of a Secret's data and stringData are masked, as
// ssa.ResourceManager.Diff masks them.
type Change struct {
	ssa.ChangeSetEntry
	// Live is the object as the cluster holds it; nil for one that would
	// be created.
	Live *unstructured.Unstructured
	// Planned is the object as the pass would leave it: the desired object
	// for one created, the server's answer to a dry-run apply for one
	// configured, the live one without its ApplySet label for one skipped;
	// nil for one unchanged or deleted. For one unchanged whose Drift the
	// tier leaves in place, it is the object as Git has it: the live one
	// without the fields added.
	Planned *unstructured.Unstructured
	// Drift lists the fields other field managers added to the object;
	// when the tier corrects drift, Planned is without them.
	Drift *fieldset.Drift
}

// Counts tallies the plan's changes by action.
func (p Plan) Counts() Counts {
	var c Counts
	for _, ch := range p.Changes {
		c.add(ch.Action)
	}
	return c
}

// Plan works out what Apply would do to every target, along the same path
// and writing nothing: it reads the ApplySet parents and members as Apply
// does, takes the objects in sync with their members as unchanged, and
// asks the cluster what applying each of the others would do with a
// server-side dry-run apply. Stale members are planned as pruned, or as
// skipped when annotated PruneAnnotation=disabled, and a render that would
// prune a solution's every object is refused as Apply refuses it.
//
// Tiers are planned all at once, whatever their dependencies: a plan shows
// the whole of a revision. It returns a plan per (cluster, solution, tier),
// sorted; a cluster that cannot be reached has plans saying so, and the
// others are planned all the same.
func (r *Reconciler) Plan(ctx context.Context, targets []Target) []Plan {
	plans := eachCluster(targets, func(t Target) []Plan {
		if err := r.slots.take(ctx); err != nil {
			return nil
		}
		defer r.slots.give()
		return r.planCluster(ctx, t)
	})
	slices.SortFunc(plans, func(a, b Plan) int { return a.Key.Compare(b.Key) })
	return plans
}

// planCluster plans every tier of a cluster, the tiers concurrently.
func (r *Reconciler) planCluster(ctx context.Context, t Target) []Plan {
	cp, err := r.openCluster(ctx, t)
	if err != nil {
		plans := make([]Plan, len(t.Tiers))
		for i, ts := range t.Tiers {
			plans[i] = Plan{Key: KeyOf(t.Cluster, ts), Revision: ts.Revision,
				Err: err, Unreachable: clusters.IsUnreachable(err)}
		}
		return plans
	}
	plans := make([]Plan, len(cp.tiers))
	failed := make([][]failedDryRun, len(cp.tiers))
	var wg sync.WaitGroup
	for i, ts := range cp.tiers {
		if cp.errs[i] != nil {
			plans[i] = Plan{Key: KeyOf(t.Cluster, ts), Revision: ts.Revision, Err: cp.errs[i]}
			continue
		}
		wg.Go(func() { plans[i], failed[i] = cp.tierPass(i, &r.opts).plan(ctx) })
	}
	wg.Wait()

	first := createdFirst(plans)
	for i := range plans {
		plans[i].settle(failed[i], first)
	}
	for _, p := range plans {
		if p.Unreachable {
			r.forget(t.Cluster)
			break
		}
	}
	return plans
}

// plan works out what run would do, from the same survey, and writes
// nothing. It returns the dry-runs that failed apart, for planCluster to
// settle once it knows what the cluster's other tiers create.
func (p *tierPass) plan(ctx context.Context) (Plan, []failedDryRun) {
	plan := Plan{Key: KeyOf(p.cluster.Name(), p.set), Revision: p.set.Revision}
	s, err := p.survey(ctx)
	if err != nil {
		plan.Err, plan.Unreachable = err, clusters.IsUnreachable(err)
		return plan, nil
	}
	for _, key := range s.unchanged {
		c, err := s.withDrift(Change{ChangeSetEntry: entry(s.desired[key], ssa.UnchangedAction), Live: s.live[key]})
		if err != nil {
			plan.Err = errors.Join(plan.Err, err)
		}
		plan.Changes = append(plan.Changes, c)
	}
	applied, failed := p.dryRun(ctx, s)
	plan.Changes = append(plan.Changes, applied...)
	for _, obj := range s.prune {
		plan.Changes = append(plan.Changes, Change{ChangeSetEntry: entry(obj, ssa.DeletedAction), Live: obj})
	}
	for _, obj := range s.orphan {
		left := obj.DeepCopy()
		labels := left.GetLabels()
		delete(labels, applyset.PartOfLabel)
		left.SetLabels(labels)
		plan.Changes = append(plan.Changes, Change{ChangeSetEntry: entry(obj, ssa.SkippedAction), Live: obj, Planned: left})
	}
	return plan, failed
}

// withDrift adds to c the fields other managers added to its object. When
// the pass removes them, c configures the object and plans it without
// them; when the tier only reports them and c changes nothing else, c
// stays unchanged and Planned shows the object without them.
func (s *survey) withDrift(c Change) (Change, error) {
	i, ok := s.driftAt[c.ObjMetadata]
	if !ok {
		return c, nil
	}
	d := &s.drift[i]
	c.Drift = d
	if c.Action == ssa.UnchangedAction {
		c.Live = s.live[c.ObjMetadata].DeepCopy()
		c.Planned = c.Live.DeepCopy()
		if utils.IsSecret(c.Live) {
			if err := ssa.SanitizeUnstructuredData(c.Live, c.Planned); err != nil {
				return c, fmt.Errorf("%s: mask data: %w", c.Subject, err)
			}
		}
		if d.Corrected {
			c.Action = ssa.ConfiguredAction
		}
	} else if !d.Corrected {
		return c, nil
	}
	c.Planned = d.Remove(c.Planned)
	return c, nil
}

// failedDryRun is an object whose dry-run apply failed, and why.
type failedDryRun struct {
	obj *unstructured.Unstructured
	err error
}

// dryRun asks the cluster what applying each object of s.apply would do,
// through ssa's server-side dry-run apply (ssa.ResourceManager.Diff), a few
// objects at a time. It returns a change for every object it could plan,
// and the objects it could not.
func (p *tierPass) dryRun(ctx context.Context, s *survey) ([]Change, []failedDryRun) {
	changes := make([]Change, len(s.apply))
	errs := make([]error, len(s.apply))
	var g errgroup.Group
	g.SetLimit(clusters.Concurrency)
	for i, obj := range s.apply {
		g.Go(func() error {
			e, live, merged, err := p.cluster.Manager().Diff(ctx, obj.DeepCopy(), ssa.DiffOptions{})
			if err != nil {
				errs[i] = err
				return nil
			}
			c := Change{ChangeSetEntry: *e}
			switch e.Action {
			case ssa.CreatedAction:
				c.Planned = obj
			case ssa.ConfiguredAction:
				c.Live, c.Planned = live, merged
			default:
				c.Live = s.live[e.ObjMetadata]
			}
			changes[i], errs[i] = s.withDrift(c)
			return nil
		})
	}
	_ = g.Wait()
	planned := make([]Change, 0, len(s.apply))
	var failed []failedDryRun
	for i, obj := range s.apply {
		if errs[i] != nil {
			failed = append(failed, failedDryRun{obj: obj, err: errs[i]})
			continue
		}
		planned = append(planned, changes[i])
	}
	return planned, failed
}

// created is what a pass over a cluster creates before the objects that
// need it: namespaces, and the kinds of CustomResourceDefinitions.
type created struct {
	namespaces map[string]bool
	kinds      map[schema.GroupKind]bool
}

var (
	namespaceGroupKind = schema.GroupKind{Kind: "Namespace"}
	crdGroupKind       = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
)

// createdFirst returns the namespaces the plans of a cluster create and the
// kinds of the CustomResourceDefinitions they create or change. A pass
// applies them first: ssa stages them within a tier, and a tier that needs
// another's waits for it through dependsOn.
func createdFirst(plans []Plan) created {
	c := created{namespaces: make(map[string]bool), kinds: make(map[schema.GroupKind]bool)}
	for _, p := range plans {
		for _, ch := range p.Changes {
			switch {
			case ch.Planned == nil:
			case ch.ObjMetadata.GroupKind == namespaceGroupKind && ch.Action == ssa.CreatedAction:
				c.namespaces[ch.ObjMetadata.Name] = true
			case ch.ObjMetadata.GroupKind == crdGroupKind:
				group, _, _ := unstructured.NestedString(ch.Planned.Object, "spec", "group")
				kind, _, _ := unstructured.NestedString(ch.Planned.Object, "spec", "names", "kind")
				c.kinds[schema.GroupKind{Group: group, Kind: kind}] = true
			}
		}
	}
	return c
}

// settle completes a plan: an object whose dry-run failed only because its
// namespace or its kind does not exist yet, and the pass creates that
// first, would be created; any other failure is the plan's error. Then it
// masks Secrets and puts the changes in apply order.
func (p *Plan) settle(failed []failedDryRun, first created) {
	var errs []error
	for _, f := range failed {
		gk := f.obj.GroupVersionKind().GroupKind()
		if apierrors.IsNotFound(f.err) && first.namespaces[f.obj.GetNamespace()] ||
			meta.IsNoMatchError(f.err) && first.kinds[gk] {
			p.Changes = append(p.Changes, Change{ChangeSetEntry: entry(f.obj, ssa.CreatedAction), Planned: f.obj})
			continue
		}
		// ssa's dry-run errors name the object.
		errs = append(errs, f.err)
	}
	for i := range p.Changes {
		if err := maskSecret(&p.Changes[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		p.Err = errors.Join(append([]error{p.Err}, errs...)...)
		p.Unreachable = p.Unreachable || clusters.IsUnreachable(p.Err)
	}
	slices.SortStableFunc(p.Changes, func(a, b Change) int { return compareObjects(a.ObjMetadata, b.ObjMetadata) })
}

// maskSecret masks the values of a Secret's data and stringData in a
// change, unless ssa's Diff masked them already.
func maskSecret(c *Change) error {
	obj := c.Live
	if obj == nil {
		obj = c.Planned
	}
	if obj == nil || !utils.IsSecret(obj) || c.Action == ssa.ConfiguredAction {
		return nil
	}
	for _, u := range []*unstructured.Unstructured{c.Live, c.Planned} {
		if u == nil {
			continue
		}
		maskValues(u, "stringData")
	}
	if err := ssa.SanitizeUnstructuredData(c.Live, c.Planned); err != nil {
		return fmt.Errorf("%s: mask data: %w", c.Subject, err)
	}
	return nil
}

// maskedValue is ssa's mask of a Secret value.
const maskedValue = "***"

// maskValues replaces every value of the map field of u with maskedValue.
func maskValues(u *unstructured.Unstructured, field string) {
	if data, ok, _ := unstructured.NestedMap(u.Object, field); ok {
		for k := range data {
			data[k] = maskedValue
		}
		_ = unstructured.SetNestedMap(u.Object, data, field)
	}
}
