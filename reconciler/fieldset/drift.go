package fieldset

import (
	"bytes"
	"slices"

	"github.com/fluxcd/pkg/ssa"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Drift is what other field managers added to an object a tier applies:
// fields the render does not set, which server-side apply leaves alone
// because they are not tandem's. A pass removes them, unless the tier says
// drift: report.
type Drift struct {
	// Subject names the object, as Ignored and Adopted do.
	Subject string `json:"object"`
	// Fields are the fields added, outermost first: for a container
	// added by hand, the container, not each of its fields.
	Fields []AddedField `json:"fields"`
	// Corrected is whether the pass removes them; false for a tier that
	// only reports drift.
	Corrected bool `json:"corrected"`

	paths []fieldpath.Path // Fields', to remove them from a plan
}

// AddedField is one field another manager added.
type AddedField struct {
	// Path is the field in structured-merge-diff's notation, e.g.
	// .spec.template.spec.containers[name="sidecar"] or .data.extra.
	Path string `json:"path"`
	// Manager is the field manager that set it (kubectl-patch,
	// kubectl-edit, kubectl-client-side-apply, …).
	Manager string `json:"manager"`
}

// ExemptManagers are the field managers whose fields are never drift:
// Kubernetes' own components, which annotate and bind the objects they act
// on (a Deployment's revision annotation, a claim's binding). Fields
// written through a subresource (status, scale) are never drift either.
var ExemptManagers = []string{
	"kube-apiserver",
	"kube-controller-manager",
	"kube-scheduler",
	"kubelet",
	"cloud-controller-manager",
}

// Added returns what managers other than manager, and not exempt,
// own in live that desired does not set, each field outermost. A field
// desired sets but someone else changed is not added: InSync sees it leave
// manager's field set. Nor is a map or list that holds a field tandem or an
// exempt manager owns: its other fields are reported instead.
// It also returns the managedFields entries that hold them, for ssa's
// cleanup to hand to tandem's manager before the apply drops them.
func Added(desired, live *unstructured.Unstructured, manager string) (Drift, []ssa.FieldManager) {
	var out Drift
	var managers []ssa.FieldManager
	var kept *fieldpath.Set
	for _, mf := range live.GetManagedFields() {
		if !drifts(mf, manager) {
			continue
		}
		theirs, err := decodeFields(mf.FieldsV1)
		if err != nil {
			continue
		}
		if kept == nil {
			kept = keptFields(live, manager)
		}
		diff := theirs.Difference(kept)
		clean := func(p fieldpath.Path) bool {
			return diff.Has(p) && !inObject(desired.Object, p) && inObject(live.Object, p) && !holds(kept, p)
		}
		found := false
		for p := range diff.All() {
			if !clean(p) || slices.ContainsFunc(prefixes(p), clean) {
				continue
			}
			found = true
			out.paths = append(out.paths, p)
			out.Fields = append(out.Fields, AddedField{Path: p.String(), Manager: mf.Manager})
		}
		if found {
			managers = append(managers, ssa.FieldManager{Name: mf.Manager, ExactMatch: true, OperationType: mf.Operation})
		}
	}
	return out, managers
}

// drifts reports whether the fields of a managedFields entry count as drift.
func drifts(mf metav1.ManagedFieldsEntry, manager string) bool {
	return mf.Manager != manager && mf.Subresource == "" && mf.FieldsV1 != nil && !slices.Contains(ExemptManagers, mf.Manager)
}

// keptFields is the union of what manager and the exempt managers own in
// obj: the fields drift never removes.
func keptFields(obj *unstructured.Unstructured, manager string) *fieldpath.Set {
	kept := fieldpath.NewSet()
	for _, mf := range obj.GetManagedFields() {
		if mf.FieldsV1 == nil || mf.Subresource != "" || drifts(mf, manager) {
			continue
		}
		if s, err := decodeFields(mf.FieldsV1); err == nil {
			kept = kept.Union(s)
		}
	}
	return kept
}

// holds reports whether s has a path inside p.
func holds(s *fieldpath.Set, p fieldpath.Path) bool {
	for q := range s.All() {
		if len(q) > len(p) && q[:len(p)].Equals(p) {
			return true
		}
	}
	return false
}

// prefixes returns the paths p extends.
func prefixes(p fieldpath.Path) []fieldpath.Path {
	out := make([]fieldpath.Path, 0, len(p))
	for i := 1; i < len(p); i++ {
		out = append(out, p[:i])
	}
	return out
}

func decodeFields(f *metav1.FieldsV1) (*fieldpath.Set, error) {
	s := fieldpath.NewSet()
	return s, s.FromJSON(bytes.NewReader(f.Raw))
}

// inObject reports whether obj has a value at p.
func inObject(obj map[string]any, p fieldpath.Path) bool {
	_, ok := lookup(obj, p)
	return ok
}

// lookup walks p through a decoded JSON object.
func lookup(v any, p fieldpath.Path) (any, bool) {
	for _, pe := range p {
		next, ok := child(v, pe)
		if !ok {
			return nil, false
		}
		v = next
	}
	return v, true
}

// child returns the value pe selects in v, a map or a list.
func child(v any, pe fieldpath.PathElement) (any, bool) {
	if m, ok := v.(map[string]any); ok && pe.FieldName != nil {
		c, ok := m[*pe.FieldName]
		return c, ok
	}
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	i := indexIn(list, pe)
	if i < 0 {
		return nil, false
	}
	return list[i], true
}

// indexIn returns the index of the list item pe selects, or -1.
func indexIn(list []any, pe fieldpath.PathElement) int {
	switch {
	case pe.Index != nil:
		if *pe.Index < len(list) {
			return *pe.Index
		}
	case pe.Value != nil:
		want := (*pe.Value).Unstructured()
		return slices.IndexFunc(list, func(item any) bool { return equalJSON(item, want) })
	case pe.Key != nil:
		return slices.IndexFunc(list, func(item any) bool {
			m, ok := item.(map[string]any)
			if !ok {
				return false
			}
			for _, f := range *pe.Key {
				if !equalJSON(m[f.Name], f.Value.Unstructured()) {
					return false
				}
			}
			return true
		})
	}
	return -1
}

// Remove returns a copy of obj without the fields d found added: the
// object as a pass that corrects the drift leaves it.
func (d Drift) Remove(obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := obj.DeepCopy()
	for _, p := range d.paths {
		if len(p) == 0 {
			continue
		}
		parent, ok := lookup(out.Object, p[:len(p)-1])
		if !ok {
			continue
		}
		last := p[len(p)-1]
		if m, ok := parent.(map[string]any); ok && last.FieldName != nil {
			delete(m, *last.FieldName)
			continue
		}
		list, ok := parent.([]any)
		if !ok {
			continue
		}
		if i := indexIn(list, last); i >= 0 {
			setIn(out.Object, p[:len(p)-1], slices.Delete(list, i, i+1))
		}
	}
	return out
}

// setIn replaces the value at p, which exists, with v.
func setIn(obj map[string]any, p fieldpath.Path, v any) {
	parent, _ := lookup(obj, p[:len(p)-1])
	last := p[len(p)-1]
	switch c := parent.(type) {
	case map[string]any:
		if last.FieldName != nil {
			c[*last.FieldName] = v
		}
	case []any:
		if i := indexIn(c, last); i >= 0 {
			c[i] = v
		}
	}
}
