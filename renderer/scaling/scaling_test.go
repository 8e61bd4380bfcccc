package scaling

import (
	"errors"
	"strings"
	"testing"
)

func ptr(n int32) *int32 { return &n }

var (
	ingest    = Ref{Tier: "cloud", Workload: "ingest"}
	broker    = Ref{Tier: "cloud", Workload: "broker"}
	inference = Ref{Tier: "edge", Workload: "inference"}
	gateway   = Ref{Tier: "edge", Workload: "gateway"}
)

func TestReplicasFollowTheFormula(t *testing.T) {
	tests := []struct {
		name   string
		scale  float64
		rules  []Rule
		w      Ref
		weight float64
		want   int32
	}{
		{"cloud is scale times perScale", 3, []Rule{{Workload: ingest, PerScale: 2}}, ingest, 1, 6},
		{"cloud rounds up", 3, []Rule{{Workload: ingest, PerScale: 0.5}}, ingest, 1, 2},
		{"decimal products are exact", 30, []Rule{{Workload: ingest, PerScale: 0.1}}, ingest, 1, 3},
		{"cloud clamps to min", 1, []Rule{{Workload: ingest, PerScale: 2, Min: 3}}, ingest, 1, 3},
		{"cloud clamps to max", 30, []Rule{{Workload: ingest, PerScale: 2, Max: ptr(40)}}, ingest, 1, 40},
		{"scale 0 gives 0", 0, []Rule{{Workload: ingest, PerScale: 2}}, ingest, 1, 0},
		{"scale 0 still honours min", 0, []Rule{{Workload: ingest, PerScale: 2, Min: 1}}, ingest, 1, 1},
		{"edge follows cloud by ratio", 3, []Rule{
			{Workload: ingest, PerScale: 2},
			{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 0.5},
		}, inference, 1, 3},
		{"edge weight multiplies", 3, []Rule{
			{Workload: ingest, PerScale: 2},
			{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 0.5},
		}, inference, 2, 6},
		{"edge rounds up", 3, []Rule{
			{Workload: ingest, PerScale: 2},
			{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 0.25},
		}, inference, 1.5, 3}, // 6 × 0.25 × 1.5 = 2.25
		{"edge follows the clamped cloud value", 30, []Rule{
			{Workload: ingest, PerScale: 2, Max: ptr(40)},
			{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 0.5},
		}, inference, 1, 20}, // 40, not 60, × 0.5
		{"edge follows a cloud value raised to min", 0, []Rule{
			{Workload: ingest, PerScale: 2, Min: 2},
			{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 0.5},
		}, inference, 3, 3},
		{"edge clamps to its own max", 3, []Rule{
			{Workload: ingest, PerScale: 2},
			{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 1, Max: ptr(4)},
		}, inference, 2, 4},
		{"edge at scale 0 gives 0", 0, []Rule{
			{Workload: ingest, PerScale: 2},
			{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 0.5},
		}, inference, 2, 0},
		{"weight applies once along a chain of site rules", 3, []Rule{
			{Workload: ingest, PerScale: 2},
			{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 0.5},
			{Workload: gateway, PerSite: true, LinkedTo: &inference, Ratio: 0.5},
		}, gateway, 2, 3}, // inference 6, gateway 3
		{"cloud follows cloud", 3, []Rule{
			{Workload: ingest, PerScale: 2},
			{Workload: broker, LinkedTo: &ingest, Ratio: 0.5},
		}, broker, 7, 3}, // weight ignored for cluster tiers
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.scale, tt.rules)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got, err := m.Replicas(tt.w, Site{Weight: tt.weight})
			if err != nil || got != tt.want {
				t.Errorf("Replicas(%s, %v) = %d, %v; want %d", tt.w, tt.weight, got, err, tt.want)
			}
		})
	}
}

