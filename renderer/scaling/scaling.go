// Package scaling computes replica counts by linked scaling: cloud workloads
// follow the solution's business scale factor, and edge workloads follow
// cloud workloads in proportion to each site's weight.
//
// Where a ratio is not enough, a rule's count is a CEL expression over the
// scale, the site (its name, labels, weight and capacity) and the counts
// of other rules' workloads:
//
//	site.labels.?line.orValue("") == "fast" ? replicas["cloud/ingest"] * 0.5 * site.weight : 1.0
//
// Every count, however computed, is rounded up and clamped by the rule's
// min and max.
//
// It is the one place the numbers come from, so that render, diff, the GUI's
// preview and the daemon always agree. It is pure: no I/O, no descriptors,
// only rules and numbers.
package scaling

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// Ref names a workload (a Deployment, StatefulSet, ReplicaSet or
// ReplicationController) in a tier.
type Ref struct {
	Tier     string
	Workload string
}

// String returns the reference in its descriptor form, "tier/workload".
func (r Ref) String() string { return r.Tier + "/" + r.Workload }

// ParseRef parses the descriptor form "tier/workload".
func ParseRef(s string) (Ref, error) {
	tier, workload, ok := strings.Cut(s, "/")
	if !ok || tier == "" || workload == "" || strings.Contains(workload, "/") {
		return Ref{}, fmt.Errorf("%q is not of the form tier/workload", s)
	}
	return Ref{Tier: tier, Workload: workload}, nil
}

// Rule says how many replicas one workload runs. Exactly one of PerScale,
// LinkedTo and Expr is set.
type Rule struct {
	// Workload is the workload the rule sets the replicas of.
	Workload Ref
	// PerSite is true when the workload's tier is deployed once per site
	// rather than to named clusters.
	PerSite bool
	// PerScale makes the workload run ceil(scale × PerScale) replicas.
	PerScale float64
	// LinkedTo makes the workload follow another rule's workload: it runs
	// ceil(linked × Ratio × weight) replicas, where weight is the site's
	// weight when a per-site rule follows a cluster rule, and 1 otherwise
	// (a per-site rule following another per-site rule is already weighted).
	LinkedTo *Ref
	// Ratio is the factor applied to the linked workload's replicas.
	Ratio float64
	// Expr makes the workload run the ceiling of what the expression
	// gives. It may read other rules' workloads as it reads LinkedTo, with
	// no weight applied: the expression weighs what it reads itself.
	Expr *Expr
	// Min and Max clamp the result; a nil Max is no upper bound.
	Min int32
	Max *int32
}

// field is the descriptor field that says how r computes its count.
func (r *Rule) field() string {
	switch {
	case r.Expr != nil:
		return "expr"
	case r.LinkedTo != nil:
		return "linkedTo"
	}
	return "perScale"
}

// RuleError is a problem with one rule passed to New. Index is the rule's
// position and Field the rule's field at fault, so that callers can point
// at the descriptor line that declared it.
type RuleError struct {
	Index int
	Field string
	Err   error
}

func (e *RuleError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *RuleError) Unwrap() error { return e.Err }

// Model computes replica counts for one scale factor and one set of rules.
// Build it with New; it is safe for concurrent use.
type Model struct {
	scale float64
	nodes map[Ref]*node
}

// node is one rule in the graph of what follows what.
type node struct {
	rule  *Rule
	index int     // the rule's position in the rules passed to New
	deps  []*node // what the rule follows or reads
	// bySite says the count differs between sites, so Replicas computes
	// it for each; otherwise it is value.
	bySite bool
	// needsSite says the count cannot be had without a site's data:
	// New leaves value unset.
	needsSite bool
	// value is the count at the cluster site, weight 1.
	value int32
	state int // unvisited, visiting or visited, while New orders the graph
}

const (
	unvisited = iota
	visiting
	visited
)

// ErrTooManyReplicas says that a rule computes more replicas than a
// workload's replicas field (an int32) can hold and has no Max to bound
// them. Callers add what the rule belongs to.
var ErrTooManyReplicas = errors.New("too many replicas")

