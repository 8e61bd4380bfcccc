package renderer

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tandem-gitops/tandem/renderer/scaling"
)

// Selects reports whether the tier is deployed to site.
func (t *Tier) Selects(site *Site) bool {
	if t.sites != nil {
		return t.sites.matches(site)
	}
	return compile(t.Targets.Sites).matches(site)
}

// selector is a label selector, compiled. Compiling parses and checks
// every requirement, which is most of the cost of matching one site, and
// a render matches every site against every tier and rollout wave.
type selector struct {
	sel labels.Selector // nil: the selector matches nothing
}

func compile(ls *metav1.LabelSelector) *selector {
	if ls == nil {
		return &selector{}
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return &selector{}
	}
	return &selector{sel: sel}
}

func (s *selector) matches(site *Site) bool {
	return s.sel != nil && s.sel.Matches(labels.Set(site.Labels))
}

// compileSelectors compiles the selectors of the solution's tiers and
// rollout waves, for Selects and Wave.
func (s *Solution) compileSelectors() {
	for i := range s.Spec.Tiers {
		s.Spec.Tiers[i].sites = compile(s.Spec.Tiers[i].Targets.Sites)
	}
	s.waves = make([]*selector, len(s.Spec.Rollout.Waves))
	for i := range s.Spec.Rollout.Waves {
		s.waves[i] = compile(&s.Spec.Rollout.Waves[i].LabelSelector)
	}
}

// Wave returns the index of the rollout wave that updates site: the first
// wave whose selector matches it, or len(Spec.Rollout.Waves) when none does.
func (s *Solution) Wave(site *Site) int {
	for i := range s.Spec.Rollout.Waves {
		var sel *selector
		if i < len(s.waves) {
			sel = s.waves[i]
		} else { // a Solution not from Load
			sel = compile(&s.Spec.Rollout.Waves[i].LabelSelector)
		}
		if sel.matches(site) {
			return i
		}
	}
	return len(s.Spec.Rollout.Waves)
}

// Scaling returns the model that computes the solution's replicas at the
// given scale: the solution's own Spec.Scale to render it, another one to
// preview a change of scale.
func (s *Solution) Scaling(scale float64) (*scaling.Model, error) {
	rules, _ := s.rules()
	m, err := scaling.New(scale, rules)
	if err != nil {
		return nil, fmt.Errorf("solution %s: %w", s.Name, err)
	}
	return m, nil
}

// WorkloadReplicas is the replica count of one workload on one target.
type WorkloadReplicas struct {
	Tier, Workload string
	Cluster, Site  string // Site is empty for cluster tiers
	Replicas       int32
}

// Replicas previews the replicas of every workload with a replica rule, on
// every cluster and site it runs on, at the given scale. It is what a scale
// change would render, without building anything.
func (s *Solution) Replicas(scale float64, sites []*Site) ([]WorkloadReplicas, error) {
	m, err := s.Scaling(scale)
	if err != nil {
		return nil, err
	}
	var out []WorkloadReplicas
	for i := range s.Spec.Tiers {
		t := &s.Spec.Tiers[i]
		for _, p := range placements(t, sites) {
			site := p.scalingSite(s)
			for _, r := range t.Replicas {
				n, err := m.Replicas(scaling.Ref{Tier: t.Name, Workload: r.Workload}, site)
				if err != nil {
					return nil, fmt.Errorf("solution %s at %s: %w", s.Name, p, err)
				}
				out = append(out, WorkloadReplicas{Tier: t.Name, Workload: r.Workload, Cluster: p.cluster, Site: p.siteName(), Replicas: n})
			}
		}
	}
	return out, nil
}

// OverMax returns, for a preview of scale, an error for every replica rule
// whose max holds back what scale asks of it on some place, naming the
// rule's field: the scale is beyond the range the rules were written for.
// A render clamps such counts to max; a person changing the scale is told.
func (s *Solution) OverMax(scale float64, sites []*Site) error {
	capped, err := s.Replicas(scale, sites)
	if err != nil {
		return err
	}
	// The same rules bounded only by what a workload can hold.
	free := *s
	free.Spec.Tiers = slices.Clone(s.Spec.Tiers)
	limit := int32(math.MaxInt32)
	for i := range free.Spec.Tiers {
		free.Spec.Tiers[i].Replicas = slices.Clone(free.Spec.Tiers[i].Replicas)
		for j := range free.Spec.Tiers[i].Replicas {
			if free.Spec.Tiers[i].Replicas[j].Max != nil {
				free.Spec.Tiers[i].Replicas[j].Max = &limit
			}
		}
	}
	asked, err := free.Replicas(scale, sites)
	if err != nil {
		return fmt.Errorf("%s: spec.scale: %w", s.File, err)
	}
	var errs []error
	reported := map[[2]string]bool{}
	for i, w := range asked {
		if w.Replicas <= capped[i].Replicas || reported[[2]string{w.Tier, w.Workload}] {
			continue
		}
		reported[[2]string{w.Tier, w.Workload}] = true
		ti := slices.IndexFunc(s.Spec.Tiers, func(t Tier) bool { return t.Name == w.Tier })
		ri := slices.IndexFunc(s.Spec.Tiers[ti].Replicas, func(r ReplicaRule) bool { return r.Workload == w.Workload })
		field := fmt.Sprintf("spec.tiers[%d].replicas[%d].max", ti, ri)
		errs = append(errs, &FieldError{File: s.File, Line: s.pos.line(field), Field: field,
			Err: fmt.Errorf("scale %s asks %s/%s for %d replicas at %s, over its max of %d", strconv.FormatFloat(scale, 'f', -1, 64),
				w.Tier, w.Workload, w.Replicas, cmp.Or(w.Site, w.Cluster), capped[i].Replicas)})
	}
	return errors.Join(errs...)
}

// rules returns the solution's replica rules in the scaling package's
// terms, each with its descriptor field path.
func (s *Solution) rules() ([]scaling.Rule, []string) {
	var rules []scaling.Rule
	var fields []string
	for i := range s.Spec.Tiers {
		t := &s.Spec.Tiers[i]
		for j, r := range t.Replicas {
			rule := scaling.Rule{
				Workload: scaling.Ref{Tier: t.Name, Workload: r.Workload},
				PerSite:  t.Targets.PerSite(),
				PerScale: r.PerScale,
				Ratio:    r.Ratio,
				Expr:     r.expr,
				Min:      r.Min,
				Max:      r.Max,
			}
			if r.LinkedTo != "" {
				ref, _ := scaling.ParseRef(r.LinkedTo) // validated by Load
				rule.LinkedTo = &ref
			}
			rules = append(rules, rule)
			fields = append(fields, fmt.Sprintf("spec.tiers[%d].replicas[%d]", i, j))
		}
	}
	return rules, fields
}

// hasExpr reports whether a replica rule of s has an expression.
func (s *Solution) hasExpr() bool {
	for i := range s.Spec.Tiers {
		for _, r := range s.Spec.Tiers[i].Replicas {
			if r.expr != nil {
				return true
			}
		}
	}
	return false
}

// ruleAt returns the k-th replica rule in the order rules lists them.
func (s *Solution) ruleAt(k int) *ReplicaRule {
	for i := range s.Spec.Tiers {
		if n := len(s.Spec.Tiers[i].Replicas); k >= n {
			k -= n
		} else {
			return &s.Spec.Tiers[i].Replicas[k]
		}
	}
	return nil
}
