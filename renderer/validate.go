package renderer

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/konfig"

	"github.com/tandem-gitops/tandem/renderer/scaling"
)

// validate checks and defaults every descriptor of cfg, collecting problems.
func (l *loader) validate(cfg *Config) {
	names := map[string]*Solution{}
	for _, s := range cfg.Solutions {
		if prev, dup := names[s.Name]; dup && s.Name != "" {
			l.add(s.File, s.pos, "metadata.name", "duplicate solution name %q, also declared in %s", s.Name, prev.File)
		}
		names[s.Name] = s
		s.compileSelectors()
		l.validateSolution(s)
	}
	sites, clusters := map[string]*Site{}, map[string]*Site{}
	for _, s := range cfg.Sites {
		l.validateSite(s)
		if prev, dup := sites[s.Name]; dup && s.Name != "" {
			l.add(s.File, s.pos, "metadata.name", "duplicate site name %q, also declared in %s", s.Name, prev.File)
			continue
		}
		sites[s.Name] = s
		if prev, dup := clusters[s.Spec.Cluster]; dup && s.Spec.Cluster != "" {
			l.add(s.File, s.pos, "spec.cluster", "cluster %q already belongs to site %s", s.Spec.Cluster, prev.Name)
		}
		clusters[s.Spec.Cluster] = s
	}
	l.validateAllowedClusters(cfg)
	for _, site := range cfg.Sites {
		if !selectedByAnyTier(cfg.Solutions, site) {
			l.warn(site.File, site.pos, "metadata.labels", "site %s is selected by no tier of any solution", site.Name)
		}
	}
}

func selectedByAnyTier(solutions []*Solution, site *Site) bool {
	for _, sol := range solutions {
		for i := range sol.Spec.Tiers {
			if sol.Spec.Tiers[i].Selects(site) {
				return true
			}
		}
	}
	return false
}

func (l *loader) checkName(file string, pos positions, name string) {
	if name == "" {
		l.add(file, pos, "metadata.name", "name is required")
		return
	}
	for _, msg := range validation.IsDNS1123Label(name) {
		l.add(file, pos, "metadata.name", "%q: %s", name, msg)
	}
}

func (l *loader) validateSite(s *Site) {
	f, pos := s.File, s.pos
	l.checkName(f, pos, s.Name)
	if s.Spec.Cluster == "" {
		s.Spec.Cluster = s.Name
	}
	for _, msg := range validation.IsDNS1123Subdomain(s.Spec.Cluster) {
		l.add(f, pos, "spec.cluster", "%q: %s", s.Spec.Cluster, msg)
	}
	switch {
	case !pos.has("spec.weight"):
		s.Spec.Weight = 1
	case !(s.Spec.Weight > 0):
		l.add(f, pos, "spec.weight", "weight %v must be > 0", s.Spec.Weight)
	}
	if pos.has("spec.overlay") {
		dir, err := l.directory(s.Spec.Overlay)
		if err != nil {
			l.addErr(f, pos, "spec.overlay", err)
		}
		s.Spec.overlayDir = dir
	}
	switch s.Spec.Mode {
	case "":
		s.Spec.Mode = ModePush
	case ModePush, ModePull:
	default:
		l.add(f, pos, "spec.mode", "mode %q: want push or pull", s.Spec.Mode)
	}
	l.validateWindows(s)
	l.validateCapacity(s)
}

// directory resolves p inside the repository and checks it is a
// directory. It answers each p once per load: many sites share an overlay.
func (l *loader) directory(p string) (string, error) {
	if d, ok := l.dirs[p]; ok {
		return d.dir, d.err
	}
	dir, err := repoPath(l.fsys, p)
	if err == nil {
		if info, serr := l.stat.Stat(dir); serr != nil || !info.IsDir() {
			dir, err = "", fmt.Errorf("directory %s does not exist in the repository", p)
		}
	}
	if l.dirs == nil {
		l.dirs = map[string]resolvedDir{}
	}
	l.dirs[p] = resolvedDir{dir, err}
	return dir, err
}

type resolvedDir struct {
	dir string
	err error
}

