package diff

import "strings"

// section is the detail of one or more clusters whose changes are
// identical, down to the text of their diffs: on a large fleet most sites
// change alike, and one copy of a diff says as much as a thousand.
type section struct {
	clusters []string
	// changes are the first cluster's; the others' differ only by cluster.
	changes []Change
}

// sections groups r's changes by cluster, and clusters by identical
// changes, in the order of each group's first cluster.
func sections(r *Report) []section {
	var out []section
	byKey := map[string]int{}
	for i := 0; i < len(r.Changes); {
		j := i + 1
		for j < len(r.Changes) && r.Changes[j].Cluster == r.Changes[i].Cluster {
			j++
		}
		changes := r.Changes[i:j]
		k := sectionKey(changes)
		if n, ok := byKey[k]; ok {
			out[n].clusters = append(out[n].clusters, changes[0].Cluster)
		} else {
			byKey[k] = len(out)
			out = append(out, section{clusters: []string{changes[0].Cluster}, changes: changes})
		}
		i = j
	}
	return out
}

func sectionKey(changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		for _, s := range []string{string(c.Action), c.Solution, c.Tier, c.Group, c.Kind, c.Namespace, c.Name, c.Diff} {
			b.WriteString(s)
			b.WriteByte(0)
		}
	}
	return b.String()
}
