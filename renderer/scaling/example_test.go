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
