package reconciler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/reconciler/fieldset"
)

// errEmptyRender refuses a render that would prune a solution's every
// object on a cluster.
var errEmptyRender = errors.New("the render has no objects for this cluster")

// tierPass is one reconcile of a tier on a cluster: list what the ApplySet
// holds, apply what differs, prune what left, wait for health, record.
type tierPass struct {
	opts    *Options
	cluster *cluster
	set     TierSet
	// allowEmpty is whether the tier may prune its last object: when the
	// solution still has objects on the cluster, or it allows being empty.
	allowEmpty bool
	// removed marks a tier the render no longer has: its members are
	// pruned and its parent deleted.
	removed bool
	// rendered holds every object some tier set of the cluster renders:
	// a member another set renders is moving there, and its apply takes
	// it over, so it is never pruned.
	rendered map[object.ObjMetadata]bool
	// holders are the ApplySet parents on the cluster by id, to tell an
	// object moving between this instance's tiers from one another
	// instance holds.
	holders    map[string]*corev1.Secret
	parentName string
	id         string
	// recorded is the ApplySet parent as read, then as last written; nil
	// on the first apply until it is written.
	recorded *applyset.Record
	// slot is held while the pass reads and writes the cluster.
	slot   *slot
	result Result
	// out receives the Progressing result while the pass waits for health.
	out chan<- Result
	// watch follows the ApplySet's members when the pass runs under Run,
	// and mark is where it stood when the pass listed them; nil without.
	watch *clusters.Watch
	mark  *clusters.Mark
	// before is what the last Ready pass over the tier left, when the
	// watch may vouch for the members it kept; kept is what this one
	// keeps, once it applied and pruned.
	before *passed
	kept   map[schema.GroupKind]listedKind
	log    *slog.Logger
}

func (p *tierPass) run(ctx, waitCtx context.Context, turn *turn) Result {
	p.result.ChangeSet = ssa.NewChangeSet()
	p.slot = &slot{turn: turn}
	inv, err := p.reconcile(ctx, waitCtx)
	p.result.Finished = time.Now()
	switch {
	case err == nil:
	case clusters.IsUnreachable(err):
		p.result.Phase, p.result.Message = PhaseUnreachable, err.Error()
	case cutShort(ctx, waitCtx):
		// Cut short from outside, by shutdown or a newer target;
		// Reconciler.finish tells an abandoned pass from a failed one,
		// and there is no recording it now.
		p.result.Phase, p.result.Message = PhaseFailed, err.Error()
	default:
		p.result.Phase, p.result.Message = PhaseFailed, err.Error()
		if p.foreign() {
			break
		}
		// A deadline of the caller's may have ended the pass: the
		// failure is recorded all the same, within a bound of its own.
		recCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.RequestTimeout)
		defer cancel()
		if recErr := p.record(recCtx, inv); recErr != nil {
			p.log.Warn("record failure on ApplySet parent", "error", recErr)
		}
	}
	slices.SortStableFunc(p.result.ChangeSet.Entries, func(a, b ssa.ChangeSetEntry) int {
		return compareObjects(a.ObjMetadata, b.ObjMetadata)
	})
	return p.result
}

