package diff

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// maskPrefix starts every masked Secret value.
const maskPrefix = "***sha256:"

// digestLen is how many hex digits of a value's SHA-256 a mask shows:
// enough for a reviewer to tell that a value changed, and which values are
// the same, not enough to stand in for the value.
const digestLen = 8

// lastApplied is the annotation kubectl keeps a copy of what it applied in,
// a Secret's values included.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// MaskSecret returns u with the values of a Secret's data and stringData
// replaced by a mask that shows a short digest of each value
// ("***sha256:1a2b3c4d"), and kubectl's last-applied copy masked as a
// whole, so that output a reviewer reads, a pull-request comment say, still
// shows which keys a revision sets and that a value changed, but no value.
// A data value is digested decoded, so the same value digests alike in data
// and in stringData. An object that is not a Secret is returned as it is;
// a Secret is copied, never changed in place.
func MaskSecret(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil || !isSecret(u) {
		return u
	}
	out := u.DeepCopy()
	for _, field := range []string{"data", "stringData"} {
		values, ok := out.Object[field].(map[string]any)
		if !ok {
			continue
		}
		for k, v := range values {
			values[k] = maskValue(v, field == "data")
		}
	}
	if annotations := out.GetAnnotations(); annotations[lastApplied] != "" {
		annotations[lastApplied] = maskValue(annotations[lastApplied], false)
		out.SetAnnotations(annotations)
	}
	return out
}

func isSecret(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// maskValue returns the mask of a Secret value; encoded says the value is
// base64, as data's are.
func maskValue(v any, encoded bool) string {
	var value []byte
	switch s := v.(type) {
	case string:
		value = []byte(s)
		if encoded {
			if decoded, err := base64.StdEncoding.DecodeString(s); err == nil {
				value = decoded
			}
		}
	default:
		// Not a string, so not a value the API server accepts; digest
		// what was written all the same.
		value, _ = json.Marshal(v)
	}
	sum := sha256.Sum256(value)
	return maskPrefix + hex.EncodeToString(sum[:])[:digestLen]
}