// kustomizationIn returns the kustomization file of dir, or "".
func kustomizationIn(fsys fs.FS, dir string) string {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if info, err := fs.Stat(fsys, path.Join(dir, name)); err == nil && !info.IsDir() {
			return name
		}
	}
	return ""
}

func (l *loader) validateSolution(s *Solution) {
	f, pos := s.File, s.pos
	l.checkName(f, pos, s.Name)
	if !pos.has("spec.scale") {
		l.add(f, pos, "spec.scale", "scale is required")
	}
	if len(s.Spec.Tiers) == 0 {
		l.add(f, pos, "spec.tiers", "a solution needs at least one tier")
	}
	tiers := map[string]int{}
	for i := range s.Spec.Tiers {
		t := &s.Spec.Tiers[i]
		field := fmt.Sprintf("spec.tiers[%d]", i)
		if _, dup := tiers[t.Name]; dup {
			l.add(f, pos, field+".name", "duplicate tier name %q", t.Name)
		}
		tiers[t.Name] = i
		l.validateTier(s, t, field)
	}
	l.validateDependsOn(s, tiers)
	l.validateReplicas(s, tiers)
	l.validateModels(s, tiers)
	l.validateRollout(s)
	l.validateSolutionPolicy(s, tiers)
}

func (l *loader) validateTier(s *Solution, t *Tier, field string) {
	f, pos := s.File, s.pos
	for _, msg := range validation.IsDNS1123Label(t.Name) {
		l.add(f, pos, field+".name", "%q: %s", t.Name, msg)
	}
	if dir, err := l.directory(t.Path); err != nil {
		l.addErr(f, pos, field+".path", err)
	} else if kustomizationIn(l.stat, dir) == "" {
		l.add(f, pos, field+".path", "%s is not a kustomize directory: it has no kustomization.yaml", t.Path)
	} else {
		t.dir = dir
	}
	switch sel := t.Targets.Sites; {
	case sel == nil && len(t.Targets.Clusters) == 0:
		l.add(f, pos, field+".targets", "one of clusters or sites is required")
	case sel != nil && len(t.Targets.Clusters) > 0:
		l.add(f, pos, field+".targets", "clusters and sites are mutually exclusive")
	case sel != nil:
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			l.addErr(f, pos, field+".targets.sites", err)
		}
	}
	if t.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(t.Namespace) {
			l.add(f, pos, field+".namespace", "%q: %s", t.Namespace, msg)
		}
		if t.Namespace == ReservedNamespace {
			l.add(f, pos, field+".namespace", "namespace %s is reserved: it holds tandem's ApplySet parents and cluster credentials", ReservedNamespace)
		}
	}
	if d := t.Health.Timeout; d != nil && d.Duration <= 0 {
		l.add(f, pos, field+".health.timeout", "timeout %s must be > 0", d.Duration)
	}
	if t.Drift != "" && t.Drift != DriftCorrect && t.Drift != DriftReport {
		l.add(f, pos, field+".drift", "drift %q must be %q or %q", t.Drift, DriftCorrect, DriftReport)
	}
	for j, c := range t.Targets.Clusters {
		cf := fmt.Sprintf("%s.targets.clusters[%d]", field, j)
		for _, msg := range validation.IsDNS1123Subdomain(c) {
			l.add(f, pos, cf, "%q: %s", c, msg)
		}
		if slices.Index(t.Targets.Clusters, c) < j {
			l.add(f, pos, cf, "duplicate cluster %q", c)
		}
	}
}

