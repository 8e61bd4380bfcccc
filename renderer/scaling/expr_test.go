package scaling

import (
	"errors"
	"strings"
	"testing"
)

// compile compiles src or fails the test.
func compile(t testing.TB, src string) *Expr {
	t.Helper()
	e, err := CompileExpr(src)
	if err != nil {
		t.Fatalf("CompileExpr(%q): %v", src, err)
	}
	return e
}

var (
	fastSite = Site{Name: "plant-a", Labels: map[string]string{"line": "fast"}, Weight: 2, Capacity: map[string]float64{"cpu": 6, "memory": 8 << 30}}
	slowSite = Site{Name: "plant-b", Labels: map[string]string{"line": "slow"}, Weight: 1, Capacity: map[string]float64{"cpu": 2}}
	bareSite = Site{Name: "plant-c", Weight: 0.5}
)

func TestExprRulesComputeReplicas(t *testing.T) {
	tests := []struct {
		name  string
		scale float64
		rules func(t *testing.T) []Rule
		w     Ref
		site  Site
		want  int32
	}{
		{"a double over scale", 3, exprRule(cloudRule, "scale * 2.0"), ingest, cluster, 6},
		{"an int", 3, exprRule(cloudRule, "4"), ingest, cluster, 4},
		{"a uint", 3, exprRule(cloudRule, "4u"), ingest, cluster, 4},
		{"rounds up", 3, exprRule(cloudRule, "scale * 0.25"), ingest, cluster, 1},
		{"rounding noise adds no replica", 30, exprRule(cloudRule, "scale * 0.1"), ingest, cluster, 3},
		{"a long product of decimals stays exact", 7, exprRule(cloudRule, "scale * 0.1 * 0.1 * 100.0 * 0.3"), ingest, cluster, 3},
		{"a true fraction still rounds up", 30, exprRule(cloudRule, "scale * 0.1 + 0.000001"), ingest, cluster, 4},
		{"clamped to max", 30, exprRule(func(r *Rule) { cloudRule(r); r.Max = ptr(40) }, "scale * 2.0"), ingest, cluster, 40},
		{"raised to min", 0, exprRule(func(r *Rule) { cloudRule(r); r.Min = 2 }, "scale * 2.0"), ingest, cluster, 2},
		{"max bounds a huge result", 1, exprRule(func(r *Rule) { cloudRule(r); r.Max = ptr(7) }, "1e300"), ingest, cluster, 7},
		{"a cluster rule sees the cluster site", 1, exprRule(cloudRule, `site.name == "" && size(site.labels) == 0 && size(site.capacity) == 0 ? site.weight * 3.0 : 100.0`), ingest, fastSite, 3},
		{"a cluster rule reads a cluster rule", 3, func(t *testing.T) []Rule {
			return []Rule{{Workload: ingest, PerScale: 2}, {Workload: broker, Expr: compile(t, `replicas["cloud/ingest"] + 1.0`)}}
		}, broker, cluster, 7},
		{"site labels", 1, exprRule(siteRule, `site.labels.?line.orValue("") == "fast" ? 4 : 1`), inference, fastSite, 4},
		{"site labels, another site", 1, exprRule(siteRule, `site.labels.?line.orValue("") == "fast" ? 4 : 1`), inference, slowSite, 1},
		{"site labels, a site without", 1, exprRule(siteRule, `"line" in site.labels && site.labels["line"] == "fast" ? 4 : 1`), inference, bareSite, 1},
		{"site name", 1, exprRule(siteRule, `site.name == "plant-b" ? 5 : 1`), inference, slowSite, 5},
		{"site capacity in cores", 1, exprRule(siteRule, `site.capacity["cpu"] / 2.0`), inference, fastSite, 3},
		{"site capacity in bytes", 1, exprRule(siteRule, `site.capacity["memory"] / 1073741824.0`), inference, fastSite, 8},
		{"site capacity, absent", 1, exprRule(siteRule, `site.capacity[?"nvidia.com/gpu"].orValue(0.0) + 1.0`), inference, fastSite, 1},
		{"a cluster rule's replicas by weight", 3, func(t *testing.T) []Rule {
			return []Rule{{Workload: ingest, PerScale: 2}, {Workload: inference, PerSite: true, Expr: compile(t,
				`site.labels["line"] == "fast" ? replicas["cloud/ingest"] * 0.5 * site.weight : 1.0`)}}
		}, inference, fastSite, 6},
		{"the weight is not applied for the expression", 3, func(t *testing.T) []Rule {
			return []Rule{{Workload: ingest, PerScale: 2}, {Workload: inference, PerSite: true, Expr: compile(t, `replicas["cloud/ingest"]`)}}
		}, inference, fastSite, 6},
		{"an optional read", 3, func(t *testing.T) []Rule {
			return []Rule{{Workload: ingest, PerScale: 2}, {Workload: broker, Expr: compile(t, `replicas[?"cloud/ingest"].orValue(0.0) + 1.0`)}}
		}, broker, cluster, 7},
		{"a site rule's replicas at the same site", 3, func(t *testing.T) []Rule {
			return []Rule{
				{Workload: ingest, PerScale: 2},
				{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 0.5},
				{Workload: gateway, PerSite: true, Expr: compile(t, `replicas["edge/inference"] / 3.0`)},
			}
		}, gateway, fastSite, 2}, // inference 6 at weight 2
		{"a link follows an expression at the site", 1, func(t *testing.T) []Rule {
			return []Rule{
				{Workload: inference, PerSite: true, Expr: compile(t, `site.capacity["cpu"] * 2.0`)},
				{Workload: gateway, PerSite: true, LinkedTo: &inference, Ratio: 0.5},
			}
		}, gateway, fastSite, 6},
		{"a rule read along two paths", 2, func(t *testing.T) []Rule {
			return []Rule{
				{Workload: inference, PerSite: true, Expr: compile(t, `site.weight * scale`)},
				{Workload: gateway, PerSite: true, LinkedTo: &inference, Ratio: 2},
				{Workload: Ref{Tier: "edge", Workload: "cache"}, PerSite: true, Expr: compile(t, `replicas["edge/inference"] + replicas["edge/gateway"]`)},
			}
		}, Ref{Tier: "edge", Workload: "cache"}, fastSite, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.scale, tt.rules(t))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got, err := m.Replicas(tt.w, tt.site)
			if err != nil || got != tt.want {
				t.Errorf("Replicas(%s, %s) = %d, %v; want %d", tt.w, tt.site.Name, got, err, tt.want)
			}
		})
	}
}

