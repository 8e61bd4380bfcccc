package renderer

import (
	"fmt"
	"io/fs"
	"path"
	"slices"

	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// checkKustomizeReplicas warns about each entry of the replicas field of
// the i-th tier's kustomization that one of the tier's replica rules
// overrides: kustomize sets those replicas, then the rule sets its own.
func (r *run) checkKustomizeReplicas(sol *Solution, i int, base resmap.ResMap) {
	tier := &sol.Spec.Tiers[i]
	file := path.Join(tier.dir, kustomizationIn(r.stat, tier.dir))
	entries := kustomizeReplicas(r.kfs.fsys, file)
	for j, rule := range tier.Replicas {
		for k, e := range entries {
			if e.names(base, rule.Workload) {
				field := fmt.Sprintf("replicas[%d]", k)
				r.warn(file, positions{field: e.line}, field, "kustomize sets %s to %s replicas, which %s spec.tiers[%d].replicas[%d] overrides",
					e.name, e.count, sol.File, i, j)
			}
		}
	}
}

// replicaEntry is one entry of a kustomization's replicas field.
type replicaEntry struct {
	name, count string
	line        int
}

// names reports whether e sets the replicas of the workload of base
// named workload: by that name or, when nothing in base has the entry's
// name, by its name before a rename.
func (e replicaEntry) names(base resmap.ResMap, workload string) bool {
	if e.name == workload {
		return true
	}
	return renamed(workload, e.name) && !slices.ContainsFunc(base.Resources(), func(res *resource.Resource) bool { return res.GetName() == e.name })
}

// kustomizeReplicas returns the replicas field of the kustomization file,
// or nothing when it cannot be read: the build that read it succeeded.
func kustomizeReplicas(fsys fs.FS, file string) []replicaEntry {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil
	}
	node, err := kyaml.Parse(string(data))
	if err != nil {
		return nil
	}
	list, err := node.Pipe(kyaml.Lookup("replicas"))
	if err != nil || list == nil {
		return nil
	}
	items, err := list.Elements()
	if err != nil {
		return nil
	}
	var out []replicaEntry
	for _, item := range items {
		name, _ := item.GetString("name")
		count := item.Field("count")
		if name == "" || count == nil {
			continue
		}
		out = append(out, replicaEntry{name: name, count: count.Value.YNode().Value, line: item.YNode().Line})
	}
	return out
}