// reconcile applies and prunes while holding a slot, then waits for health
// holding none: a slow site costs no other site its turn. waitCtx ends the
// waits, for a slot and for health, when a newer target for the cluster
// arrives; what was applied stays. It returns the inventory the parent
// records from then on, failure or not: the render's once it is applied
// and pruned, whatever the health check says.
func (p *tierPass) reconcile(ctx, waitCtx context.Context) (inventory, error) {
	if err := p.slot.take(waitCtx); err != nil {
		return p.recordedInventory(), err
	}
	toWait, inv, err := p.apply(ctx, waitCtx)
	p.slot.give()
	if err != nil || p.removed {
		return inv, err
	}
	if len(toWait) > 0 {
		// Progressing, as apply recorded it; a copy, for the pass sorts
		// its change set when it ends.
		progress := p.result
		progress.ChangeSet = &ssa.ChangeSet{Entries: slices.Clone(p.result.ChangeSet.Entries)}
		send(ctx, p.out, progress)
		if err := p.cluster.WaitHealthy(waitCtx, p.id, toWait, p.healthTimeout()); err != nil {
			if !cutShort(ctx, waitCtx) {
				// Applied but not healthy: what the site serves
				// meanwhile matters most now.
				p.observeModels(ctx, waitCtx)
			}
			return inv, fmt.Errorf("health check of revision %s: %w", p.set.Revision, err)
		}
	}
	p.observeModels(ctx, waitCtx)
	p.result.Phase = PhaseReady
	p.result.Message = readyMessage(p.set)
	if len(p.result.Adopted) > 0 {
		names := make([]string, len(p.result.Adopted))
		for i, a := range p.result.Adopted {
			names[i] = a.Subject
		}
		p.result.Message += "; adopted " + strings.Join(names, ", ")
	}
	if len(p.result.Drift) > 0 {
		names := make([]string, len(p.result.Drift))
		for i, d := range p.result.Drift {
			names[i] = d.Subject
		}
		verb := "; removed fields added by hand from "
		if !p.result.Drift[0].Corrected {
			verb = "; drift left in place (drift: report) on "
		}
		p.result.Message += verb + strings.Join(names, ", ")
	}
	if len(p.result.Contested) > 0 {
		p.result.Message += "; changed back after every correction, corrections backed off: " + strings.Join(p.result.Contested, ", ")
	}
	return inv, p.record(ctx, inv)
}

// readyMessage says a tier set is applied and healthy.
func readyMessage(ts TierSet) string {
	if ts.NoWait {
		return fmt.Sprintf("revision %s applied, %d objects (health not waited for)", ts.Revision, len(ts.Objects))
	}
	return fmt.Sprintf("revision %s applied, %d objects ready", ts.Revision, len(ts.Objects))
}

func (p *tierPass) healthTimeout() time.Duration {
	return cmp.Or(p.set.HealthTimeout, p.opts.HealthTimeout)
}

