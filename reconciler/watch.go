package reconciler

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

// Watch-triggered passes: how long a burst of changes is gathered before
// the pass that undoes them, and how the correction of an object changed
// back again and again within flapGrace of it backs off, from flapBase
// doubling up to Options.MaxRetryInterval.
const (
	debounce  = 200 * time.Millisecond
	flapBase  = time.Second
	flapGrace = 10 * time.Second
)

// passMode says how a pass over a cluster uses what its watch knows.
type passMode struct {
	// watch keeps a Watch of the cluster's ApplySets and skips the tiers it
	// shows unchanged since their last Ready pass.
	watch bool
	// full passes over every tier all the same: the periodic re-check
	// that catches what a watch could miss.
	full bool
	// contested names, per ApplySet id, the objects whose corrections this
	// pass starts backing off, to say so in its results once.
	contested map[string][]string
}

// passed is what the last Ready pass over a tier left: the tier set it
// applied, the result, where the tier's watch stood when it listed, and
// the members it left as listed.
type passed struct {
	set    TierSet
	mark   clusters.Mark
	result Result
	// kept are the members of the group-kinds the pass wrote none of
	// (see survey.untouched): while the watch shows the ApplySet
	// unchanged since mark, they are what the cluster holds, and the next
	// pass takes them instead of listing them again.
	kept map[schema.GroupKind]listedKind
}

// listedKind is what a pass found of one group-kind of its ApplySet: the
// version it listed at, and the members, as JSON. Kept for as long as a
// fleet idles between revisions, a member costs its bytes, and not the
// maps, strings and interfaces of an unstructured object, scattered
// among the pass's garbage.
type listedKind struct {
	version string
	members [][]byte
}

// listMembers lists the members of each group-kind of versions, as
// Conn.ListMembers does, but takes the group-kinds the last pass kept,
// when the watch shows the ApplySet unchanged since that pass listed
// them: the pass of a new revision lists only the kinds the last one
// wrote, or waits for.
func (p *tierPass) listMembers(ctx context.Context, versions map[schema.GroupKind]string) (map[object.ObjMetadata]*unstructured.Unstructured, error) {
	var taken [][]byte
	if p.before != nil && p.watch.Unchanged(p.id, p.before.mark) {
		versions = maps.Clone(versions)
		for gk, version := range versions {
			if k, ok := p.before.kept[gk]; ok && k.version == version {
				delete(versions, gk)
				taken = append(taken, k.members...)
			}
		}
	}
	listed, err := p.cluster.ListMembers(ctx, p.id, versions)
	if err != nil {
		return nil, err
	}
	for _, data := range taken {
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("decode a member the last pass listed: %w", err)
		}
		listed[object.UnstructuredToObjMetadata(obj)] = obj
	}
	return listed, nil
}

// watchOf returns the cluster's Watch, making one when mode asks for it;
// nil otherwise.
func (r *Reconciler) watchOf(c *cluster, mode passMode) *clusters.Watch {
	if !mode.watch {
		return nil
	}
	if c.watch == nil {
		c.watch = c.Watch(r.opts.FieldManager)
		c.passed = map[Key]passed{}
	}
	return c.watch
}

// unchanged returns the results of the last pass over every tier of t when
// the cluster's watch shows none changed since: a pass that would find
// nothing to do, known without a request.
func (r *Reconciler) unchanged(t Target) ([]Result, bool) {
	r.mu.Lock()
	c := r.clusters[t.Cluster]
	r.mu.Unlock()
	if c == nil || c.watch == nil || c.target == nil || !sameTarget(*c.target, t) {
		return nil, false
	}
	results := make([]Result, len(t.Tiers))
	for i, ts := range t.Tiers {
		res, ok := c.unchangedTier(ts, t)
		if !ok {
			return nil, false
		}
		results[i] = res
	}
	return results, true
}

// unchangedTier returns the last result of a tier the watch shows
// unchanged since its last Ready pass, with the same tier set, as a pass
// that changed nothing: every object unchanged, nothing corrected.
func (c *cluster) unchangedTier(ts TierSet, t Target) (Result, bool) {
	if c.watch == nil || c.target == nil || !slices.Equal(c.target.AllowEmpty, t.AllowEmpty) {
		return Result{}, false
	}
	p, ok := c.passed[KeyOf(t.Cluster, ts)]
	if !ok || !sameTierSet(p.set, ts) || !c.watch.Unchanged(applyset.ID(applyset.ParentName(ts.Solution, ts.Tier)), p.mark) {
		return Result{}, false
	}
	res := p.result
	res.ChangeSet = ssa.NewChangeSet()
	for _, e := range p.result.ChangeSet.Entries {
		if e.Action == ssa.CreatedAction || e.Action == ssa.ConfiguredAction || e.Action == ssa.UnchangedAction {
			e.Action = ssa.UnchangedAction
			res.ChangeSet.Add(e)
		}
	}
	res.Message = readyMessage(ts)
	res.Drift, res.Adopted, res.Corrected, res.Contested = nil, nil, 0, nil
	res.Started, res.Finished = time.Now(), time.Now()
	return res, true
}

