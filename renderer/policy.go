package renderer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SolutionPolicy is what the rendered objects of a solution must satisfy,
// and where its sites may run. It is checked at render, so validate, diff,
// the console and the daemon refuse the same revisions.
type SolutionPolicy struct {
	// Rules are CEL expressions every object of their tiers must satisfy.
	Rules []PolicyRule `json:"rules,omitempty"`
	// Baseline names the tiers the built-in rules (BaselineRules) apply
	// to; "*" names every tier.
	Baseline []string `json:"baseline,omitempty"`
	// AllowedRegistries are the image prefixes, such as
	// registry.example.com/iot, that baseline/image-pinned accepts without
	// a digest. A prefix matches whole path segments.
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
	// AllowedClusters, when set, are the only clusters the solution's site
	// tiers may land on: a Site it selects on any other cluster, such as
	// the management cluster one of its tiers names, is refused. Entries
	// are cluster names or path.Match patterns such as plant-*.
	AllowedClusters []string `json:"allowedClusters,omitempty"`
}

// PolicyRule is one CEL expression the objects of some tiers must satisfy.
type PolicyRule struct {
	// Name identifies the rule within the solution.
	Name string `json:"name"`
	// Tiers are the tiers whose objects the rule checks; "*" names every
	// tier.
	Tiers []string `json:"tiers"`
	// Expression is a CEL expression over object, podSpec, site and
	// allowedRegistries that is true when the object is allowed.
	Expression string `json:"expression"`
	// Message says what is wrong with an object the rule refuses
	// (default: the expression).
	Message string `json:"message,omitempty"`
}

// allTiers, in a list of tiers, names every tier of the solution.
const allTiers = "*"

// policyCostLimit bounds the work of one evaluation of one rule on one
// object, in cel-go's cost units; it is the per-expression limit of
// Kubernetes' ValidatingAdmissionPolicy.
const policyCostLimit = 1_000_000

// interruptEvery is how many comprehension iterations pass between two
// checks of whether the render's time is up.
const interruptEvery = 100

// maxExpressionSize is the longest expression, in code points, a rule may
// have.
const maxExpressionSize = 10_000

// policySite is the site variable of a rule: the site an object is
// rendered for, or, for a tier on named clusters, one with an empty name,
// no labels, weight 1 and the cluster.
type policySite struct {
	Name    string            `cel:"name"`
	Labels  map[string]string `cel:"labels"`
	Weight  float64           `cel:"weight"`
	Cluster string            `cel:"cluster"`
}

// policyEnv returns the CEL environment every rule is compiled in, built
// once: it declares the variables and nothing that reads the outside world.
var policyEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[policySite](), ext.ParseStructTags(true)),
		cel.OptionalTypes(),
		ext.Strings(),
		cel.ParserExpressionSizeLimit(maxExpressionSize),
		cel.Variable("object", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("podSpec", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("site", cel.ObjectType("renderer.policySite")),
		cel.Variable("allowedRegistries", cel.ListType(cel.StringType)),
	)
})

// policyRule is a compiled rule of a solution, user-written or baseline.
type policyRule struct {
	name    string
	message string
	field   func(tier string) string // the descriptor field that asks for the rule on tier
	tiers   []string
	// only, when set, says which objects the rule can refuse; the render
	// does not evaluate it on others, which it allows.
	only    func(o *unstructured.Unstructured, podSpec map[string]any) bool
	program cel.Program
	// culprits, when set, lists what in a refused object breaks the rule,
	// things that noun names.
	culprits cel.Program
	noun     string
}

// appliesTo reports whether r checks the objects of tier.
func (r *policyRule) appliesTo(tier string) bool {
	return slices.Contains(r.tiers, tier) || slices.Contains(r.tiers, allTiers)
}

// compileRule type-checks expression as a rule and makes its program. The
// error says where in the expression each problem is, as line:column.
func compileRule(expression string) (cel.Program, error) {
	env, err := policyEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(expression)
	if iss.Err() != nil {
		msgs := make([]string, len(iss.Errors()))
		for i, e := range iss.Errors() {
			msgs[i] = fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message)
		}
		return nil, fmt.Errorf("does not compile: %s", strings.Join(msgs, "; "))
	}
	// A field of the object is dyn until evaluated; whether it holds a
	// bool is checked then.
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("returns %s, want bool", t)
	}
	// The sizes of objects are unknown here, so only an expression that
	// must cost too much, whatever the object, is refused at load.
	if est, err := env.EstimateCost(ast, unknownSizes{}); err == nil && est.Min > policyCostLimit {
		return nil, fmt.Errorf("costs at least %d to evaluate, over the limit of %d", est.Min, policyCostLimit)
	}
	// The interrupt checks let the render's time budget stop a comprehension.
	return env.Program(ast, cel.CostLimit(policyCostLimit), cel.InterruptCheckFrequency(interruptEvery))
}