// apply surveys the cluster, then applies what differs and prunes what
// left, and records the revision as applied. It returns what is left to
// wait for, and the inventory the parent records from then on.
func (p *tierPass) apply(ctx, waitCtx context.Context) ([]*unstructured.Unstructured, inventory, error) {
	s, err := p.survey(ctx)
	if err != nil {
		return nil, p.recordedInventory(), err
	}
	p.result.Ignored, p.result.Adopted, p.result.Drift = s.ignored, s.adopted, s.drift
	for _, ig := range s.ignored {
		p.log.Warn("left alone", "object", ig.Subject, "reason", ig.Reason)
	}
	for _, d := range s.drift {
		p.log.Warn("drift", "object", d.Subject, "fields", d.Fields, "corrected", d.Corrected)
	}
	for _, a := range s.adopted {
		p.log.Info("adopting", "object", a.Subject, "previous", a.Previous)
	}

	// The parent must name every group-kind before a member of that kind
	// exists, so that an interrupted apply still leaves findable members;
	// and keep naming those of members still on their way to another tier.
	held := maps.Clone(s.desired)
	for _, obj := range s.moving {
		held[object.UnstructuredToObjMetadata(obj)] = obj
	}
	gks, namespaces := applyset.Inventory(held)
	last := p.last()
	widened := inventory{
		groupKinds: append(slices.Clone(gks), last.GroupKinds...),
		namespaces: append(slices.Clone(namespaces), last.Namespaces...),
		revision:   last.Revision,
	}
	if err := p.record(ctx, widened); err != nil {
		return nil, p.recordedInventory(), err
	}

	for _, key := range s.unchanged {
		p.result.ChangeSet.Add(entry(s.desired[key], ssa.UnchangedAction))
	}
	if len(s.apply) > 0 {
		if p.watch != nil {
			keys := make([]object.ObjMetadata, len(s.apply))
			for i, obj := range s.apply {
				keys[i] = object.UnstructuredToObjMetadata(obj)
			}
			p.watch.Writing(keys)
		}
		changes, err := p.applyStaged(ctx, waitCtx, s.apply, ssa.ApplyOptions{Cleanup: ssa.ApplyCleanupOptions{FieldManagers: s.cleanup}})
		p.result.ChangeSet.Append(changes.Entries)
		p.proveUnchanged(s, changes)
		if err != nil {
			return nil, p.recordedInventory(), fmt.Errorf("apply revision %s: %w", p.set.Revision, err)
		}
	}
	if err := p.prune(ctx, s.prune, s.orphan); err != nil {
		return nil, p.recordedInventory(), err
	}
	p.log.Debug("applied and pruned", "duration", time.Since(p.result.Started).Round(time.Millisecond))
	if p.removed {
		return nil, p.recordedInventory(), p.deleteParent(ctx)
	}

	appliedBefore := p.last().Revision == p.set.Revision
	switch c := p.result.Counts(); {
	case appliedBefore:
		p.result.Corrected = c.Created + c.Configured
	default:
		// A new revision's changes are not corrections; fields added by
		// hand that it removed are.
		for _, d := range s.drift {
			if d.Corrected {
				p.result.Corrected++
			}
		}
	}
	if p.watch != nil {
		p.kept = s.untouched(p.result.ChangeSet)
	}
	// Applied and pruned: from now on the parent records the inventory of
	// this render and names its revision, whatever the health check says.
	applied := inventory{groupKinds: gks, namespaces: namespaces, revision: p.set.Revision}
	toWait := s.toWait(p.result.ChangeSet)
	if p.set.NoWait {
		toWait = nil
	}
	if len(toWait) > 0 {
		// Say so on the cluster while waiting, which may take long.
		p.result.Phase = PhaseProgressing
		p.result.Message = fmt.Sprintf("revision %s applied, waiting for %d objects to become ready", p.set.Revision, len(toWait))
		if err := p.record(ctx, applied); err != nil {
			return nil, applied, err
		}
	}
	return toWait, applied, nil
}

// applyStaged applies objs as ssa's ApplyAllStaged does, definitions
// (CustomResourceDefinitions, Namespaces, ClusterRoles) first, then
// classes, then the rest, each stage waiting for the one before to be
// healthy; but it waits by watching, giving up its slot meanwhile, and only
// as long as waitCtx lasts.
func (p *tierPass) applyStaged(ctx, waitCtx context.Context, objs []*unstructured.Unstructured, opts ssa.ApplyOptions) (*ssa.ChangeSet, error) {
	stages := make([][]*unstructured.Unstructured, applyStages)
	for _, o := range objs {
		stages[applyStage(o)] = append(stages[applyStage(o)], o)
	}
	changes := ssa.NewChangeSet()
	for i, stage := range stages {
		if len(stage) == 0 {
			continue
		}
		cs, err := p.cluster.Manager().ApplyAll(ctx, stage, opts)
		if cs != nil {
			changes.Append(cs.Entries)
		}
		if err != nil {
			return changes, err
		}
		// A later stage may need what this one defines.
		if slices.ContainsFunc(stages[i+1:], func(later []*unstructured.Unstructured) bool { return len(later) > 0 }) {
			p.slot.give()
			err := p.cluster.WaitHealthy(waitCtx, p.id, slices.DeleteFunc(slices.Clone(stage), func(o *unstructured.Unstructured) bool { return !waitsFor(o) }), p.healthTimeout())
			if err == nil {
				err = p.slot.take(waitCtx)
			}
			if err != nil {
				return changes, fmt.Errorf("wait for definitions: %w", err)
			}
		}
	}
	return changes, nil
}

