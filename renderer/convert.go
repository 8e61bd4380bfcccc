package renderer

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// toUnstructured converts kustomize's resources to API objects. It walks
// each resource's YAML node tree once, building the values encoding/json
// would; kustomize's own MarshalJSON encodes to YAML text and parses it
// again, which made it most of a render's time.
func toUnstructured(m resmap.ResMap) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, m.Size())
	for _, r := range m.Resources() {
		v, err := plainValue(r.RNode.YNode())
		if err != nil {
			return nil, fmt.Errorf("convert %s: %w", r.CurId(), err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("convert %s: not a mapping", r.CurId())
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
	return out, nil
}

// plainValue returns n as the JSON-compatible values unstructured objects
// hold: map[string]any, []any, string, int64, float64, bool and nil.
func plainValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return plainValue(n.Content[0])
	case yaml.AliasNode:
		return plainValue(n.Alias)
	case yaml.MappingNode:
		obj := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: YAML merge keys are not supported in manifests", k.Line)
			}
			v, err := plainValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			obj[k.Value] = v
		}
		return obj, nil
	case yaml.SequenceNode:
		list := make([]any, len(n.Content))
		for i, item := range n.Content {
			v, err := plainValue(item)
			if err != nil {
				return nil, err
			}
			list[i] = v
		}
		return list, nil
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return i, nil
		}
		var i int64
		err := n.Decode(&i)
		return i, err
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f, nil
		}
		var f float64
		err := n.Decode(&f)
		return f, err
	default:
		return n.Value, nil
	}
}
