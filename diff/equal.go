package diff

import (
	"reflect"
	"slices"

	gocmp "github.com/google/go-cmp/cmp"
)

// equal is the structural comparison that decides whether an object
// changed. Key order never matters to it, and a null field equals an absent
// one, as it does to the API server. An empty map still differs from an
// absent one: "emptyDir: {}" is not nothing.
func equal(a, b map[string]any) bool {
	// Most objects of a revision are untouched by it, and identical
	// confirms those far faster than go-cmp's reflection; go-cmp decides
	// the rest, on copies without null fields.
	return identical(a, b) || gocmp.Equal(withoutNulls(a), withoutNulls(b))
}

// identical reports whether two values decoded from JSON are the same,
// as reflect.DeepEqual would, without reflection.
func identical(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !identical(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		return ok && slices.EqualFunc(a, b, identical)
	case string:
		b, ok := b.(string)
		return ok && a == b
	case int64:
		b, ok := b.(int64)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case nil:
		return b == nil
	}
	return reflect.DeepEqual(a, b)
}

// withoutNulls returns obj without the map entries whose value is null:
// obj itself when it has none, as rendered objects rarely do.
func withoutNulls(obj map[string]any) any {
	if !hasNull(obj) {
		return obj
	}
	return pruneNulls(obj)
}

func hasNull(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		for _, e := range v {
			if hasNull(e) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(v, hasNull)
	}
	return false
}

// pruneNulls returns a copy of v without null map entries; a null list
// item stays, as it is no absent field.
func pruneNulls(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if e != nil {
				out[k] = pruneNulls(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = pruneNulls(e)
		}
		return out
	}
	return v
}
