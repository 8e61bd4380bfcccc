package renderer

import (
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Kustomize fetches any file a kustomization or a builtin plugin names by
// an http(s) URL, so a render would depend on more than its revision and
// could copy what an internal endpoint answers into site objects. The
// fields below are every one whose value kustomize loads; "[]" is each
// item of a list. Every kustomization, and every file that may hold a
// plugin's configuration, reaches kustomize through kustomizeFS, which
// refuses a URL in any of them before kustomize sees the file.
var (
	kustomizationPathFields = []string{
		"patches[].path", "patchesStrategicMerge[]", "patchesJson6902[].path",
		"configMapGenerator[].files[]", "configMapGenerator[].envs[]", "configMapGenerator[].env",
		"secretGenerator[].files[]", "secretGenerator[].envs[]", "secretGenerator[].env",
		"openapi.path", "crds[]", "replacements[].path", "configurations[]",
		"generators[]", "transformers[]", "validators[]",
		"helmCharts[].repo", "helmCharts[].valuesFile", "helmCharts[].additionalValuesFiles[]",
		"helmGlobals.chartHome", "helmGlobals.configHome",
		"helmChartInflationGenerator[].chartRepoUrl", "helmChartInflationGenerator[].values",
	}
	// pluginPathFields are the fields of builtin plugins' configurations
	// (apiVersion: builtin) that kustomize loads, by kind.
	pluginPathFields = map[string][]string{
		"ConfigMapGenerator":             {"files[]", "envs[]", "env"},
		"SecretGenerator":                {"files[]", "envs[]", "env"},
		"PatchTransformer":               {"path"},
		"PatchStrategicMergeTransformer": {"paths[]"},
		"PatchJson6902Transformer":       {"path"},
		"ReplacementTransformer":         {"replacements[].path"},
		"ValueAddTransformer":            {"targetFilePath"},
		"HelmChartInflationGenerator":    {"repo", "valuesFile", "additionalValuesFiles[]"},
	}
	// inlineFields may hold YAML instead of a path: a patch, or a
	// plugin's configuration, which is checked in turn.
	inlineFields = map[string]bool{"patchesStrategicMerge[]": true, "generators[]": true, "transformers[]": true, "validators[]": true}
)

// checkNoURLs refuses a document of file that names a URL in a field
// kustomize loads. kustomization says whether file is a kustomization;
// otherwise only builtin plugins' configurations are checked.
func checkNoURLs(file string, docs []*yaml.Node, kustomization bool) error {
	for _, doc := range docs {
		if err := checkDocument(file, doc, kustomization); err != nil {
			return err
		}
	}
	return nil
}

func checkDocument(file string, doc *yaml.Node, kustomization bool) error {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil
	}
	fields := kustomizationPathFields
	if !kustomization {
		if scalarAt(root, "apiVersion") != "builtin" {
			return nil
		}
		fields = pluginPathFields[scalarAt(root, "kind")]
	}
	for _, field := range fields {
		var err error
		visit(root, strings.Split(field, "."), "", func(name string, n *yaml.Node) {
			if err != nil || n.Kind != yaml.ScalarNode {
				return
			}
			if inlineFields[field] {
				var inline yaml.Node
				if yaml.Unmarshal([]byte(n.Value), &inline) == nil && len(inline.Content) > 0 && inline.Content[0].Kind == yaml.MappingNode {
					if expand(&inline, map[*yaml.Node]expansion{}).over(MaxFileNodes, MaxFileBytes) {
						err = fmt.Errorf("%s: %s: YAML expands to more than %d nodes or %d bytes once its aliases are expanded, over the budget for one file", file, name, MaxFileNodes, MaxFileBytes)
					} else if field != "patchesStrategicMerge[]" { // an inline patch loads nothing
						err = checkNoURLs(file+": "+name, []*yaml.Node{&inline}, false)
					}
					return
				}
			}
			if strings.Contains(n.Value, "://") {
				err = fmt.Errorf("%s: %s: %q is a URL; a render reads only the repository (remote files are not supported)", file, name, n.Value)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// visit calls fn with every node at path below n, and its field name.
func visit(n *yaml.Node, path []string, name string, fn func(name string, n *yaml.Node)) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if len(path) == 0 {
		fn(name, n)
		return
	}
	key, list := strings.CutSuffix(path[0], "[]")
	if key != "" {
		if n.Kind != yaml.MappingNode {
			return
		}
		child := valueAt(n, key)
		if child == nil {
			return
		}
		n, name = child, join(name, key)
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
	}
	if !list {
		visit(n, path[1:], name, fn)
		return
	}
	if n.Kind != yaml.SequenceNode {
		return
	}
	for i, item := range n.Content {
		visit(item, path[1:], name+"["+strconv.Itoa(i)+"]", fn)
	}
}

func valueAt(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalarAt(m *yaml.Node, key string) string {
	if v := valueAt(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}
