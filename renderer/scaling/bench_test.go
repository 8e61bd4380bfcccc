package scaling

import "testing"

// BenchmarkReplicasAtASite measures one site's count by a linked rule and
// by an expression that computes the same count from the site's data.
func BenchmarkReplicasAtASite(b *testing.B) {
	site := Site{Name: "plant-a", Labels: map[string]string{"line": "fast"}, Weight: 2, Capacity: map[string]float64{"cpu": 8}}
	for _, bb := range []struct {
		name string
		rule Rule
	}{
		{"linkedTo", Rule{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 0.5}},
		{"expr", Rule{Workload: inference, PerSite: true, Expr: compile(b, `site.labels.?line.orValue("") == "fast" ? replicas["cloud/ingest"] * 0.5 * site.weight : 1.0`)}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			m, err := New(3, []Rule{{Workload: ingest, PerScale: 2}, bb.rule})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if n, err := m.Replicas(inference, site); n != 6 || err != nil {
					b.Fatalf("Replicas = %d, %v; want 6", n, err)
				}
			}
		})
	}
}
