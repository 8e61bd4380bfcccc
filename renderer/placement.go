package renderer

import "github.com/tandem-gitops/tandem/renderer/scaling"

// placement is one place a tier is rendered to: a cluster named by the
// tier, or the cluster of a site the tier selects.
type placement struct {
	cluster string
	site    *Site // nil for a cluster named by the tier
}

// placements returns where tier runs, in cluster order for cluster tiers
// and site-name order for site tiers (sites are sorted by Load).
func placements(tier *Tier, sites []*Site) []placement {
	var out []placement
	for _, c := range tier.Targets.Clusters {
		out = append(out, placement{cluster: c})
	}
	for _, s := range sites {
		if tier.Selects(s) {
			out = append(out, placement{cluster: s.Spec.Cluster, site: s})
		}
	}
	return out
}

// wave is the rollout wave of sol that updates p.
func (p placement) wave(sol *Solution) int {
	if p.site == nil {
		return 0
	}
	return sol.Wave(p.site)
}

func (p placement) siteName() string {
	if p.site == nil {
		return ""
	}
	return p.site.Name
}

// scalingSite is what the replica rules of sol see of p: the site's name,
// labels and weight, and its capacity when an expression may read it; for
// a cluster, the value with weight 1 and nothing else.
func (p placement) scalingSite(sol *Solution) scaling.Site {
	if p.site == nil {
		return scaling.Site{Weight: 1}
	}
	s := scaling.Site{Name: p.site.Name, Labels: p.site.Labels, Weight: p.site.Spec.Weight}
	if len(p.site.Spec.Capacity) > 0 && sol.hasExpr() {
		s.Capacity = make(map[string]float64, len(p.site.Spec.Capacity))
		for name, q := range p.site.Spec.Capacity {
			s.Capacity[string(name)] = q.AsApproximateFloat64()
		}
	}
	return s
}

func (p placement) String() string {
	if p.site == nil {
		return "cluster " + p.cluster
	}
	return "site " + p.site.Name
}
