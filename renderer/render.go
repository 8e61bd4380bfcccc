package renderer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Options narrows what Render returns. The zero value returns everything.
// A revision is rendered and checked whole all the same, so that what the
// daemon refuses for any site is refused for every part of it.
type Options struct {
	// Cluster, when set, keeps only the targets on that cluster.
	Cluster string
	// Site, when set, keeps only the targets of that site.
	Site string
	// Timeout, when positive, is the render's time budget: a render still
	// running when it is spent fails at the next site it reaches.
	Timeout time.Duration
}

// Result is a rendered revision.
type Result struct {
	// Solutions and Sites are the repository's validated, defaulted
	// descriptors, sorted by name.
	Solutions []*Solution
	Sites     []*Site
	// Targets are sorted by cluster, solution, tier.
	Targets []Target
	// Warnings are problems that did not stop the render.
	Warnings []string
}

// Target is one tier of one solution rendered for one cluster.
type Target struct {
	Solution, Tier, Cluster string
	// Site is the site the tier was rendered for; empty for a tier that
	// targets clusters by name.
	Site string
	// DependsOn names the tiers of the same solution, on the same cluster,
	// that must be applied and healthy before this one.
	DependsOn []string
	// Objects are in kustomize's legacy order, namespaces and CRDs first,
	// each in the namespace it is applied in. They share the parts no
	// target changes with the other targets of their tier and, from a
	// Renderer, with the results of other renders: they are read-only,
	// and a caller that changes one deep-copies it first.
	Objects []*unstructured.Unstructured
	// Wave is the rollout wave that updates the target: for a site, the
	// first of its solution's spec.rollout.waves that selects it (or the
	// number of waves, when none does); 0, the first, for a tier on named
	// clusters.
	Wave int
	// Health, Adopt and Drift are the tier's.
	Health Health
	Adopt  bool
	Drift  DriftMode
}

// Labels set on every rendered object.
const (
	LabelSolution = "tandem.dev/solution"
	LabelTier     = "tandem.dev/tier"
	LabelSite     = "tandem.dev/site"
)

// Names tandem reserves on every cluster, which no render may write to:
// ReservedNamespace holds the ApplySet parents and, in the cluster tandem
// runs in, the Secrets labelled LabelCluster that hold cluster credentials.
const (
	ReservedNamespace = "tandem-system"
	LabelCluster      = "tandem.dev/cluster"
)

// Render renders every solution found in fsys, the root of a config
// repository: an os.DirFS of a directory, or a Git commit's tree. A
// revision renders whole or not at all: on any problem Render returns no
// result and an error; a *ValidationError lists every problem it found.
// The same fsys renders byte-identical results. A render over its time
// budget (opts.Timeout) or over the budgets on what it reads and produces
// (MaxRevisionBytes, MaxRenderedObjects and the others) fails with an
// error naming the budget and where the render was.
func Render(ctx context.Context, fsys fs.FS, opts Options) (*Result, error) {
	return render(ctx, fsys, opts, newOutput(), nil)
}