func cloudRule(r *Rule) { r.Workload = ingest }
func siteRule(r *Rule)  { r.Workload, r.PerSite = inference, true }

// exprRule returns one rule with the expression src, shaped by set.
func exprRule(set func(*Rule), src string) func(t *testing.T) []Rule {
	return func(t *testing.T) []Rule {
		r := Rule{Expr: compile(t, src)}
		set(&r)
		return []Rule{r}
	}
}

func TestNewLeavesRulesThatReadTheSiteToReplicas(t *testing.T) {
	// At the cluster site there is no label "line"; only a site has one.
	m, err := New(1, []Rule{{Workload: inference, PerSite: true, Expr: compile(t, `site.labels["line"] == "fast" ? 2 : 1`)}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if n, err := m.Replicas(inference, fastSite); n != 2 || err != nil {
		t.Errorf("Replicas at a fast site = %d, %v; want 2", n, err)
	}
	_, err = m.Replicas(inference, bareSite)
	var re *RuleError
	if !errors.As(err, &re) || re.Index != 0 || re.Field != "expr" || !strings.Contains(err.Error(), "no such key: line") {
		t.Errorf("Replicas at a site without the label: %v; want a failure of rule 0's expr", err)
	}
}

func TestCompileExprRejects(t *testing.T) {
	tests := []struct {
		name, src    string
		line, column int
		text         string
	}{
		{"empty", "  ", 1, 1, "expression is empty"},
		{"a syntax error", "scale *", 1, 8, "Syntax error"},
		{"an undeclared name", "scale *\n  sit", 2, 3, "undeclared reference to 'sit'"},
		{"an unknown field", "site.lables", 1, 5, "undefined field 'lables'"},
		{"a string", `"three"`, 1, 1, "expression gives a string; it must give a number"},
		{"a map", `site.labels`, 1, 5, "expression gives a map(string, string)"},
		{"mixed number types", `site.labels["line"] == "fast" ? replicas["cloud/ingest"] * 0.5 * site.weight : 1`, 1, 31,
			"found no matching overload for '_?_:_' applied to '(bool, double, int)'"},
		{"a non-constant key", `replicas["cloud/" + "ingest"]`, 1, 1, `replicas can only be read as replicas["tier/workload"], with a constant key`},
		{"a key from the site", `replicas[site.name]`, 1, 1, "with a constant key"},
		{"replicas as a whole", `double(size(replicas))`, 1, 13, "with a constant key"},
		{"replicas in a macro", `replicas.all(k, k != "") ? 1 : 0`, 1, 1, "with a constant key"},
		{"a key that is no workload", `replicas["ingest"]`, 1, 10, `replicas key "ingest" is not of the form tier/workload`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileExpr(tt.src)
			var ee *ExprError
			if !errors.As(err, &ee) {
				t.Fatalf("CompileExpr(%q) = %v; want an *ExprError", tt.src, err)
			}
			if ee.Line != tt.line || ee.Column != tt.column || !strings.Contains(ee.Msg, tt.text) {
				t.Errorf("CompileExpr(%q) = %v; want %d:%d: …%s…", tt.src, err, tt.line, tt.column, tt.text)
			}
		})
	}
}

func TestNewRejectsImpossibleExprRules(t *testing.T) {
	tests := []struct {
		name      string
		scale     float64
		rules     func(t *testing.T) []Rule
		wantIndex int
		wantField string
		wantText  string
	}{
		{"expr and perScale", 1, exprRule(func(r *Rule) { cloudRule(r); r.PerScale = 1 }, "1"), 0, "expr", "perScale and expr are mutually exclusive"},
		{"expr and linkedTo", 1, func(t *testing.T) []Rule {
			return []Rule{{Workload: broker, PerScale: 1}, {Workload: ingest, LinkedTo: &broker, Ratio: 1, Expr: compile(t, "1")}}
		}, 1, "expr", "linkedTo and expr are mutually exclusive"},
		{"expr and ratio", 1, exprRule(func(r *Rule) { cloudRule(r); r.Ratio = 2 }, "1"), 0, "ratio", "ratio needs linkedTo"},
		{"an unknown key", 1, exprRule(cloudRule, `replicas["cloud/nope"] * 2.0`), 0, "expr", "1:10: no replica rule for workload cloud/nope"},
		{"a cluster rule reads a site rule", 1, func(t *testing.T) []Rule {
			return []Rule{{Workload: inference, PerSite: true, PerScale: 1}, {Workload: ingest, Expr: compile(t, `replicas["edge/inference"]`)}}
		}, 1, "expr", "1:10: edge/inference is scaled per site; a cluster tier cannot read it"},
		{"an expression reads itself", 1, exprRule(cloudRule, `replicas["cloud/ingest"] + 1.0`), 0, "expr", "expr forms a cycle: cloud/ingest → cloud/ingest"},
		{"expr → linkedTo → expr", 1, func(t *testing.T) []Rule {
			return []Rule{
				{Workload: ingest, Expr: compile(t, `replicas["cloud/broker"] * 2.0`)},
				{Workload: broker, LinkedTo: &ingest, Ratio: 1},
			}
		}, 0, "expr", "expr forms a cycle: cloud/ingest → cloud/broker → cloud/ingest"},
		{"linkedTo → expr → linkedTo", 1, func(t *testing.T) []Rule {
			return []Rule{
				{Workload: broker, LinkedTo: &ingest, Ratio: 1},
				{Workload: ingest, Expr: compile(t, `replicas["cloud/broker"] * 2.0`)},
			}
		}, 0, "linkedTo", "linkedTo forms a cycle: cloud/broker → cloud/ingest → cloud/broker"},
		{"a double past an int32", 1, exprRule(cloudRule, "scale * 1e12"), 0, "expr",
			"too many replicas: cloud/ingest would get 1000000000000 replicas from its expr, more than the 2147483647 a workload can have; lower what expr gives or set max"},
		{"an int past an int32", 1, exprRule(cloudRule, "9223372036854775807"), 0, "expr", "would get 9223372036854775807 replicas"},
		{"an int just past an int32", 1, exprRule(cloudRule, "2147483648"), 0, "expr", "would get 2147483648 replicas"},
		{"NaN", 1, exprRule(cloudRule, "0.0 / 0.0"), 0, "expr", "expr of cloud/ingest gives NaN, not a replica count: a finite number ≥ 0"},
		{"infinity", 1, exprRule(cloudRule, "1.0 / 0.0"), 0, "expr", "gives +Inf, not a replica count"},
		{"a negative double", 1, exprRule(cloudRule, "scale - 2.5"), 0, "expr", "gives -1.5, not a replica count"},
		{"a negative int", 1, exprRule(cloudRule, "-3"), 0, "expr", "gives -3, not a replica count"},
		{"a dyn string", 1, exprRule(cloudRule, `dyn("3")`), 0, "expr", "expr of cloud/ingest gives a string; it must give a number"},
		{"an int division by zero", 1, exprRule(cloudRule, "int(scale) / 0"), 0, "expr", "expr of cloud/ingest failed: division by zero"},
		{"the cost limit", 1, exprRule(cloudRule, `double([1,2,3,4,5,6,7,8,9,10].map(a, [1,2,3,4,5,6,7,8,9,10].map(b, [1,2,3,4,5,6,7,8,9,10].map(c, [1,2,3,4,5,6,7,8,9,10].map(d, a+b+c+d)))).size())`),
			0, "expr", "expr of cloud/ingest stopped at the cost limit of 10000 (about one unit per operation)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.scale, tt.rules(t))
			if err == nil {
				t.Fatal("New succeeded; want an error")
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
			var re *RuleError
			if !errors.As(err, &re) || re.Index != tt.wantIndex || re.Field != tt.wantField {
				t.Errorf("error %#v does not point at rule %d field %s", re, tt.wantIndex, tt.wantField)
			}
		})
	}
}

func TestReplicasReportsAnExprThatFailsAtASite(t *testing.T) {
	tests := []struct {
		name, src string
		site      Site
		tooMany   bool
		text      string
	}{
		{"negative at one site", `site.weight > 1.0 ? -1.0 : 1.0`, fastSite, false, "expr of edge/inference gives -1, not a replica count"},
		{"NaN at one site", `site.weight > 1.0 ? 0.0 / 0.0 : 1.0`, fastSite, false, "gives NaN"},
		{"too many for one site", `site.weight * 2e9`, fastSite, true, "edge/inference would get 4000000000 replicas from its expr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(1, []Rule{{Workload: ingest, PerScale: 1}, {Workload: inference, PerSite: true, Expr: compile(t, tt.src)}})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if _, err := m.Replicas(inference, bareSite); err != nil {
				t.Fatalf("Replicas at a site where the expression is fine: %v", err)
			}
			_, err = m.Replicas(inference, tt.site)
			var re *RuleError
			if !errors.As(err, &re) || re.Index != 1 || re.Field != "expr" || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("Replicas = %v; want an error at rule 1 field expr containing %q", err, tt.text)
			}
			if errors.Is(err, ErrTooManyReplicas) != tt.tooMany {
				t.Errorf("errors.Is(%v, ErrTooManyReplicas) = %v; want %v", err, !tt.tooMany, tt.tooMany)
			}
		})
	}
}