// survey is what a pass finds on the cluster and decides from it before it
// changes anything; applying and planning both start from it.
type survey struct {
	desired, live map[object.ObjMetadata]*unstructured.Unstructured
	// apply holds the desired objects that differ from their live copies,
	// or have none, in apply order.
	apply []*unstructured.Unstructured
	// unchanged holds the desired objects already in sync.
	unchanged []object.ObjMetadata
	// prune holds the stale members to delete, and orphan those annotated
	// PruneAnnotation=disabled, which only leave the ApplySet; both in
	// apply order.
	prune, orphan []*unstructured.Unstructured
	// ignored holds the objects carrying the ApplySet's label that are
	// not its members, and adopted the existing objects the pass takes
	// over; both in apply order.
	ignored []Ignored
	adopted []Adopted
	// moving holds the members another tier set of the cluster renders.
	moving []*unstructured.Unstructured
	// drift holds the objects other field managers added fields to, in
	// apply order, and driftAt their index by object.
	drift   []fieldset.Drift
	driftAt map[object.ObjMetadata]int
	// cleanup names the managers whose fields an apply that corrects
	// drift first hands to tandem, so that it removes them.
	cleanup []ssa.FieldManager
	// versions are the group-kinds listed, at the version of each; held
	// marks those with objects the ApplySet's label claims that are not
	// its members.
	versions map[schema.GroupKind]string
	held     map[schema.GroupKind]bool
}

// untouched returns the members of the group-kinds listed that the pass
// leaves as it found them, by kind: none of their objects applied,
// pruned, orphaned, moving to another tier, drifted, held apart as not
// members, or waited for, since their status changes without the watch
// telling.
func (s *survey) untouched(changes *ssa.ChangeSet) map[schema.GroupKind]listedKind {
	touched := maps.Clone(s.held)
	for _, e := range changes.Entries {
		if e.Action != ssa.UnchangedAction {
			touched[e.ObjMetadata.GroupKind] = true
		}
	}
	for key, obj := range s.desired {
		if waitsFor(obj) {
			touched[key.GroupKind] = true
		}
	}
	for _, objs := range [][]*unstructured.Unstructured{s.prune, s.orphan, s.moving} {
		for _, obj := range objs {
			touched[obj.GroupVersionKind().GroupKind()] = true
		}
	}
	for key := range s.driftAt {
		touched[key.GroupKind] = true
	}
	kept := make(map[schema.GroupKind]listedKind)
	for gk, version := range s.versions {
		if !touched[gk] {
			kept[gk] = listedKind{version: version}
		}
	}
	for key, obj := range s.live {
		k, ok := kept[key.GroupKind]
		if !ok {
			continue
		}
		data, err := obj.MarshalJSON()
		if err != nil {
			delete(kept, key.GroupKind) // for the next pass to list
			continue
		}
		k.members = append(k.members, data)
		kept[key.GroupKind] = k
	}
	return kept
}

// addDrift records the fields other managers added to live, and reports
// whether there are any; correct says whether the pass removes them.
func (s *survey) addDrift(key object.ObjMetadata, desired, live *unstructured.Unstructured, manager string, correct bool) bool {
	d, managers := fieldset.Added(desired, live, manager)
	if len(d.Fields) == 0 {
		return false
	}
	if s.driftAt == nil {
		s.driftAt = map[object.ObjMetadata]int{}
	}
	d.Subject, d.Corrected = utils.FmtUnstructured(live), correct
	s.driftAt[key] = len(s.drift)
	s.drift = append(s.drift, d)
	if correct {
		for _, m := range managers {
			if !slices.Contains(s.cleanup, m) {
				s.cleanup = append(s.cleanup, m)
			}
		}
	}
	return true
}

