// Package scaling computes replica counts by linked scaling: cloud workloads
// follow the solution's business scale factor, and edge workloads follow
// cloud workloads in proportion to each site's weight.
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

// Rule says how many replicas one workload runs. Exactly one of PerScale
// and LinkedTo is set.
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
	// Min and Max clamp the result; a nil Max is no upper bound.
	Min int32
	Max *int32
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
	rules   map[Ref]*Rule
	index   map[Ref]int   // each rule's position in the rules passed to New
	cluster map[Ref]int32 // every rule evaluated with weight 1, in dependency order
}

// ErrTooManyReplicas says that a rule computes more replicas than a
// workload's replicas field (an int32) can hold and has no Max to bound
// them. Callers add what the rule belongs to.
var ErrTooManyReplicas = errors.New("too many replicas")

// New validates rules and evaluates them at scale. It reports every
// problem it finds, each as a *RuleError, joined with errors.Join.
func New(scale float64, rules []Rule) (*Model, error) {
	var errs []error
	if !(scale >= 0) || math.IsInf(scale, 0) {
		errs = append(errs, fmt.Errorf("scale %v must be a finite number ≥ 0", scale))
	}
	m := &Model{rules: make(map[Ref]*Rule, len(rules)), index: make(map[Ref]int, len(rules)), cluster: make(map[Ref]int32, len(rules))}
	for i := range rules {
		r := &rules[i]
		fail := func(field string, format string, args ...any) {
			errs = append(errs, &RuleError{Index: i, Field: field, Err: fmt.Errorf(format, args...)})
		}
		if _, dup := m.rules[r.Workload]; dup {
			fail("workload", "workload %s already has a replica rule", r.Workload)
			continue
		}
		m.rules[r.Workload], m.index[r.Workload] = r, i
		switch {
		case r.LinkedTo == nil && r.PerScale == 0:
			fail("perScale", "one of perScale or linkedTo is required")
		case r.LinkedTo != nil && r.PerScale != 0:
			fail("perScale", "perScale and linkedTo are mutually exclusive")
		case r.LinkedTo == nil && !positive(r.PerScale):
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
		r := &rules[i]
		if r.LinkedTo == nil || m.rules[r.Workload] != r {
			continue
		}
		target, ok := m.rules[*r.LinkedTo]
		switch {
		case !ok:
			errs = append(errs, &RuleError{Index: i, Field: "linkedTo", Err: fmt.Errorf("no replica rule for workload %s", r.LinkedTo)})
		case target.PerSite && !r.PerSite:
			errs = append(errs, &RuleError{Index: i, Field: "linkedTo", Err: fmt.Errorf("%s is scaled per site; a cluster tier cannot follow it", r.LinkedTo)})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i := range rules {
		if err := m.evaluate(scale, &rules[i], nil); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// evaluate fills m.cluster for r and the rules it follows; path holds the
// rules being evaluated, to report a cycle instead of recursing forever.
func (m *Model) evaluate(scale float64, r *Rule, path []Ref) error {
	if _, done := m.cluster[r.Workload]; done {
		return nil
	}
	if r.LinkedTo == nil {
		n, err := m.clamp(r, "perScale", term{"scale", scale}, term{"perScale", r.PerScale})
		m.cluster[r.Workload] = n
		return err
	}
	for i, p := range path {
		if p == r.Workload {
			return &RuleError{Index: m.index[r.Workload], Field: "linkedTo", Err: fmt.Errorf("linkedTo forms a cycle: %s", cycle(append(path[i:], p)))}
		}
	}
	target := m.rules[*r.LinkedTo]
	if err := m.evaluate(scale, target, append(path, r.Workload)); err != nil {
		return err
	}
	n, err := m.clamp(r, "ratio", term{target.Workload.String(), float64(m.cluster[target.Workload])}, term{"ratio", r.Ratio})
	m.cluster[r.Workload] = n
	return err
}

func cycle(refs []Ref) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, " → ")
}

// Replicas returns the replicas of workload w at a site of the given weight.
// The weight only matters for a per-site rule that follows a cluster rule,
// directly or through other per-site rules; pass 1 for workloads in cluster
// tiers. It fails when no rule covers w, and with a *RuleError wrapping
// ErrTooManyReplicas when the weight takes the count past what a workload
// can have.
func (m *Model) Replicas(w Ref, weight float64) (int32, error) {
	r, ok := m.rules[w]
	if !ok {
		return 0, fmt.Errorf("no replica rule for workload %s", w)
	}
	if !r.PerSite || r.LinkedTo == nil {
		return m.cluster[w], nil
	}
	target := m.rules[*r.LinkedTo]
	if !target.PerSite {
		return m.clamp(r, "ratio", term{target.Workload.String(), float64(m.cluster[target.Workload])}, term{"ratio", r.Ratio}, term{"site weight", weight})
	}
	linked, err := m.Replicas(target.Workload, weight)
	if err != nil {
		return 0, err
	}
	return m.clamp(r, "ratio", term{target.Workload.String(), float64(linked)}, term{"ratio", r.Ratio})
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

// clamp returns the ceiling of the product of terms bounded by the rule's
// Min and Max. A count past math.MaxInt32 that Max does not bound is an
// error at field, rather than a number the workload silently never gets.
func (m *Model) clamp(r *Rule, field string, terms ...term) (int32, error) {
	n := ceilProduct(terms...)
	if r.Max != nil && n.Cmp(big.NewInt(int64(*r.Max))) > 0 {
		return *r.Max, nil
	}
	if n.Cmp(big.NewInt(math.MaxInt32)) > 0 {
		parts := make([]string, len(terms))
		for i, t := range terms {
			parts[i] = t.name + " " + t.String()
		}
		return 0, &RuleError{Index: m.index[r.Workload], Field: field, Err: fmt.Errorf("%w: %s would get %s replicas (%s), more than the %d a workload can have; lower %s or set max",
			ErrTooManyReplicas, r.Workload, count(n), strings.Join(parts, " × "), math.MaxInt32, field)}
	}
	return int32(max(n.Int64(), int64(r.Min))), nil
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
	p := new(big.Rat).SetInt64(1)
	var f big.Rat
	for _, t := range terms {
		if _, ok := f.SetString(strconv.FormatFloat(t.value, 'g', -1, 64)); !ok {
			return new(big.Int)
		}
		p.Mul(p, &f)
	}
	q, r := new(big.Int).QuoRem(p.Num(), p.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}
