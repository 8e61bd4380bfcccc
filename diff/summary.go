package diff

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/tandem-gitops/tandem/renderer"
)

// Group is a set of places where one tier changes in exactly the same way:
// the line of a summary that keeps a change to a thousand sites readable.
type Group struct {
	Solution string `json:"solution"`
	Tier     string `json:"tier"`
	// Sites are the sites of a tier rendered per site; Clusters the
	// clusters of a tier that targets clusters by name.
	Sites    []string `json:"sites,omitempty"`
	Clusters []string `json:"clusters,omitempty"`
	// Action is Added where the tier is new, Removed where the head
	// revision no longer deploys it, and Changed elsewhere.
	Action Action `json:"action"`
	// Effects say what happens to each object at every one of the places.
	Effects []Effect `json:"effects"`
}

// Places returns the group's sites, or its clusters.
func (g *Group) Places() []string {
	if len(g.Sites) > 0 {
		return g.Sites
	}
	return g.Clusters
}

// Effect is what a change does to one object, wherever it is.
type Effect struct {
	Action     Action      `json:"action"`
	Group      string      `json:"group,omitempty"`
	Kind       string      `json:"kind"`
	Namespace  string      `json:"namespace,omitempty"`
	Name       string      `json:"name"`
	Highlights []Highlight `json:"highlights,omitempty"`
	Other      bool        `json:"other,omitempty"`
}

// target identifies one tier rendered for one place.
type target struct {
	solution, tier, cluster, site string
}

func targetsOf(res *renderer.Result) map[target]bool {
	m := map[target]bool{}
	if res != nil {
		for _, t := range res.Targets {
			m[target{t.Solution, t.Tier, t.Cluster, t.Site}] = true
		}
	}
	return m
}

// summarize groups the places of each tier by what changes there, the same
// changes forming one group however many places share them. before and
// after are the places each tier is at on either side, which tell a tier
// added or removed from one that changes; rank orders the tiers.
func summarize(changes []Change, before, after map[target]bool, rank map[string]int) []Group {
	effects := map[target][]Effect{}
	var order []target
	for _, c := range changes {
		t := target{c.Solution, c.Tier, c.Cluster, c.Site}
		if _, ok := effects[t]; !ok {
			order = append(order, t)
		}
		effects[t] = append(effects[t], Effect{
			Action: c.Action, Group: c.Group, Kind: c.Kind, Namespace: c.Namespace, Name: c.Name,
			Highlights: c.Highlights, Other: c.Other,
		})
	}
	type groupKey struct{ solution, tier, signature string }
	groups := map[groupKey]*Group{}
	var keys []groupKey
	for _, t := range order {
		action := Changed
		switch {
		case !before[t]:
			action = Added
		case !after[t]:
			action = Removed
		}
		k := groupKey{t.solution, t.tier, signature(action, effects[t])}
		g, ok := groups[k]
		if !ok {
			g = &Group{Solution: t.solution, Tier: t.tier, Action: action, Effects: effects[t]}
			groups[k] = g
			keys = append(keys, k)
		}
		if t.site != "" {
			g.Sites = append(g.Sites, t.site)
		} else {
			g.Clusters = append(g.Clusters, t.cluster)
		}
	}
	out := make([]Group, 0, len(keys))
	for _, k := range keys {
		g := groups[k]
		slices.Sort(g.Sites)
		slices.Sort(g.Clusters)
		out = append(out, *g)
	}
	slices.SortStableFunc(out, func(a, b Group) int {
		return cmp.Or(
			cmp.Compare(a.Solution, b.Solution),
			cmp.Compare(rank[a.Solution+"/"+a.Tier], rank[b.Solution+"/"+b.Tier]),
			cmp.Compare(a.Tier, b.Tier),
			cmp.Compare(len(b.Places()), len(a.Places())),
			cmp.Compare(a.Places()[0], b.Places()[0]),
		)
	})
	return out
}

// signature identifies what changes at a place, so that places that change
// alike compare equal.
func signature(action Action, effects []Effect) string {
	var b strings.Builder
	b.WriteString(string(action))
	for _, e := range effects {
		fmt.Fprintf(&b, "\x00%s\x01%s\x01%s\x01%s\x01%s\x01%t", e.Action, e.Group, e.Kind, e.Namespace, e.Name, e.Other)
		for _, h := range e.Highlights {
			fmt.Fprintf(&b, "\x01%s\x02%s\x02%s\x02%s", h.Field, h.Name, h.From, h.To)
		}
	}
	return b.String()
}

// tierRanks orders tiers as their solutions declare them, the first
// result's order first: the order a reader of the descriptors expects.
func tierRanks(results ...*renderer.Result) map[string]int {
	rank := map[string]int{}
	for _, res := range results {
		for _, s := range solutions(res) {
			for _, t := range s.Spec.Tiers {
				if _, ok := rank[s.Name+"/"+t.Name]; !ok {
					rank[s.Name+"/"+t.Name] = len(rank)
				}
			}
		}
	}
	return rank
}
