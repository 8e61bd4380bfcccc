package scaling

import (
	"errors"
	"testing"
)

// FuzzReplicaExpr compiles arbitrary text and, when it compiles, runs it
// as the rule of a site workload beside a cluster rule it may read: no
// input may panic, and every failure is an error of the documented kind.
// The cost limit is what bounds the time an evaluation takes.
func FuzzReplicaExpr(f *testing.F) {
	for _, src := range []string{
		"scale * 2.0",
		`replicas["cloud/ingest"] * 0.5 * site.weight`,
		`site.labels.?line.orValue("") == "fast" ? 4 : 1`,
		`site.capacity["cpu"] / 2.0`,
		"0.0 / 0.0",
		`[1,2,3].map(a, [1,2,3].map(b, a * b)).size()`,
	} {
		f.Add(src, 3.0, 2.0)
	}
	site := Site{Name: "plant-a", Labels: map[string]string{"line": "fast"}, Capacity: map[string]float64{"cpu": 4, "memory": 1 << 30}}
	f.Fuzz(func(t *testing.T, src string, scale, weight float64) {
		e, err := CompileExpr(src)
		if err != nil {
			var ee *ExprError
			if !errors.As(err, &ee) || ee.Line < 0 || ee.Column < 0 {
				t.Fatalf("CompileExpr(%q) = %v; want *ExprErrors", src, err)
			}
			return
		}
		m, err := New(scale, []Rule{{Workload: ingest, PerScale: 2}, {Workload: inference, PerSite: true, Expr: e}})
		if err != nil {
			return
		}
		s := site
		s.Weight = weight
		n, err := m.Replicas(inference, s)
		if err != nil {
			var re *RuleError
			if !errors.As(err, &re) || re.Field != "expr" {
				t.Fatalf("Replicas for %q = %v; want a *RuleError at expr", src, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("Replicas for %q = %d; want ≥ 0", src, n)
		}
	})
}