// survey reads the tier's ApplySet members, one list per group-kind, and
// sorts the desired and live objects into what to apply, what is in sync
// and what to prune. It refuses a tier another instance owns, and objects
// that exist without tandem having created them. It writes nothing.
func (p *tierPass) survey(ctx context.Context) (*survey, error) {
	if tooling := p.last().Tooling; !applyset.OwnedByTandem(tooling) {
		return nil, fmt.Errorf("ApplySet parent Secret/%s/%s is managed by %q, not tandem",
			applyset.Namespace, p.parentName, tooling)
	}
	if err := p.checkOwner(); err != nil {
		return nil, err
	}
	desired, err := p.desired()
	if err != nil {
		return nil, err
	}
	versions := p.listVersions(desired)
	if p.watch != nil {
		// Followed from before the list: whatever changes after it is
		// seen.
		mark, err := p.watch.Follow(ctx, p.id, versions)
		if err != nil {
			return nil, err
		}
		p.mark = &mark
	}
	listed, err := p.listMembers(ctx, versions)
	if err != nil {
		return nil, err
	}
	live, ignored := p.members(desired, listed)
	adopted, err := p.checkAdoption(ctx, desired, live, ignored, listed)
	if err != nil {
		return nil, err
	}
	s := &survey{desired: desired, live: live, adopted: adopted, versions: versions, held: map[schema.GroupKind]bool{}}
	for _, key := range slices.SortedFunc(maps.Keys(ignored), compareObjects) {
		s.ignored = append(s.ignored, ignored[key])
		s.held[key.GroupKind] = true
	}
	for _, key := range slices.SortedFunc(maps.Keys(desired), compareObjects) {
		obj := desired[key]
		l, ok := live[key]
		if ok && s.addDrift(key, obj, l, p.opts.FieldManager, !p.set.ReportDrift) && !p.set.ReportDrift {
			s.apply = append(s.apply, obj)
			continue
		}
		if ok && (fieldset.InSync(obj, l, p.opts.FieldManager) || p.cluster.proofs.Proven(key, obj, l)) {
			s.unchanged = append(s.unchanged, key)
		} else {
			s.apply = append(s.apply, obj)
		}
	}
	for _, obj := range staleMembers(desired, live) {
		switch {
		case p.rendered[object.UnstructuredToObjMetadata(obj)]:
			// Moving to another tier set, whose apply takes it over;
			// until then it stays in this ApplySet's inventory.
			s.moving = append(s.moving, obj)
		case obj.GetAnnotations()[PruneAnnotation] == PruneDisabled:
			s.orphan = append(s.orphan, obj)
		default:
			s.prune = append(s.prune, obj)
		}
	}
	if len(desired) == 0 && len(s.prune) > 0 && !p.allowEmpty {
		for _, obj := range s.prune {
			p.log.Warn("prune refused", "object", utils.FmtUnstructured(obj), "reason", errEmptyRender.Error())
		}
		return nil, fmt.Errorf("refusing to prune all %d objects (%s): %w; set spec.allowEmpty on solution %s to prune them",
			len(s.prune), subjects(s.prune, 5), errEmptyRender, p.set.Solution)
	}
	return s, nil
}

// subjects names up to n objects, and says how many more there are.
func subjects(objs []*unstructured.Unstructured, n int) string {
	names := make([]string, 0, min(n, len(objs)))
	for _, obj := range objs[:min(n, len(objs))] {
		names = append(names, utils.FmtUnstructured(obj))
	}
	if len(objs) > n {
		names = append(names, fmt.Sprintf("and %d more", len(objs)-n))
	}
	return strings.Join(names, ", ")
}

// toWait returns what a pass waits for after applying: every desired
// object but those left unchanged, in sync or found so by the apply, that
// are healthy as listed, and those annotated HealthAnnotation=ignore.
func (s *survey) toWait(changes *ssa.ChangeSet) []*unstructured.Unstructured {
	unchanged := make(map[object.ObjMetadata]bool, len(s.unchanged))
	for _, key := range s.unchanged {
		unchanged[key] = true
	}
	for _, e := range changes.Entries {
		if e.Action == ssa.UnchangedAction {
			unchanged[e.ObjMetadata] = true
		}
	}
	var wait []*unstructured.Unstructured
	for _, key := range slices.SortedFunc(maps.Keys(s.desired), compareObjects) {
		if !waitsFor(s.desired[key]) {
			continue
		}
		if live, ok := s.live[key]; ok && unchanged[key] {
			if res, err := status.Compute(live); err == nil && res.Status == status.CurrentStatus {
				continue
			}
		}
		wait = append(wait, s.desired[key])
	}
	return wait
}

