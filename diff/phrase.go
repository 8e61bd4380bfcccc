package diff

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The words every format uses, so that text and Markdown say the same thing.

// maxNamedPlaces is how many places a summary line names before it only
// counts the rest.
const maxNamedPlaces = 3

// tierName names a group's tier, with its solution when the report spans
// more than one.
func tierName(g *Group, withSolution bool) string {
	if withSolution {
		return g.Solution + "/" + g.Tier
	}
	return g.Tier
}

// placesLabel says where a group is: "site plant-a", or "120 sites
// (site-0001, site-0002, site-0003 and 117 more)". quote formats each name.
func placesLabel(g *Group, quote func(string) string) string {
	noun, places := "site", g.Sites
	if len(places) == 0 {
		noun, places = "cluster", g.Clusters
	}
	if len(places) == 1 {
		return noun + " " + quote(places[0])
	}
	return fmt.Sprintf("%d %ss (%s)", len(places), noun, namesLabel(places, quote))
}

// namesLabel lists the first few names and counts the rest: "site-0001,
// site-0002, site-0003 and 117 more".
func namesLabel(names []string, quote func(string) string) string {
	named := make([]string, 0, maxNamedPlaces)
	for _, n := range names[:min(len(names), maxNamedPlaces)] {
		named = append(named, quote(n))
	}
	s := strings.Join(named, ", ")
	if more := len(names) - len(named); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// Lines says what the group changes, one line per fact, as the text and
// Markdown reports print them.
func (g *Group) Lines() []string {
	switch g.Action {
	case Added:
		return []string{fmt.Sprintf("tier added (%s)", objects(len(g.Effects)))}
	case Removed:
		return []string{fmt.Sprintf("tier removed (%s)", objects(len(g.Effects)))}
	}
	var out []string
	for _, e := range g.Effects {
		switch e.Action {
		case Added, Removed, Orphaned:
			out = append(out, fmt.Sprintf("%s %s %s", e.Kind, e.Name, e.Action))
			continue
		case Drifted:
			out = append(out, fmt.Sprintf("%s %s drifted: fields added on the cluster stay (drift: report)", e.Kind, e.Name))
			continue
		}
		for _, h := range e.Highlights {
			out = append(out, e.Name+" "+h.String())
		}
		switch {
		case e.Other && len(e.Highlights) > 0:
			out = append(out, fmt.Sprintf("%s %s: other fields changed", e.Kind, e.Name))
		case e.Other:
			out = append(out, fmt.Sprintf("%s %s changed", e.Kind, e.Name))
		}
	}
	return out
}

// String says what changed, as in "replicas 3 → 5", "model defect-detector
// 1.4.0 → 1.5.0" or "image ghcr.io/acme/app 1.0 → 1.1".
func (h Highlight) String() string {
	switch h.Field {
	case Image:
		from, to := h.From, h.To
		if repo, fromTag := splitImage(from); repo != "" {
			if repo2, toTag := splitImage(to); repo2 == repo {
				return fmt.Sprintf("image %s %s → %s", repo, fromTag, toTag)
			}
		}
		return fmt.Sprintf("image %s → %s", orNone(from), orNone(to))
	case Model:
		return fmt.Sprintf("model %s %s → %s", h.Name, orNone(h.From), orNone(h.To))
	}
	return fmt.Sprintf("%s %s → %s", h.Field, orNone(h.From), orNone(h.To))
}

// splitImage splits an image reference into its repository and its tag or
// digest; the repository is empty when the reference has neither.
func splitImage(ref string) (repo, version string) {
	if i := strings.LastIndex(ref, "@"); i > 0 {
		return ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return "", ref
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

func objects(n int) string {
	if n == 1 {
		return "1 object"
	}
	return strconv.Itoa(n) + " objects"
}

// countsLine says how many objects a set of changes adds, changes and
// removes: "2 objects added, 6 changed, 1 removed".
func countsLine(added, removed, changed int) string {
	var parts []string
	for _, p := range []struct {
		n    int
		verb string
	}{{added, "added"}, {changed, "changed"}, {removed, "removed"}} {
		switch {
		case p.n == 0:
		case len(parts) == 0:
			parts = append(parts, objects(p.n)+" "+p.verb)
		default:
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.verb))
		}
	}
	return strings.Join(parts, ", ")
}

// headline says how many clusters change and how, and how many could not
// be compared.
func headline(r *Report) string {
	s := changesLine(r)
	if n := len(failedClusters(r)); n > 0 {
		s += fmt.Sprintf(" %d of %d clusters could not be compared.", n, r.Clusters)
	}
	return s
}

func changesLine(r *Report) string {
	if r.Empty() {
		return "No changes."
	}
	a, rm, c := r.Count()
	changed := map[string]bool{}
	for _, ch := range r.Changes {
		changed[ch.Cluster] = true
	}
	return fmt.Sprintf("%d of %d clusters change: %s.", len(changed), r.Clusters, countsLine(a, rm, c))
}

// symbol marks a change's action in a list of changes.
func (a Action) symbol() string {
	switch a {
	case Added:
		return "+"
	case Removed:
		return "-"
	}
	return "~"
}

// multiSolution reports whether the report's summary spans solutions.
func multiSolution(r *Report) bool {
	for _, g := range r.Summary {
		if g.Solution != r.Summary[0].Solution {
			return true
		}
	}
	return false
}

// scaleLine says how a solution's scale factor changes.
func scaleLine(s ScaleChange) string {
	return fmt.Sprintf("%s scale %s → %s", s.Solution,
		strconv.FormatFloat(s.From, 'f', -1, 64), strconv.FormatFloat(s.To, 'f', -1, 64))
}

// failedClusters returns the clusters with a failure, in the order of the
// failures.
func failedClusters(r *Report) []string {
	var out []string
	for _, f := range r.Failures {
		if !slices.Contains(out, f.Cluster) {
			out = append(out, f.Cluster)
		}
	}
	return out
}