// New validates rules and evaluates at scale every rule whose count does
// not depend on a site's data. It reports every problem it finds, each as a
// *RuleError, joined with errors.Join.
func New(scale float64, rules []Rule) (*Model, error) {
	var errs []error
	if !(scale >= 0) || math.IsInf(scale, 0) {
		errs = append(errs, fmt.Errorf("scale %v must be a finite number ≥ 0", scale))
	}
	m := &Model{scale: scale, nodes: make(map[Ref]*node, len(rules))}
	for i := range rules {
		r := &rules[i]
		fail := func(field string, format string, args ...any) {
			errs = append(errs, &RuleError{Index: i, Field: field, Err: fmt.Errorf(format, args...)})
		}
		if _, dup := m.nodes[r.Workload]; dup {
			fail("workload", "workload %s already has a replica rule", r.Workload)
			continue
		}
		m.nodes[r.Workload] = &node{rule: r, index: i}
		switch {
		case r.LinkedTo == nil && r.PerScale == 0 && r.Expr == nil:
			fail("perScale", "one of perScale, linkedTo or expr is required")
		case r.LinkedTo != nil && r.PerScale != 0:
			fail("perScale", "perScale and linkedTo are mutually exclusive")
		case r.Expr != nil && r.PerScale != 0:
			fail("expr", "perScale and expr are mutually exclusive")
		case r.Expr != nil && r.LinkedTo != nil:
			fail("expr", "linkedTo and expr are mutually exclusive")
		case r.Expr == nil && r.LinkedTo == nil && !positive(r.PerScale):
			fail("perScale", "perScale %v must be > 0", r.PerScale)
		case r.LinkedTo != nil && !positive(r.Ratio):
			fail("ratio", "ratio %v must be > 0", r.Ratio)
		}
		if r.LinkedTo == nil && r.Ratio != 0 {
			fail("ratio", "ratio needs linkedTo")
		}
		if r.Min < 0 {
			fail("min", "min %d must be ≥ 0", r.Min)
		}
		if r.Max != nil && *r.Max < r.Min {
			fail("max", "max %d is less than min %d", *r.Max, r.Min)
		}
	}
	for i := range rules {
		n := m.nodes[rules[i].Workload]
		if n.rule != &rules[i] {
			continue
		}
		errs = append(errs, m.link(n)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i := range rules {
		if err := m.visit(m.nodes[rules[i].Workload], nil); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// link finds the rules n follows or reads, and reports those that do not
// exist or that a rule of a cluster tier may not follow.
func (m *Model) link(n *node) []error {
	r := n.rule
	var errs []error
	if r.LinkedTo != nil && r.Expr == nil {
		target, ok := m.nodes[*r.LinkedTo]
		switch {
		case !ok:
			errs = append(errs, &RuleError{Index: n.index, Field: "linkedTo", Err: fmt.Errorf("no replica rule for workload %s", r.LinkedTo)})
		case target.rule.PerSite && !r.PerSite:
			errs = append(errs, &RuleError{Index: n.index, Field: "linkedTo", Err: fmt.Errorf("%s is scaled per site; a cluster tier cannot follow it", r.LinkedTo)})
		default:
			n.deps = []*node{target}
		}
	}
	if r.Expr == nil {
		return errs
	}
	for _, rd := range r.Expr.reads {
		target, ok := m.nodes[rd.ref]
		switch {
		case !ok:
			errs = append(errs, &RuleError{Index: n.index, Field: "expr", Err: &ExprError{Line: rd.line, Column: rd.column, Msg: fmt.Sprintf("no replica rule for workload %s", rd.ref)}})
		case target.rule.PerSite && !r.PerSite:
			errs = append(errs, &RuleError{Index: n.index, Field: "expr", Err: &ExprError{Line: rd.line, Column: rd.column, Msg: fmt.Sprintf("%s is scaled per site; a cluster tier cannot read it", rd.ref)}})
		default:
			n.deps = append(n.deps, target)
		}
	}
	return errs
}

// visit evaluates n after the rules it follows, at the cluster site unless
// it needs a site's data; path holds the rules being visited, to report a
// cycle instead of recursing forever.
func (m *Model) visit(n *node, path []Ref) error {
	switch n.state {
	case visited:
		return nil
	case visiting:
		i := slices.Index(path, n.rule.Workload)
		return &RuleError{Index: n.index, Field: n.rule.field(), Err: fmt.Errorf("%s forms a cycle: %s", n.rule.field(), cycle(append(path[i:], n.rule.Workload)))}
	}
	n.state = visiting
	r := n.rule
	for _, d := range n.deps {
		if err := m.visit(d, append(path, r.Workload)); err != nil {
			return err
		}
	}
	n.state = visited
	if r.PerSite {
		for _, d := range n.deps {
			n.bySite = n.bySite || d.bySite || r.Expr == nil && !d.rule.PerSite
			n.needsSite = n.needsSite || d.needsSite
		}
		if r.Expr != nil {
			n.bySite = n.bySite || r.Expr.usesSite
			n.needsSite = n.bySite
		}
	}
	if n.needsSite {
		return nil
	}
	v, err := m.count(n, &cluster, nil)
	n.value = v
	return err
}

func cycle(refs []Ref) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, " → ")
}

// Replicas returns the replicas of workload w at site. The site only
// matters for a per-site rule that follows a cluster rule or reads the
// site, directly or through other per-site rules; workloads of cluster
// tiers always see the cluster site (see Site). It fails when no rule
// covers w, with a *RuleError wrapping ErrTooManyReplicas when the site
// takes the count past what a workload can have, and with a *RuleError
// when an expression fails at the site. Callers add the site's name.
func (m *Model) Replicas(w Ref, site Site) (int32, error) {
	n, ok := m.nodes[w]
	if !ok {
		return 0, fmt.Errorf("no replica rule for workload %s", w)
	}
	if !n.bySite {
		return n.value, nil
	}
	return m.count(n, &site, nil)
}

// count computes the replicas of n at site from those of the rules it
// follows. memo holds the counts at site found so far for rules with an
// expression, which may read the same rule along several paths; nil until
// the first such rule.
func (m *Model) count(n *node, site *Site, memo map[*node]int32) (int32, error) {
	r := n.rule
	switch {
	case r.Expr != nil:
		if v, ok := memo[n]; ok {
			return v, nil
		}
		if memo == nil {
			memo = map[*node]int32{}
		}
		replicas := make(map[string]float64, len(n.deps))
		for _, d := range n.deps {
			v := d.value
			if d.bySite {
				var err error
				if v, err = m.count(d, site, memo); err != nil {
					return 0, err
				}
			}
			replicas[d.rule.Workload.String()] = float64(v)
		}
		want, err := r.Expr.eval(r.Workload, m.scale, site, replicas)
		if err != nil {
			return 0, &RuleError{Index: n.index, Field: "expr", Err: err}
		}
		v, ok := bound(r, want)
		if !ok {
			return 0, &RuleError{Index: n.index, Field: "expr", Err: fmt.Errorf("%w: %s would get %s replicas from its expr, more than the %d a workload can have; lower what expr gives or set max",
				ErrTooManyReplicas, r.Workload, count(want), math.MaxInt32)}
		}
		memo[n] = v
		return v, nil
	case r.LinkedTo != nil:
		target := n.deps[0]
		if r.PerSite && !target.rule.PerSite && site != &cluster {
			return m.clamp(n, "ratio", term{target.rule.Workload.String(), float64(target.value)}, term{"ratio", r.Ratio}, term{"site weight", site.Weight})
		}
		linked := target.value
		if target.bySite {
			var err error
			if linked, err = m.count(target, site, memo); err != nil {
				return 0, err
			}
		}
		return m.clamp(n, "ratio", term{target.rule.Workload.String(), float64(linked)}, term{"ratio", r.Ratio})
	}
	return m.clamp(n, "perScale", term{"scale", m.scale}, term{"perScale", r.PerScale})
}

func positive(f float64) bool { return f > 0 && !math.IsInf(f, 0) }

// term is one factor of a replica count, named for an error message.
type term struct {
	name  string
	value float64
}

// String prints a whole value of up to 15 digits as an integer and any
// other value in its shortest form.
func (t term) String() string {
	if t.value == math.Trunc(t.value) && math.Abs(t.value) < 1e15 {
		return strconv.FormatInt(int64(t.value), 10)
	}
	return strconv.FormatFloat(t.value, 'g', -1, 64)
}

// clamp returns the ceiling of the product of terms bounded by the
// rule's Min and Max. A count past math.MaxInt32 that Max does not bound is
// an error at field, rather than a number the workload silently never gets.
func (m *Model) clamp(n *node, field string, terms ...term) (int32, error) {
	want := ceilProduct(terms...)
	v, ok := bound(n.rule, want)
	if !ok {
		parts := make([]string, len(terms))
		for i, t := range terms {
			parts[i] = t.name + " " + t.String()
		}
		return 0, &RuleError{Index: n.index, Field: field, Err: fmt.Errorf("%w: %s would get %s replicas (%s), more than the %d a workload can have; lower %s or set max",
			ErrTooManyReplicas, n.rule.Workload, count(want), strings.Join(parts, " × "), math.MaxInt32, field)}
	}
	return v, nil
}

// bound returns want bounded by r's Min and Max, and false when it is past
// math.MaxInt32 and Max does not bound it.
func bound(r *Rule, want *big.Int) (int32, bool) {
	if r.Max != nil && want.Cmp(big.NewInt(int64(*r.Max))) > 0 {
		return *r.Max, true
	}
	if want.Cmp(big.NewInt(math.MaxInt32)) > 0 {
		return 0, false
	}
	return int32(max(want.Int64(), int64(r.Min))), true
}

// count prints a replica count: exactly when it is short, else in
// scientific notation.
func count(n *big.Int) string {
	if n.BitLen() <= 64 {
		return n.String()
	}
	return new(big.Float).SetInt(n).Text('g', 3)
}

// ceilProduct returns the ceiling of the product of terms, computed on
// their shortest decimal forms so that 30 × 0.1 is 3, as a person reading
// the descriptor expects, and not the 4 that float64 rounding would give.
// New refuses the NaN and infinite values that have no decimal form.
func ceilProduct(terms ...term) *big.Int {
	if n, ok := ceilProductSmall(terms); ok {
		return big.NewInt(n)
	}
	return ceilProductRat(terms)
}

// ceilProductRat is ceilProduct computed with big.Rat, for any terms.
func ceilProductRat(terms []term) *big.Int {
	p := new(big.Rat).SetInt64(1)
	var f big.Rat
	for _, t := range terms {
		if _, ok := f.SetString(strconv.FormatFloat(t.value, 'g', -1, 64)); !ok {
			return new(big.Int)
		}
		p.Mul(p, &f)
	}
	return ceilRat(p)
}

// ceilRat returns the smallest integer ≥ q.
func ceilRat(q *big.Rat) *big.Int {
	n, r := new(big.Int).QuoRem(q.Num(), q.Denom(), new(big.Int))
	if r.Sign() > 0 {
		n.Add(n, big.NewInt(1))
	}
	return n
}