// remember records what a pass over t left, for the next to skip what the
// watch shows unchanged, and stops following the ApplySets of tiers the
// cluster no longer runs.
func (c *cluster) remember(t Target, tiers []TierSet, removed []bool, marks []*clusters.Mark, kept []map[schema.GroupKind]listedKind, results []Result) {
	ids := make([]string, 0, len(t.Tiers))
	for _, ts := range t.Tiers {
		ids = append(ids, applyset.ID(applyset.ParentName(ts.Solution, ts.Tier)))
	}
	c.watch.Keep(ids)
	held := make(map[Key]passed, len(t.Tiers))
	for i, ts := range tiers {
		key := KeyOf(t.Cluster, ts)
		switch {
		case removed[i]:
		case marks[i] != nil && results[i].Phase == PhaseReady:
			held[key] = passed{set: ts, mark: *marks[i], result: results[i], kept: kept[i]}
		case marks[i] == nil && results[i].Phase == PhaseReady:
			// Skipped, as unchanged: what was known still holds.
			if p, ok := c.passed[key]; ok {
				held[key] = p
			}
		}
	}
	c.passed = held
	c.target = nil
	// A tier set the target does not name, pruning a removed tier, is
	// only known to be done when it got to Ready.
	if !slices.ContainsFunc(results, func(res Result) bool { return res.Phase != PhaseReady }) {
		target := t
		c.target = &target
	}
}

// sameTierSet reports whether two tier sets of a cluster ask for the same.
func sameTierSet(a, b TierSet) bool {
	return sameTarget(Target{Tiers: []TierSet{a}}, Target{Tiers: []TierSet{b}}) &&
		a.NoWait == b.NoWait && a.HealthTimeout == b.HealthTimeout && a.Adopt == b.Adopt && a.ReportDrift == b.ReportDrift
}

// unwatch stops the Watch of a cluster Run no longer keeps, and waits for
// it.
func (r *Reconciler) unwatch(name string) {
	r.mu.Lock()
	c := r.clusters[name]
	r.mu.Unlock()
	if c != nil {
		c.stopWatch()
	}
}

// stopWatch stops the cluster's Watch, if it has one, waits for it, and
// forgets what the last pass left.
func (c *cluster) stopWatch() {
	if c.watch != nil {
		c.watch.Stop()
	}
	c.watch, c.passed, c.target = nil, nil, nil
}

// changesOf returns the cluster's Watch, nil when it has none yet.
func (r *Reconciler) changesOf(name string) *clusters.Watch {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.clusters[name]; c != nil {
		return c.watch
	}
	return nil
}

// flaps tracks, per object, how often it was changed back soon after
// tandem corrected it: another controller fighting tandem, or a person
// who keeps at it. Each such change doubles the delay of the next
// correction, from flapBase up to limit; a change after flapGrace of
// quiet is corrected at once again.
type flaps struct {
	limit time.Duration
	state map[object.ObjMetadata]*flap
}

type flap struct {
	// n counts the changes that came back within flapGrace of a
	// correction.
	n int
	// corrected is when the last pass that corrected it ended; zero while
	// a change waits for its pass.
	corrected time.Time
	reported  bool
}

// changed records the changes of keys at now, and returns how long to
// wait before the pass that undoes them, and the objects whose
// corrections start backing off, to report once.
func (f *flaps) changed(keys []object.ObjMetadata, now time.Time) (time.Duration, []object.ObjMetadata) {
	if f.state == nil {
		f.state = map[object.ObjMetadata]*flap{}
	}
	wait := debounce
	var report []object.ObjMetadata
	for _, key := range keys {
		s, ok := f.state[key]
		switch {
		case !ok:
			s = &flap{}
			f.state[key] = s
		case s.corrected.IsZero():
			// Changed again before its pass: the same change.
		case now.Sub(s.corrected) <= flapGrace:
			s.n++
		default:
			s.n, s.reported = 0, false
		}
		s.corrected = time.Time{}
		if s.n == 0 {
			continue
		}
		wait = max(wait, debounce+min(flapBase<<min(s.n-1, 30), f.limit))
		if !s.reported {
			s.reported = true
			report = append(report, key)
		}
	}
	slices.SortFunc(report, compareObjects)
	return wait, report
}

// passed records that a pass ended at now, putting back the objects of
// corrected. A change it found nothing to put back for was none to fight
// over, and objects quiet for flapGrace since are forgotten.
func (f *flaps) passed(now time.Time, corrected map[object.ObjMetadata]bool) {
	for key, s := range f.state {
		switch {
		case s.corrected.IsZero() && corrected[key]:
			s.corrected = now
		case s.corrected.IsZero(), now.Sub(s.corrected) > flapGrace:
			delete(f.state, key)
		}
	}
}

// correctedObjects returns the objects the results put back: those
// created or configured by a pass that counted corrections.
func correctedObjects(results []Result) map[object.ObjMetadata]bool {
	out := map[object.ObjMetadata]bool{}
	for _, res := range results {
		if res.Corrected == 0 || res.ChangeSet == nil {
			continue
		}
		for _, e := range res.ChangeSet.Entries {
			if e.Action == ssa.CreatedAction || e.Action == ssa.ConfiguredAction {
				out[e.ObjMetadata] = true
			}
		}
	}
	return out
}

// contestedByID groups the objects of changes whose corrections back off
// by the ApplySet that holds them, naming each as results do.
func contestedByID(report []object.ObjMetadata, changes map[object.ObjMetadata]string) map[string][]string {
	if len(report) == 0 {
		return nil
	}
	out := map[string][]string{}
	for _, key := range report {
		out[changes[key]] = append(out[changes[key]], subjectsOf([]object.ObjMetadata{key})...)
	}
	return out
}

// subjectsOf names objects as results do.
func subjectsOf(keys []object.ObjMetadata) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = utils.FmtObjMetadata(k)
	}
	return out
}

// changedKeys returns the changed objects in apply order.
func changedKeys(changes map[object.ObjMetadata]string) []object.ObjMetadata {
	return slices.SortedFunc(maps.Keys(changes), compareObjects)
}