func TestReplicasReportsWorkloadsWithoutRule(t *testing.T) {
	m, err := New(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Replicas(ingest, cluster); err == nil {
		t.Error("Replicas of a workload without rule succeeded")
	}
}

func TestNewRejectsImpossibleRules(t *testing.T) {
	unknown := Ref{Tier: "cloud", Workload: "nope"}
	tests := []struct {
		name      string
		scale     float64
		rules     []Rule
		wantIndex int
		wantField string
		wantText  string
	}{
		{"negative scale", -1, nil, -1, "", "scale -1"},
		{"neither perScale nor linkedTo", 1, []Rule{{Workload: ingest}}, 0, "perScale", "one of perScale, linkedTo or expr"},
		{"both perScale and linkedTo", 1, []Rule{{Workload: broker, PerScale: 1}, {Workload: ingest, PerScale: 1, LinkedTo: &broker, Ratio: 1}}, 1, "perScale", "mutually exclusive"},
		{"negative perScale", 1, []Rule{{Workload: ingest, PerScale: -2}}, 0, "perScale", "must be > 0"},
		{"zero ratio", 1, []Rule{{Workload: broker, PerScale: 1}, {Workload: inference, PerSite: true, LinkedTo: &broker}}, 1, "ratio", "must be > 0"},
		{"negative ratio", 1, []Rule{{Workload: broker, PerScale: 1}, {Workload: inference, PerSite: true, LinkedTo: &broker, Ratio: -0.5}}, 1, "ratio", "must be > 0"},
		{"ratio without link", 1, []Rule{{Workload: ingest, PerScale: 1, Ratio: 2}}, 0, "ratio", "needs linkedTo"},
		{"negative min", 1, []Rule{{Workload: ingest, PerScale: 1, Min: -1}}, 0, "min", "≥ 0"},
		{"min above max", 1, []Rule{{Workload: ingest, PerScale: 1, Min: 5, Max: ptr(2)}}, 0, "max", "less than min"},
		{"duplicate workload", 1, []Rule{{Workload: ingest, PerScale: 1}, {Workload: ingest, PerScale: 2}}, 1, "workload", "already has"},
		{"unknown link", 1, []Rule{{Workload: inference, PerSite: true, LinkedTo: &unknown, Ratio: 1}}, 0, "linkedTo", "no replica rule for workload cloud/nope"},
		{"cluster follows site", 1, []Rule{{Workload: inference, PerSite: true, PerScale: 1}, {Workload: ingest, LinkedTo: &inference, Ratio: 1}}, 1, "linkedTo", "scaled per site"},
		{"more replicas than an int32 holds", 1e308, []Rule{{Workload: ingest, PerScale: 1}}, 0, "perScale",
			"too many replicas: cloud/ingest would get 1e+308 replicas (scale 1e+308 × perScale 1), more than the 2147483647 a workload can have; lower perScale or set max"},
		{"a product past an int32", 1e9, []Rule{{Workload: ingest, PerScale: 1e3}}, 0, "perScale", "cloud/ingest would get 1000000000000 replicas"},
		{"a link past an int32", 1e9, []Rule{{Workload: ingest, PerScale: 2}, {Workload: broker, LinkedTo: &ingest, Ratio: 2}}, 1, "ratio",
			"cloud/broker would get 4000000000 replicas (cloud/ingest 2000000000 × ratio 2)"},
		{"cycle", 1, []Rule{
			{Workload: ingest, LinkedTo: &broker, Ratio: 1},
			{Workload: broker, LinkedTo: &ingest, Ratio: 1},
		}, 0, "linkedTo", "cycle: cloud/ingest → cloud/broker → cloud/ingest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.scale, tt.rules)
			if err == nil {
				t.Fatal("New succeeded; want an error")
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
			if tt.wantIndex < 0 {
				return
			}
			var re *RuleError
			if !errors.As(err, &re) || re.Index != tt.wantIndex || re.Field != tt.wantField {
				t.Errorf("error %#v does not point at rule %d field %s", re, tt.wantIndex, tt.wantField)
			}
		})
	}
}

func TestNewBoundsHugeCountsByMax(t *testing.T) {
	m, err := New(1e308, []Rule{{Workload: ingest, PerScale: 1, Max: ptr(40)}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := m.Replicas(ingest, cluster); n != 40 || err != nil {
		t.Errorf("Replicas = %d, %v; want 40", n, err)
	}
}

func TestReplicasRefusesASiteWeightPastAnInt32(t *testing.T) {
	m, err := New(1, []Rule{{Workload: ingest, PerScale: 10}, {Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Replicas(inference, Site{Weight: 1e300})
	var re *RuleError
	if !errors.Is(err, ErrTooManyReplicas) || !errors.As(err, &re) || re.Index != 1 || re.Field != "ratio" {
		t.Fatalf("Replicas error = %v; want ErrTooManyReplicas at rule 1 field ratio", err)
	}
	want := "edge/inference would get 1e+301 replicas (cloud/ingest 10 × ratio 1 × site weight 1e+300)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestParseRef(t *testing.T) {
	for _, s := range []string{"", "cloud", "/ingest", "cloud/", "a/b/c"} {
		if _, err := ParseRef(s); err == nil {
			t.Errorf("ParseRef(%q) succeeded", s)
		}
	}
	if r, err := ParseRef("cloud/ingest"); err != nil || r != ingest {
		t.Errorf("ParseRef(cloud/ingest) = %v, %v", r, err)
	}
}
