package scaling_test

import (
	"fmt"

	"github.com/tandem-gitops/tandem/renderer/scaling"
)

func Example() {
	ingest := scaling.Ref{Tier: "cloud", Workload: "ingest"}
	inference := scaling.Ref{Tier: "edge", Workload: "inference"}
	maxIngest := int32(40)
	rules := []scaling.Rule{
		{Workload: ingest, PerScale: 2, Min: 2, Max: &maxIngest},
		{Workload: inference, PerSite: true, LinkedTo: &ingest, Ratio: 0.5},
	}
	for _, scale := range []float64{3, 30} {
		m, err := scaling.New(scale, rules)
		if err != nil {
			fmt.Println(err)
			return
		}
		cloud, _ := m.Replicas(ingest, scaling.Site{Weight: 1})
		small, _ := m.Replicas(inference, scaling.Site{Weight: 0.5})
		large, _ := m.Replicas(inference, scaling.Site{Weight: 2})
		fmt.Printf("scale %v: ingest %d, inference %d at weight 0.5, %d at weight 2\n", scale, cloud, small, large)
	}
	// Output:
	// scale 3: ingest 6, inference 2 at weight 0.5, 6 at weight 2
	// scale 30: ingest 40, inference 10 at weight 0.5, 40 at weight 2
}

// An expression computes replicas from the scale, the site and other
// rules' replicas: here edge sites on a fast line get half of ingest per
// unit of weight, and every other site one.
func Example_expr() {
	ingest := scaling.Ref{Tier: "cloud", Workload: "ingest"}
	inference := scaling.Ref{Tier: "edge", Workload: "inference"}
	expr, err := scaling.CompileExpr(`site.labels.?line.orValue("") == "fast" ? replicas["cloud/ingest"] * 0.5 * site.weight : 1.0`)
	if err != nil {
		fmt.Println(err)
		return
	}
	maxInference := int32(8)
	m, err := scaling.New(3, []scaling.Rule{
		{Workload: ingest, PerScale: 2},
		{Workload: inference, PerSite: true, Expr: expr, Max: &maxInference},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, site := range []scaling.Site{
		{Name: "plant-a", Labels: map[string]string{"line": "fast"}, Weight: 2},
		{Name: "plant-b", Labels: map[string]string{"line": "fast"}, Weight: 0.5},
		{Name: "plant-c", Labels: map[string]string{"line": "fast"}, Weight: 4},
		{Name: "plant-d", Weight: 2},
	} {
		n, err := m.Replicas(inference, site)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: inference %d\n", site.Name, n)
	}
	// Output:
	// plant-a: inference 6
	// plant-b: inference 2
	// plant-c: inference 8
	// plant-d: inference 1
}
