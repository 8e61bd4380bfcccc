package renderer

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
)

// run renders one revision. It builds each kustomize directory at most
// once, however many sites use it: a tier's base once for all its sites,
// and a site overlay once for all the sites that share it.
type run struct {
	config *Config
	stat   *statMemo
	kfs    *kustomizeFS
	// last, when not nil, holds what the render before built, to reuse,
	// and takes what this one builds.
	last *memory
	k    *krusty.Kustomizer
	problems
	builds         map[string]build // by repository directory
	preparedBuilds map[preparedKey]preparedBuild
	// origins maps each object rendered for a site to the prepared object
	// it is a copy of, and perPod the requests of those
	// prepared objects' pods; see podRequests.
	origins   map[*unstructured.Unstructured]*unstructured.Unstructured
	perPod    map[*unstructured.Unstructured]corev1.ResourceList
	crdScopes map[schema.GroupKind]scope // see customScopes
}

type build struct {
	m   resmap.ResMap
	err error
}

func newRun(stat *statMemo, cfg *Config, last *memory) *run {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	return &run{config: cfg, stat: stat, last: last, kfs: &kustomizeFS{fsys: stat.fsys}, k: krusty.MakeKustomizer(opts), builds: map[string]build{}, preparedBuilds: map[preparedKey]preparedBuild{},
		origins: map[*unstructured.Unstructured]*unstructured.Unstructured{}, perPod: map[*unstructured.Unstructured]corev1.ResourceList{}}
}

// build returns the kustomize build of dir, a repository directory. The
// result is shared: callers deep-copy it before changing it.
func (r *run) build(dir string) (resmap.ResMap, error) {
	b, ok := r.builds[dir]
	if ok {
		return b.m, b.err
	}
	if m, ok := r.last.build(dir, r.kfs); ok {
		b.m = m
	} else {
		b.m, b.err = r.kustomize(dir)
	}
	r.builds[dir] = b
	return b.m, b.err
}

// kustomize builds dir, a repository directory, and leaves a successful
// build, with what it read, to the next render.
func (r *run) kustomize(dir string) (resmap.ResMap, error) {
	r.kfs.refused = nil
	if r.last != nil {
		r.kfs.reads = &reads{}
		defer func() { r.kfs.reads = nil }()
	}
	charged := len(r.kfs.budget.charged)
	m, err := r.k.Run(r.kfs, abs(dir))
	if err != nil && r.kfs.refused != nil {
		err = r.kfs.refused
	}
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	if rd := r.kfs.reads; rd != nil && !rd.walked {
		r.last.keepBuild(dir, keptBuild{m: m, reads: rd.seen, charges: slices.Clone(r.kfs.budget.charged[charged:])})
	}
	return m, nil
}

// checkWorkloads builds the i-th tier of sol and checks that every
// workload its replica rules and models name, and every container its
// models name, is in the build. It reports
// whether the tier can be rendered.
func (r *run) checkWorkloads(sol *Solution, i int) bool {
	tier := &sol.Spec.Tiers[i]
	base, err := r.build(tier.dir)
	if err != nil {
		r.addErr(sol.File, sol.pos, fmt.Sprintf("spec.tiers[%d].path", i), err)
		return false
	}
	ok := true
	for j, rule := range tier.Replicas {
		if len(workloads(base, rule.Workload)) == 0 {
			r.add(sol.File, sol.pos, fmt.Sprintf("spec.tiers[%d].replicas[%d].workload", i, j), "%s", noWorkload(base, tier.Name, rule.Workload))
			ok = false
		}
	}
	for j, m := range sol.Spec.Models {
		if m.Tier == tier.Name && len(workloads(base, m.Workload)) == 0 {
			r.add(sol.File, sol.pos, fmt.Sprintf("spec.models[%d].workload", j), "%s", noWorkload(base, tier.Name, m.Workload))
			ok = false
		}
	}
	if ok {
		ok = r.checkModelContainers(sol, tier, base)
	}
	if ok {
		r.checkKustomizeReplicas(sol, i, base)
	}
	return ok
}

// noWorkload says that a tier's build m has no workload named name, and
// what the descriptor may have meant instead.
func noWorkload(m resmap.ResMap, tier, name string) string {
	msg := fmt.Sprintf("tier %s renders no Deployment, StatefulSet, ReplicaSet or ReplicationController named %q", tier, name)
	for _, res := range m.Resources() {
		if res.GetName() == name && res.GetKind() == "DaemonSet" {
			return msg + " but a DaemonSet: DaemonSets are not scaled by replicas, they run one pod per node"
		}
	}
	for _, res := range m.Resources() {
		if slices.Contains(workloadKinds, res.GetKind()) && renamed(res.GetName(), name) {
			return fmt.Sprintf("%s; did you mean %s, its name after namePrefix or nameSuffix?", msg, res.GetName())
		}
	}
	return msg
}

// renamed reports whether rendered can be name with a namePrefix or a
// nameSuffix. Kustomize forgets a resource's earlier names by the end of a
// build, so this is a guess, good enough for a hint.
func renamed(rendered, name string) bool {
	return rendered != name && strings.Contains(rendered, name)
}

// overlayDir returns the directory to build for tier at p: the site's
// overlay for the tier when it has one, else the tier's own path.
func (r *run) overlayDir(tier *Tier, p placement) string {
	if p.site == nil || p.site.Spec.overlayDir == "" {
		return tier.dir
	}
	dir := path.Join(p.site.Spec.overlayDir, tier.Name)
	if info, err := r.stat.Stat(dir); err == nil && info.IsDir() {
		return dir
	}
	return tier.dir
}

// checkOverlays checks that every directory in a site's overlay is named
// after a tier deployed to the site and is a kustomize directory, so that a
// misspelt overlay is an error rather than silently unused.
func (r *run) checkOverlays(cfg *Config) {
	for _, site := range cfg.Sites {
		if site.Spec.overlayDir == "" {
			continue
		}
		entries, err := r.stat.ReadDir(site.Spec.overlayDir)
		if err != nil {
			r.addErr(site.File, site.pos, "spec.overlay", err)
			continue
		}
		tiers := tiersOf(cfg.Solutions, site)
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := path.Join(site.Spec.overlayDir, e.Name())
			switch {
			case !slices.Contains(tiers, e.Name()):
				r.add(site.File, site.pos, "spec.overlay", "%s is named after no tier deployed to site %s (tiers: %v)", dir, site.Name, tiers)
			case kustomizationIn(r.stat, dir) == "":
				r.add(site.File, site.pos, "spec.overlay", "%s is not a kustomize directory: it has no kustomization.yaml", dir)
			}
		}
	}
}

// tiersOf returns the names of the tiers deployed to site, sorted.
func tiersOf(solutions []*Solution, site *Site) []string {
	var names []string
	for _, sol := range solutions {
		for i := range sol.Spec.Tiers {
			if sol.Spec.Tiers[i].Selects(site) && !slices.Contains(names, sol.Spec.Tiers[i].Name) {
				names = append(names, sol.Spec.Tiers[i].Name)
			}
		}
	}
	slices.Sort(names)
	return names
}
