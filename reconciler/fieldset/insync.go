package fieldset

import (
	"bytes"
	"encoding/json"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// InSync reports whether applying desired would leave live as it is: the
// field manager owns, through server-side apply, exactly the fields desired
// sets, and each holds desired's value in live.
//
// It is what keeps a pass over an unchanged site down to one list per
// group-kind: a field someone else changed (kubectl scale, kubectl edit)
// leaves the manager's field set, so drift always shows. It errs on the side
// of "no": whatever it cannot prove equal (a quantity written "1000m" that
// the server stores as "1", a defaulted list key) goes through ssa's dry-run
// apply, which settles it.
func InSync(desired, live *unstructured.Unstructured, manager string) bool {
	owned := ownedFields(live, manager, desired.GetAPIVersion())
	if owned == nil {
		return false
	}
	return sameFields(comparable(desired), live.Object, owned)
}

// ownedFields returns the field set the manager applied to obj, decoded
// from its FieldsV1 JSON, or nil when the manager applied nothing at that
// API version.
func ownedFields(obj *unstructured.Unstructured, manager, apiVersion string) map[string]any {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.Subresource != "" {
			continue
		}
		if mf.APIVersion != apiVersion || mf.FieldsV1 == nil {
			return nil
		}
		var fields map[string]any
		if err := json.Unmarshal(mf.FieldsV1.Raw, &fields); err != nil {
			return nil
		}
		return fields
	}
	return nil
}

// comparable returns the part of desired that managed fields describe:
// without the identity (apiVersion, kind, name, namespace), which field sets
// leave out, and without status, which apply never sets.
func comparable(desired *unstructured.Unstructured) map[string]any {
	obj := desired.DeepCopy().Object
	delete(obj, "apiVersion")
	delete(obj, "kind")
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "name")
		delete(md, "namespace")
	}
	return obj
}

// sameFields compares a desired map with a live value under the owned
// field-set node of that map.
func sameFields(desired map[string]any, live any, owned map[string]any) bool {
	liveMap, ok := live.(map[string]any)
	if !ok {
		return false
	}
	fields := 0
	for k, dv := range desired {
		if dv == nil {
			// An explicit null applies nothing.
			continue
		}
		node, ok := owned["f:"+k].(map[string]any)
		if !ok {
			return false
		}
		lv, ok := liveMap[k]
		if !ok || !sameValue(dv, lv, node) {
			return false
		}
		fields++
	}
	// A field the manager still owns but desired no longer sets would be
	// released, and maybe removed, by the next apply.
	owns := 0
	for key := range owned {
		switch {
		case key == ".":
		case strings.HasPrefix(key, "f:"):
			owns++
		default:
			return false
		}
	}
	return owns == fields
}

func sameValue(desired, live any, owned map[string]any) bool {
	if isLeaf(owned) {
		// A scalar, or a map or list applied as a whole (an atomic
		// selector, a list of args).
		return equalJSON(desired, live)
	}
	switch d := desired.(type) {
	case map[string]any:
		return sameFields(d, live, owned)
	case []any:
		l, ok := live.([]any)
		return ok && sameList(d, l, owned)
	default:
		return false
	}
}

// isLeaf reports whether a field-set node has no children.
func isLeaf(node map[string]any) bool {
	for key := range node {
		if key != "." {
			return false
		}
	}
	return true
}

// sameList compares a desired list with a live list under the owned node of
// an associative list (children "k:{…}") or a set (children "v:…").
func sameList(desired, live []any, owned map[string]any) bool {
	var keyed, valued int
	for key := range owned {
		switch {
		case key == ".":
		case strings.HasPrefix(key, "k:"):
			keyed++
		case strings.HasPrefix(key, "v:"):
			valued++
		default:
			return false
		}
	}
	switch {
	case keyed > 0 && valued == 0:
		return sameAssociativeList(desired, live, owned, keyed)
	case valued > 0 && keyed == 0:
		return sameSet(desired, live, owned, valued)
	default:
		return false
	}
}

// sameAssociativeList matches each desired item to the one owned key it
// agrees with (key fields it leaves out were defaulted by the server), and
// each key to the live item it names, in the same order as desired.
func sameAssociativeList(desired, live []any, owned map[string]any, keys int) bool {
	if len(desired) != keys {
		return false
	}
	used := make(map[string]bool, keys)
	next := 0
	for _, item := range desired {
		d, ok := item.(map[string]any)
		if !ok {
			return false
		}
		key, fields := matchKey(d, owned)
		if key == "" || used[key] {
			return false
		}
		used[key] = true
		at := indexOfKey(live, fields, next)
		if at < 0 {
			return false
		}
		next = at + 1
		node, _ := owned[key].(map[string]any)
		if !sameFields(d, live[at], node) {
			return false
		}
	}
	return true
}

// matchKey returns the only owned "k:" key whose fields the item agrees
// with, and those fields.
func matchKey(item map[string]any, owned map[string]any) (string, map[string]any) {
	var found string
	var foundFields map[string]any
	for key := range owned {
		raw, ok := strings.CutPrefix(key, "k:")
		if !ok {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(raw), &fields); err != nil {
			return "", nil
		}
		agrees := true
		for f, v := range fields {
			if dv, set := item[f]; set && !equalJSON(dv, v) {
				agrees = false
				break
			}
		}
		if !agrees {
			continue
		}
		if found != "" {
			return "", nil
		}
		found, foundFields = key, fields
	}
	return found, foundFields
}

// indexOfKey returns the index, from start on, of the live item holding all
// the key fields, or -1.
func indexOfKey(live []any, fields map[string]any, start int) int {
	for i := start; i < len(live); i++ {
		l, ok := live[i].(map[string]any)
		if !ok {
			continue
		}
		match := true
		for f, v := range fields {
			if !equalJSON(l[f], v) {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

// sameSet compares a list of scalars applied as a set: every desired value
// is owned and live, and the manager owns no other value.
func sameSet(desired, live []any, owned map[string]any, values int) bool {
	if len(desired) != values {
		return false
	}
	for _, d := range desired {
		raw, err := json.Marshal(d)
		if err != nil {
			return false
		}
		if _, ok := owned["v:"+string(raw)]; !ok {
			return false
		}
		found := false
		for _, l := range live {
			if equalJSON(d, l) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// equalJSON compares two decoded JSON values as their encodings, so that
// integers decoded as int64 from YAML and as float64 from JSON agree, and map
// order does not matter.
func equalJSON(a, b any) bool {
	ja, err := json.Marshal(a)
	if err != nil {
		return false
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false
	}
	return bytes.Equal(ja, jb)
}
