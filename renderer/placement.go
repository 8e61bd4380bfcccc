package renderer

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

// weight is the site's weight, or 1 for a cluster.
func (p placement) weight() float64 {
	if p.site == nil {
		return 1
	}
	return p.site.Spec.Weight
}

func (p placement) String() string {
	if p.site == nil {
		return "cluster " + p.cluster
	}
	return "site " + p.site.Name
}
