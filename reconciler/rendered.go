package reconciler

import (
	"github.com/tandem-gitops/tandem/renderer"
)

// TargetsFor groups a rendered revision by cluster: what every cluster of the
// render should run, each tier set stamped with revision.
func TargetsFor(res *renderer.Result, revision string) []Target {
	allowEmpty := make(map[string]bool, len(res.Solutions))
	for _, s := range res.Solutions {
		allowEmpty[s.Name] = s.Spec.AllowEmpty
	}
	var targets []Target
	for _, t := range res.Targets {
		// res.Targets is sorted by cluster, so a cluster's tiers are adjacent.
		if n := len(targets); n == 0 || targets[n-1].Cluster != t.Cluster {
			targets = append(targets, Target{Cluster: t.Cluster})
		}
		last := &targets[len(targets)-1]
		last.Tiers = append(last.Tiers, TierSet{
			Solution:   t.Solution,
			Tier:       t.Tier,
			Revision:   revision,
			DependsOn:  t.DependsOn,
			Objects:    t.Objects,
			AllowEmpty: allowEmpty[t.Solution],
		})
	}
	return targets
}