func (l *loader) validateDependsOn(s *Solution, tiers map[string]int) {
	for i := range s.Spec.Tiers {
		for j, dep := range s.Spec.Tiers[i].DependsOn {
			field := fmt.Sprintf("spec.tiers[%d].dependsOn[%d]", i, j)
			switch k, ok := tiers[dep]; {
			case !ok:
				l.add(s.File, s.pos, field, "unknown tier %q", dep)
			case k == i:
				l.add(s.File, s.pos, field, "tier %s depends on itself", dep)
			}
		}
	}
	// A depth-first search that reports each cycle once, at the tier that
	// closes it.
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(s.Spec.Tiers))
	var stack []string
	var visit func(i int)
	visit = func(i int) {
		state[i] = visiting
		stack = append(stack, s.Spec.Tiers[i].Name)
		for j, dep := range s.Spec.Tiers[i].DependsOn {
			k, ok := tiers[dep]
			if !ok || k == i {
				continue
			}
			switch state[k] {
			case visiting:
				from := slices.Index(stack, dep)
				l.add(s.File, s.pos, fmt.Sprintf("spec.tiers[%d].dependsOn[%d]", i, j),
					"dependsOn forms a cycle: %s → %s", strings.Join(stack[from:], " → "), dep)
			case unvisited:
				visit(k)
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
	}
	for i := range s.Spec.Tiers {
		if state[i] == unvisited {
			visit(i)
		}
	}
}

// validateReplicas checks the replica rules' references, then hands the
// rules to the scaling package, the one authority on what a rule may say,
// and points its findings at the descriptor lines.
func (l *loader) validateReplicas(s *Solution, tiers map[string]int) {
	_, fields := s.rules()
	valid := true
	for k, field := range fields {
		spec := s.ruleAt(k)
		if spec.Workload == "" {
			l.add(s.File, s.pos, field+".workload", "workload is required")
			valid = false
		}
		if !l.compileExpr(s, field, spec) {
			valid = false
		}
		// A zero the descriptor spells out looks, to the scaling package,
		// like a field left out; say what is wrong with the zero instead.
		switch {
		case s.pos.has(field+".expr") && s.pos.has(field+".perScale"):
			l.add(s.File, s.pos, field+".expr", "perScale and expr are mutually exclusive")
			valid = false
		case s.pos.has(field+".expr") && spec.LinkedTo != "":
			l.add(s.File, s.pos, field+".expr", "linkedTo and expr are mutually exclusive")
			valid = false
		case s.pos.has(field+".perScale") && spec.LinkedTo != "":
			l.add(s.File, s.pos, field+".perScale", "perScale and linkedTo are mutually exclusive")
			valid = false
		case s.pos.has(field+".perScale") && spec.PerScale == 0:
			l.add(s.File, s.pos, field+".perScale", "perScale 0 must be greater than 0")
			valid = false
		case s.pos.has(field+".ratio") && spec.Ratio == 0 && spec.LinkedTo == "":
			l.add(s.File, s.pos, field+".ratio", "ratio needs linkedTo")
			valid = false
		}
		if spec.LinkedTo == "" {
			continue
		}
		ref, err := scaling.ParseRef(spec.LinkedTo)
		if err != nil {
			l.addErr(s.File, s.pos, field+".linkedTo", err)
			valid = false
		} else if _, ok := tiers[ref.Tier]; !ok {
			l.add(s.File, s.pos, field+".linkedTo", "unknown tier %q", ref.Tier)
			valid = false
		}
	}
	if !valid {
		return
	}
	rules, _ := s.rules()
	if _, err := scaling.New(s.Spec.Scale, rules); err != nil {
		for _, e := range unwrapAll(err) {
			l.addScalingErr(s, fields, e)
		}
	}
}

// compileExpr compiles the expression of spec, the replica rule at field,
// reporting each problem CEL finds at the expression's field. It reports
// whether the rule has no expression or one that compiles.
func (l *loader) compileExpr(s *Solution, field string, spec *ReplicaRule) bool {
	if !s.pos.has(field + ".expr") {
		return true
	}
	e, err := scaling.CompileExpr(spec.Expr)
	if err != nil {
		for _, e := range unwrapAll(err) {
			l.addErr(s.File, s.pos, field+".expr", e)
		}
		return false
	}
	spec.expr = e
	return true
}

// addScalingErr points e, one problem the scaling package found with the
// replica rules of s, at the descriptor field it is about; fields are the
// rules' paths, as s.rules returns them. A count too large for a workload
// also names the solution, since the same rule can overflow at one scale
// and not at another.
func (p *problems) addScalingErr(s *Solution, fields []string, e error) {
	field := "spec.scale"
	var re *scaling.RuleError
	if errors.As(e, &re) && re.Index < len(fields) {
		field, e = fields[re.Index]+"."+re.Field, re.Err
	}
	if errors.Is(e, scaling.ErrTooManyReplicas) {
		e = fmt.Errorf("solution %s: %w", s.Name, e)
	}
	p.addErr(s.File, s.pos, field, e)
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