// proveUnchanged records a proof for each listed object the apply left
// unchanged, so the next pass takes it as in sync without a dry-run.
func (p *tierPass) proveUnchanged(s *survey, changes *ssa.ChangeSet) {
	for _, e := range changes.Entries {
		desired, live := s.desired[e.ObjMetadata], s.live[e.ObjMetadata]
		if e.Action == ssa.UnchangedAction && desired != nil && live != nil {
			p.cluster.proofs.Prove(e.ObjMetadata, desired, live)
		}
	}
}

// entry is the change set entry of an action on obj.
func entry(obj *unstructured.Unstructured, action ssa.Action) ssa.ChangeSetEntry {
	return ssa.ChangeSetEntry{
		ObjMetadata:  object.UnstructuredToObjMetadata(obj),
		GroupVersion: obj.GroupVersionKind().Version,
		Subject:      utils.FmtUnstructured(obj),
		Action:       action,
	}
}

// desired returns copies of the tier's objects labelled as members of the
// ApplySet, cluster-scoped ones without a namespace, keyed by identity.
func (p *tierPass) desired() (map[object.ObjMetadata]*unstructured.Unstructured, error) {
	desired := make(map[object.ObjMetadata]*unstructured.Unstructured, len(p.set.Objects))
	for _, o := range p.set.Objects {
		obj := o.DeepCopy()
		if obj.GetName() == "" || obj.GetKind() == "" || obj.GetAPIVersion() == "" {
			return nil, fmt.Errorf("object %s has no apiVersion, kind or name", utils.FmtUnstructured(obj))
		}
		key := p.cluster.Key(obj)
		obj.SetNamespace(key.Namespace)
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[applyset.PartOfLabel] = p.id
		obj.SetLabels(labels)
		if _, dup := desired[key]; dup {
			return nil, fmt.Errorf("%s is rendered twice", utils.FmtObjMetadata(key))
		}
		desired[key] = obj
	}
	return desired, nil
}

// listVersions says which group-kinds to list members of, and at which
// version: those desired, at their version, and those the parent records.
func (p *tierPass) listVersions(desired map[object.ObjMetadata]*unstructured.Unstructured) map[schema.GroupKind]string {
	versions := make(map[schema.GroupKind]string)
	for _, gk := range p.last().GroupKinds {
		versions[gk] = ""
	}
	for key, obj := range desired {
		versions[key.GroupKind] = obj.GroupVersionKind().Version
	}
	return versions
}

