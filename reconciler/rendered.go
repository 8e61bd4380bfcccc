package reconciler

import (
	"slices"

	"github.com/tandem-gitops/tandem/renderer"
)

// TargetsFor groups a rendered revision by cluster: what every cluster of the
// render should run, each tier set stamped with revision.
func TargetsFor(res *renderer.Result, revision string) []Target {
	allowEmpty := AllowEmpty(res)
	var targets []Target
	for _, t := range res.Targets {
		// res.Targets is sorted by cluster, so a cluster's tiers are adjacent.
		if n := len(targets); n == 0 || targets[n-1].Cluster != t.Cluster {
			targets = append(targets, Target{Cluster: t.Cluster, AllowEmpty: allowEmpty})
		}
		last := &targets[len(targets)-1]
		ts := TierSet{
			Solution:    t.Solution,
			Tier:        t.Tier,
			Revision:    revision,
			DependsOn:   t.DependsOn,
			Objects:     t.Objects,
			NoWait:      !t.Health.Waits(),
			Adopt:       t.Adopt,
			ReportDrift: t.Drift == renderer.DriftReport,
		}
		if t.Health.Timeout != nil {
			ts.HealthTimeout = t.Health.Timeout.Duration
		}
		last.Tiers = append(last.Tiers, ts)
	}
	return targets
}

// AllowEmpty returns the solutions of a render that allow an empty render
// (spec.allowEmpty), sorted, as Target.AllowEmpty takes them.
func AllowEmpty(res *renderer.Result) []string {
	var names []string
	for _, s := range res.Solutions {
		if s.Spec.AllowEmpty {
			names = append(names, s.Name)
		}
	}
	slices.Sort(names)
	return names
}