// render renders fsys, reusing from last, when not nil, what the revision
// it rendered before shares with this one, and recording in it what this
// render built.
func render(ctx context.Context, fsys fs.FS, opts Options, out *output, last *memory) (*Result, error) {
	ctx, cancel := withTimeBudget(ctx, opts.Timeout)
	defer cancel()
	stat := newStatMemo(fsys)
	cfg, err := load(ctx, stat, last)
	if err := overTime(ctx, opts.Timeout, "while reading the repository"); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if opts.Site != "" && !slices.ContainsFunc(cfg.Sites, func(s *Site) bool { return s.Name == opts.Site }) {
		return nil, fmt.Errorf("no site named %q", opts.Site)
	}
	r := newRun(stat, cfg, last)
	r.checkOverlays(cfg)
	res := &Result{Solutions: cfg.Solutions, Sites: cfg.Sites}
	for _, sol := range cfg.Solutions {
		targets, err := r.renderSolution(ctx, sol, cfg.Sites, opts, out)
		if err != nil {
			return nil, err
		}
		res.Targets = append(res.Targets, targets...)
	}
	r.checkCapacity(res)
	if err := r.checkPolicy(ctx, res, opts.Timeout); err != nil {
		return nil, err
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	res.Warnings = append(slices.Clone(cfg.Warnings), r.warnings...)
	res.Targets = slices.DeleteFunc(res.Targets, func(t Target) bool {
		return (opts.Cluster != "" && t.Cluster != opts.Cluster) || (opts.Site != "" && t.Site != opts.Site)
	})
	if opts.Cluster != "" && len(res.Targets) == 0 {
		return nil, fmt.Errorf("no tier targets cluster %q", opts.Cluster)
	}
	slices.SortFunc(res.Targets, func(a, b Target) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Solution, b.Solution), cmp.Compare(a.Tier, b.Tier))
	})
	return res, nil
}

// renderSolution renders every tier of sol onto every place it runs.
// Problems with the descriptors go to r.problems; it returns an error only
// when ctx is done or the render is over a budget, out's or the time's.
func (r *run) renderSolution(ctx context.Context, sol *Solution, sites []*Site, opts Options, out *output) ([]Target, error) {
	model, err := sol.Scaling(sol.Spec.Scale)
	if err != nil {
		return nil, err // Load validated the rules; this is a bug, not input
	}
	onCluster := tiersByCluster(sol, sites)
	var targets []Target
	objects := 0
	for i := range sol.Spec.Tiers {
		tier := &sol.Spec.Tiers[i]
		places := placements(tier, sites)
		if len(places) == 0 {
			continue
		}
		if !r.checkWorkloads(sol, i) {
			continue
		}
		for _, p := range places {
			if err := overTime(ctx, opts.Timeout, "at "+p.String()); err != nil {
				return nil, err
			}
			// The copy for p is charged before renderTarget makes it.
			if shared, err := r.prepared(sol, i, r.overlayDir(tier, p)); err == nil {
				if err := out.charge(shared); err != nil {
					return nil, fmt.Errorf("render tier %s for %s: %w", tier.Name, p, err)
				}
			}
			objs, err := r.renderTarget(sol, i, p, model)
			if errors.Is(err, errReported) {
				continue
			}
			if err != nil {
				r.addErr(sol.File, sol.pos, fmt.Sprintf("spec.tiers[%d]", i), fmt.Errorf("render tier %s for %s: %w", tier.Name, p, err))
				continue
			}
			targets = append(targets, Target{
				Solution:  sol.Name,
				Tier:      tier.Name,
				Cluster:   p.cluster,
				Site:      p.siteName(),
				Wave:      p.wave(sol),
				DependsOn: slices.DeleteFunc(slices.Clone(tier.DependsOn), func(dep string) bool { return !onCluster[p.cluster][dep] }),
				Objects:   objs,
				Health:    tier.Health,
				Adopt:     tier.Adopt,
				Drift:     tier.Drift,
			})
			objects += len(objs)
		}
	}
	if objects == 0 {
		if sol.Spec.AllowEmpty {
			r.warn(sol.File, sol.pos, "spec.tiers", "solution %s renders no objects on any cluster", sol.Name)
		} else {
			r.warn(sol.File, sol.pos, "spec.tiers", "solution %s renders no objects on any cluster; a cluster it applied objects to keeps them until spec.allowEmpty is set", sol.Name)
		}
	}
	return targets, nil
}

// tiersByCluster returns, for each cluster, the tiers of sol that run there.
func tiersByCluster(sol *Solution, sites []*Site) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for i := range sol.Spec.Tiers {
		for _, p := range placements(&sol.Spec.Tiers[i], sites) {
			if out[p.cluster] == nil {
				out[p.cluster] = map[string]bool{}
			}
			out[p.cluster][sol.Spec.Tiers[i].Name] = true
		}
	}
	return out
}