// prune deletes stale members, last-applied kinds first, and orphans
// others by removing their membership label. Each deletion is conditional
// on the member as listed, its UID and resource version, so that an object
// re-created or changed since (annotated prune: disabled, say) stays, for
// the next pass to look at again.
func (p *tierPass) prune(ctx context.Context, remove, orphan []*unstructured.Unstructured) error {
	for _, obj := range orphan {
		p.expect(obj)
		patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:null}}}`, applyset.PartOfLabel)
		if err := p.cluster.Client().Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch),
			client.FieldOwner(p.opts.FieldManager)); err != nil {
			return fmt.Errorf("%s orphan failed: %w", utils.FmtUnstructured(obj), err)
		}
		p.result.ChangeSet.Add(entry(obj, ssa.SkippedAction))
		p.log.Info("orphaned", "object", utils.FmtUnstructured(obj), "reason", PruneAnnotation+"="+PruneDisabled)
	}
	for _, obj := range slices.Backward(remove) {
		p.expect(obj)
		uid, version := obj.GetUID(), obj.GetResourceVersion()
		err := p.cluster.Client().Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground),
			client.Preconditions{UID: &uid, ResourceVersion: &version})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case apierrors.IsConflict(err):
			return fmt.Errorf("%s prune failed: it changed since it was listed: %w", utils.FmtUnstructured(obj), err)
		case err != nil:
			return fmt.Errorf("%s prune failed: %w", utils.FmtUnstructured(obj), err)
		}
		p.cluster.proofs.Forget(object.UnstructuredToObjMetadata(obj))
		p.result.ChangeSet.Add(entry(obj, ssa.DeletedAction))
		p.log.Info("pruned", "object", utils.FmtUnstructured(obj))
	}
	return nil
}

// expect tells the watch, if any, that obj leaves the ApplySet by the
// pass's own doing.
func (p *tierPass) expect(obj *unstructured.Unstructured) {
	if p.watch != nil {
		p.watch.Expect(obj.GetUID())
	}
}

// deleteParent deletes the parent of a removed tier once its members are
// pruned.
func (p *tierPass) deleteParent(ctx context.Context) error {
	if err := client.IgnoreNotFound(p.cluster.Client().Delete(ctx, applyset.Parent(p.parentName))); err != nil {
		return fmt.Errorf("delete ApplySet parent Secret/%s/%s: %w", applyset.Namespace, p.parentName, err)
	}
	p.result.Phase = PhaseReady
	p.result.Message = fmt.Sprintf("tier removed from the render: %d objects pruned", p.result.Counts().Deleted)
	return nil
}

// inventory is what a parent says of its members besides who owns them:
// the kinds and namespaces they may have, and the revision last applied in
// full.
type inventory struct {
	groupKinds []schema.GroupKind
	namespaces []string
	revision   string
}

// last returns the parent as read or last written; the zero Record before
// there is one.
func (p *tierPass) last() applyset.Record {
	if p.recorded == nil {
		return applyset.Record{}
	}
	return *p.recorded
}

// recordedInventory is the inventory the parent records now.
func (p *tierPass) recordedInventory() inventory {
	last := p.last()
	return inventory{groupKinds: last.GroupKinds, namespaces: last.Namespaces, revision: last.Revision}
}

// parentRecord is the parent as the pass records it with inv: owned by
// this instance, and saying the pass's phase and message once it has a
// phase (until then, those recorded), in that phase since it began.
func (p *tierPass) parentRecord(inv inventory) applyset.Record {
	last := p.last()
	rec := applyset.Record{
		Solution:   p.set.Solution,
		Tier:       p.set.Tier,
		ID:         p.id,
		Tooling:    applyset.Tooling(p.opts.Version),
		Owner:      p.opts.Instance,
		Revision:   inv.revision,
		Phase:      last.Phase,
		Message:    last.Message,
		Since:      last.Since,
		GroupKinds: inv.groupKinds,
		Namespaces: inv.namespaces,
	}
	if p.result.Phase != "" {
		if last.Phase != string(p.result.Phase) {
			rec.Since = p.result.Finished
			if rec.Since.IsZero() {
				rec.Since = time.Now()
			}
		}
		rec.Phase = string(p.result.Phase)
		rec.Message = truncate(p.result.Message, 1024)
	}
	return rec
}

// record writes the parent as parentRecord computes it with inv, and only
// if that changes it: a pass over an unchanged site writes nothing.
func (p *tierPass) record(ctx context.Context, inv inventory) error {
	rec := p.parentRecord(inv)
	if p.recorded != nil && subset(rec.Labels(), p.recorded.Labels()) && subset(rec.Annotations(), p.recorded.Annotations()) {
		return nil
	}
	if err := p.cluster.WriteParent(ctx, rec.Object()); err != nil {
		return fmt.Errorf("record inventory on Secret/%s/%s: %w", applyset.Namespace, p.parentName, err)
	}
	p.recorded = &rec
	return nil
}

// subset reports whether every entry of a is in b.
func subset(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// truncate shortens s to at most n bytes, ending it with an ellipsis, and
// never cuts a rune in two: annotations must be valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	end := n - len("…")
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "…"
}