// unknownSizes is a cost estimator that knows nothing more than CEL does.
type unknownSizes struct{}

func (unknownSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }
func (unknownSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// validateSolutionPolicy checks the policy of s and compiles its rules,
// user-written and baseline, into s.policy; tiers maps the solution's tier
// names.
func (l *loader) validateSolutionPolicy(s *Solution, tiers map[string]int) {
	f, pos, p := s.File, s.pos, &s.Spec.Policy
	names := map[string]bool{}
	for i, rule := range p.Rules {
		field := fmt.Sprintf("spec.policy.rules[%d]", i)
		switch {
		case rule.Name == "":
			l.add(f, pos, field+".name", "name is required")
		case names[rule.Name]:
			l.add(f, pos, field+".name", "duplicate rule name %q", rule.Name)
		case strings.HasPrefix(rule.Name, baselinePrefix):
			l.add(f, pos, field+".name", "rule name %q: names starting with %s are the baseline's", rule.Name, baselinePrefix)
		}
		names[rule.Name] = true
		tiersOK := l.checkTierList(s, field+".tiers", rule.Tiers, tiers)
		if rule.Expression == "" {
			l.add(f, pos, field+".expression", "expression is required")
			continue
		}
		program, err := compileRule(rule.Expression)
		if err != nil {
			l.addErr(f, pos, field+".expression", err)
			continue
		}
		if tiersOK {
			s.policy = append(s.policy, &policyRule{
				name: rule.Name, message: cmp.Or(rule.Message, rule.Expression),
				field: func(string) string { return field }, tiers: rule.Tiers, program: program,
			})
		}
	}
	for i, r := range p.AllowedRegistries {
		if r == "" || strings.ContainsAny(r, "@ \t") {
			l.add(f, pos, fmt.Sprintf("spec.policy.allowedRegistries[%d]", i), "%q is not a registry prefix such as registry.example.com/iot", r)
		}
	}
	for i, c := range p.AllowedClusters {
		if err := checkClusterPattern(c); err != nil {
			l.addErr(f, pos, fmt.Sprintf("spec.policy.allowedClusters[%d]", i), err)
		}
	}
	if len(p.Baseline) == 0 || !l.checkTierList(s, "spec.policy.baseline", p.Baseline, tiers) {
		return
	}
	baseline, err := baselineRules()
	if err != nil {
		l.addErr(f, pos, "spec.policy.baseline", err)
		return
	}
	for _, b := range baseline {
		rule := *b
		rule.tiers = p.Baseline
		rule.field = func(tier string) string {
			i := slices.Index(p.Baseline, tier)
			if i < 0 {
				i = slices.Index(p.Baseline, allTiers)
			}
			return fmt.Sprintf("spec.policy.baseline[%d]", i)
		}
		s.policy = append(s.policy, &rule)
	}
}

// checkTierList checks that list, at field, names tiers of s, or is "*"
// alone, and reports whether it does.
func (l *loader) checkTierList(s *Solution, field string, list []string, tiers map[string]int) bool {
	if len(list) == 0 {
		l.add(s.File, s.pos, field, "tiers are required: name the tiers, or \"*\" for every tier")
		return false
	}
	ok := true
	for j, name := range list {
		tf := fmt.Sprintf("%s[%d]", field, j)
		switch _, known := tiers[name]; {
		case name == allTiers && len(list) > 1:
			l.add(s.File, s.pos, tf, "%q names every tier and must stand alone", allTiers)
			ok = false
		case name != allTiers && !known:
			l.add(s.File, s.pos, tf, "unknown tier %q", name)
			ok = false
		case slices.Index(list, name) < j:
			l.add(s.File, s.pos, tf, "duplicate tier %q", name)
			ok = false
		}
	}
	return ok
}

// shownViolations is how many objects a rule refuses are listed before
// "and N more": enough to find the pattern, few enough to read.
const shownViolations = 20

// checkPolicy evaluates every policy rule of every solution of res on
// every object of the tiers it names, at every place they are rendered,
// and refuses each object a rule does not allow, listing up to
// shownViolations per rule. It runs once the revision's targets are
// complete, so what a site overlay changes is what is checked. A rule that
// costs more than its limit is reported once and not evaluated further:
// it would cost as much at every site. It returns an error only when ctx
// is done, the render's time budget spent.
func (r *run) checkPolicy(ctx context.Context, res *Result, budget time.Duration) error {
	sites := map[string]*Site{}
	for _, s := range res.Sites {
		sites[s.Name] = s
	}
	for _, sol := range res.Solutions {
		if len(sol.policy) == 0 {
			continue
		}
		refused, stopped := make([]int, len(sol.policy)), make([]bool, len(sol.policy))
		last := make([]*FieldError, len(sol.policy))
		for _, t := range res.Targets {
			if t.Solution != sol.Name {
				continue
			}
			site, where := policySiteOf(t, sites)
			for _, o := range t.Objects {
				vars, spec := policyVars(o, site, sol.Spec.Policy.AllowedRegistries)
				for k, rule := range sol.policy {
					if stopped[k] || !rule.appliesTo(t.Tier) || (rule.only != nil && !rule.only(o, spec)) {
						continue
					}
					msg, stop := rule.check(ctx, vars)
					if err := overTime(ctx, budget, fmt.Sprintf("checking rule %s of solution %s", rule.name, sol.Name)); err != nil {
						return err
					}
					if msg == "" {
						continue
					}
					stopped[k] = stop
					if refused[k]++; refused[k] > shownViolations {
						continue
					}
					field := rule.field(t.Tier)
					last[k] = &FieldError{File: sol.File, Line: sol.pos.line(field), Field: field,
						Err: fmt.Errorf("%s of tier %s at %s: %s", objectName(o), t.Tier, where, msg)}
					r.errs = append(r.errs, last[k])
				}
			}
		}
		for k, n := range refused {
			if n > shownViolations {
				more := *last[k]
				noun := "objects"
				if n-shownViolations == 1 {
					noun = "object"
				}
				more.Err = fmt.Errorf("and %d more %s rule %s refuses", n-shownViolations, noun, sol.policy[k].name)
				r.errs = append(r.errs, &more)
			}
		}
	}
	return nil
}

// check evaluates r with vars and returns why it refuses the object, or ""
// when it allows it; stop says the rule went over its cost limit.
func (r *policyRule) check(ctx context.Context, vars map[string]any) (msg string, stop bool) {
	out, _, err := r.program.ContextEval(ctx, vars)
	var cancelled interpreter.EvalCancelledError
	switch {
	case errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded:
		return fmt.Sprintf("rule %s costs more than the limit of %d to evaluate, and is not evaluated on more objects", r.name, policyCostLimit), true
	case err != nil:
		return fmt.Sprintf("rule %s does not evaluate: %v", r.name, err), false
	}
	switch allowed, ok := out.Value().(bool); {
	case !ok:
		return fmt.Sprintf("rule %s returns %s, want bool", r.name, out.Type().TypeName()), false
	case allowed:
		return "", false
	}
	if culprits := r.culpritsOf(vars); culprits != "" {
		return fmt.Sprintf("%s: %s (rule %s)", r.message, culprits, r.name), false
	}
	return fmt.Sprintf("%s (rule %s)", r.message, r.name), false
}

// policyVars returns the variables a rule is evaluated with on o, and the
// pod spec among them.
func policyVars(o *unstructured.Unstructured, site policySite, registries []string) (map[string]any, map[string]any) {
	if registries == nil {
		registries = []string{}
	}
	spec := podSpecOfObject(o)
	return map[string]any{"object": o.Object, "podSpec": spec, "site": site, "allowedRegistries": registries}, spec
}

// policySiteOf returns the site variable for target t and where t is, as
// "site a" or "cluster cloud".
func policySiteOf(t Target, sites map[string]*Site) (policySite, string) {
	s := sites[t.Site]
	if t.Site == "" || s == nil {
		return policySite{Labels: map[string]string{}, Weight: 1, Cluster: t.Cluster}, "cluster " + t.Cluster
	}
	labels := s.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return policySite{Name: s.Name, Labels: labels, Weight: s.Spec.Weight, Cluster: s.Spec.Cluster}, "site " + s.Name
}

// podSpecOfObject returns the spec of the pods o runs: a Pod's spec, the pod
// template's of a workload or a Job, the job template's of a CronJob; an
// empty map for any other object.
func podSpecOfObject(o *unstructured.Unstructured) map[string]any {
	apiVersion, _ := o.Object["apiVersion"].(string)
	kind, _ := o.Object["kind"].(string)
	group, _, grouped := strings.Cut(apiVersion, "/")
	if !grouped {
		group = ""
	}
	var fields []string
	switch {
	case group == "" && kind == "Pod":
		fields = []string{"spec"}
	case group == "apps" && (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" || kind == "ReplicaSet"),
		group == "" && kind == "ReplicationController",
		group == "batch" && kind == "Job":
		fields = []string{"spec", "template", "spec"}
	case group == "batch" && kind == "CronJob":
		fields = []string{"spec", "jobTemplate", "spec", "template", "spec"}
	default:
		return map[string]any{}
	}
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, fields...)
	spec, ok := v.(map[string]any)
	if !ok {
		return map[string]any{}
	}
	return spec
}
