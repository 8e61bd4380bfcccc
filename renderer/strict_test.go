package renderer

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
)

// utf16LE encodes s as UTF-16, little-endian, with a byte order mark.
func utf16LE(s string) string {
	b := []byte{0xff, 0xfe}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

func TestRenderRefusesInputThatIsNotStrictlyValid(t *testing.T) {
	noMax := func(scale string) string {
		return strings.Replace(solutionWith("{workload: api, perScale: 1, max: 10}", "{workload: api, perScale: 1}"), "scale: 4", "scale: "+scale, 1)
	}
	tests := []struct {
		name  string
		repo  fstest.MapFS
		wants []string // each must be inside one error line
	}{
		// Duplicate keys.
		{"duplicate key in a site", repoWith(map[string]string{"sites/a.yaml": testRepo["sites/a.yaml"] + "  weight: 3\n"}),
			[]string{"sites/a.yaml:8: spec.weight: duplicate key (first at line 7)"}},
		{"duplicate key in a solution", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    path: tiers/cloud\n")}),
			[]string{"tandem.yaml:15: spec.tiers[1].path: duplicate key (first at line 14)"}},
		{"duplicate top-level key in a descriptor", repoWith(map[string]string{"sites/b.yaml": testRepo["sites/b.yaml"] + "kind: Site\n"}),
			[]string{"sites/b.yaml:6: kind: duplicate key (first at line 2)"}},
		{"duplicate key in a kustomize resource", repoWith(map[string]string{"tiers/edge/till.yaml": strings.Replace(deployment("till"), "  name: till\n", "  name: till\n  name: till-b\n", 1)}),
			[]string{"tiers/edge/till.yaml:5: metadata.name: duplicate key (first at line 4)"}},
		{"duplicate key in a list item of a resource", repoWith(map[string]string{"tiers/edge/till.yaml": strings.Replace(deployment("till"), "name: app,", "name: app, name: sidecar,", 1)}),
			[]string{"tiers/edge/till.yaml:10: spec.template.spec.containers[0].name: duplicate key (first at line 10)"}},
		{"malformed kustomize resource", repoWith(map[string]string{"tiers/edge/till.yaml": deployment("till") + "- oops\n"}),
			[]string{"tiers/edge/till.yaml:11: malformed YAML: did not find expected key"}},
		{"duplicate key in a kustomization", repoWith(map[string]string{"tiers/edge/kustomization.yaml": "namespace: shop\nresources: [till.yaml]\nnamespace: other\n"}),
			[]string{"tiers/edge/kustomization.yaml:3: namespace: duplicate key (first at line 1)"}},

		// A descriptor with the wrong apiVersion.
		{"Solution in another tandem group", repoWith(map[string]string{"tandem.yaml": strings.Replace(testRepo["tandem.yaml"], "tandem.dev/v1alpha1", "tandem.io/v1alpha1", 1)}),
			[]string{`tandem.yaml:1: apiVersion: unsupported apiVersion "tandem.io/v1alpha1": want tandem.dev/v1alpha1`}},
		{"Site with a misspelt group", repoWith(map[string]string{"sites/b.yaml": strings.Replace(testRepo["sites/b.yaml"], "tandem.dev/v1alpha1", "tandm.dev/v1alpha1", 1)}),
			[]string{`sites/b.yaml:1: apiVersion: unsupported apiVersion "tandm.dev/v1alpha1": want tandem.dev/v1alpha1`}},
		{"Site without an apiVersion", repoWith(map[string]string{"sites/b.yaml": strings.Replace(testRepo["sites/b.yaml"], "apiVersion: tandem.dev/v1alpha1\n", "", 1)}),
			[]string{`sites/b.yaml:1: apiVersion: apiVersion is required: want tandem.dev/v1alpha1`}},
		{"unknown kind in a tandem group", repoWith(map[string]string{"sites/c.yaml": "apiVersion: Tandem.dev/v1\nkind: Plant\nmetadata: {name: c}\n"}),
			[]string{`sites/c.yaml:1: apiVersion: unsupported apiVersion "Tandem.dev/v1": want tandem.dev/v1alpha1`}},

		// Encodings.
		{"UTF-16 with a byte order mark", repoWith(map[string]string{"sites/b.yaml": utf16LE(testRepo["sites/b.yaml"])}),
			[]string{"sites/b.yaml:1: file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8"}},
		{"UTF-16 without a byte order mark", repoWith(map[string]string{"sites/b.yaml": utf16LE(testRepo["sites/b.yaml"])[2:]}),
			[]string{"sites/b.yaml:1: file holds a NUL byte"}},
		{"Latin-1", repoWith(map[string]string{"sites/b.yaml": testRepo["sites/b.yaml"] + "# Gr\xfc\xdfe\n"}),
			[]string{"sites/b.yaml:6: byte 0xfc at offset 90 is not UTF-8"}},

		// Numbers.
		{"scale .nan", repoWith(map[string]string{"tandem.yaml": solutionWith("scale: 4", "scale: .nan")}),
			[]string{"tandem.yaml:6: spec.scale: want a finite number, got .nan"}},
		{"scale .inf", repoWith(map[string]string{"tandem.yaml": solutionWith("scale: 4", "scale: .inf")}),
			[]string{"tandem.yaml:6: spec.scale: want a finite number, got .inf"}},
		{"ratio .NaN", repoWith(map[string]string{"tandem.yaml": solutionWith("ratio: 0.5", "ratio: .NaN")}),
			[]string{"tandem.yaml:17: spec.tiers[1].replicas[0].ratio: want a finite number, got .NaN"}},
		{"weight -.inf", repoWith(map[string]string{"sites/a.yaml": strings.Replace(testRepo["sites/a.yaml"], "weight: 2", "weight: -.inf", 1)}),
			[]string{"sites/a.yaml:7: spec.weight: want a finite number, got -.inf"}},
		{"a timestamp that is not one", repoWith(map[string]string{"sites/b.yaml": strings.Replace(testRepo["sites/b.yaml"], "  name: b\n", "  name: b\n  creationTimestamp: soon\n", 1)}),
			[]string{"sites/b.yaml:5: metadata.creationTimestamp: "}},
		{"perScale 0", repoWith(map[string]string{"tandem.yaml": solutionWith("perScale: 1,", "perScale: 0,")}),
			[]string{"tandem.yaml:12: spec.tiers[0].replicas[0].perScale: perScale 0 must be greater than 0"}},
		{"perScale 0 beside linkedTo", repoWith(map[string]string{"tandem.yaml": solutionWith("linkedTo: cloud/api,", "linkedTo: cloud/api, perScale: 0,")}),
			[]string{"tandem.yaml:17: spec.tiers[1].replicas[0].perScale: perScale and linkedTo are mutually exclusive"}},
		{"ratio 0 without linkedTo", repoWith(map[string]string{"tandem.yaml": solutionWith("perScale: 1,", "perScale: 1, ratio: 0,")}),
			[]string{"tandem.yaml:12: spec.tiers[0].replicas[0].ratio: ratio needs linkedTo"}},
		{"scale past an int32 of replicas", repoWith(map[string]string{"tandem.yaml": noMax("1e308")}),
			[]string{"tandem.yaml:12: spec.tiers[0].replicas[0].perScale: solution shop: too many replicas: cloud/api would get 1e+308 replicas (scale 1e+308 × perScale 1), more than the 2147483647 a workload can have; lower perScale or set max"}},
		{"scale times perScale past an int32", repoWith(map[string]string{"tandem.yaml": strings.Replace(noMax("1e9"), "perScale: 1}", "perScale: 1e3}", 1)}),
			[]string{"tandem.yaml:12: spec.tiers[0].replicas[0].perScale: solution shop: too many replicas: cloud/api would get 1000000000000 replicas (scale 1000000000 × perScale 1000)"}},
		{"a site weight past an int32", repoWith(map[string]string{"sites/a.yaml": strings.Replace(testRepo["sites/a.yaml"], "weight: 2", "weight: 1e300", 1)}),
			[]string{"tandem.yaml:17: spec.tiers[1].replicas[0].ratio: solution shop at site a: too many replicas: edge/till would get 2e+300 replicas (cloud/api 4 × ratio 0.5 × site weight 1e+300)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRenderErrors(t, tt.repo, tt.wants)
		})
	}
}

func TestRenderNamesTheLineOfAYAMLSyntaxError(t *testing.T) {
	site := "apiVersion: tandem.dev/v1alpha1\nkind: Site\nmetadata:\n  name: c\n"
	tests := []struct {
		name, yaml string
		want       string // the real line, and the parser's problem
	}{
		{"a list item in a mapping", site + "- oops\n", "sites/c.yaml:5: malformed YAML: did not find expected key"},
		{"a list item after a comment", "# a site\n" + site + "- oops\n", "sites/c.yaml:2: malformed YAML: did not find expected key"},
		{"an unclosed flow list", site + "  labels: [a, b\nspec: {}\n", "sites/c.yaml:5: malformed YAML: did not find expected ',' or ']'"},
		{"an unclosed flow mapping", site + "  labels: {a: b\nspec: {}\n", "sites/c.yaml:5: malformed YAML: did not find expected ',' or '}'"},
		{"a key in a scalar", site + "  labels: a: b\n", "sites/c.yaml:5: malformed YAML: mapping values are not allowed in this context"},
		{"a bad indent", site + " spec: {}\n", "sites/c.yaml:5: malformed YAML: did not find expected key"},
		{"a problem on the first line", "{kind: Site]\n", "sites/c.yaml:1: malformed YAML: did not find expected ',' or '}'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), repoWith(map[string]string{"sites/c.yaml": tt.yaml}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %v; want %q", err, tt.want)
			}
		})
	}
}

func TestRenderWarnsAboutManyReplicasWithoutMax(t *testing.T) {
	repo := repoWith(map[string]string{"tandem.yaml": strings.Replace(
		solutionWith("{workload: api, perScale: 1, max: 10}", "{workload: api, perScale: 1}"), "scale: 4", "scale: 20000", 1)})
	res, err := Render(context.Background(), repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"tandem.yaml:12: spec.tiers[0].replicas[0]: workload cloud/api gets 20000 replicas on cluster cloud, more than 10000, and the rule has no max; set max to say that many are meant",
		"tandem.yaml:17: spec.tiers[1].replicas[0]: workload edge/till gets 20000 replicas on site a, more than 10000, and the rule has no max; set max to say that many are meant",
	}
	if diff := cmp.Diff(want, res.Warnings); diff != "" {
		t.Errorf("Warnings (-want +got):\n%s", diff)
	}
}

func TestRenderReadsKubernetesManifestsThatMentionTandem(t *testing.T) {
	repo := repoWith(map[string]string{
		"tiers/edge/kustomization.yaml": "namespace: shop\nresources: [till.yaml, notes.yaml]\n",
		"tiers/edge/notes.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes, labels: {tandem.dev/owner: ops}}\ndata: {kind: Site, apiVersion: tandem.io/v1}\n",
		"docs/site.yaml":                "apiVersion: example.com/v1\nkind: SiteConfig\nmetadata: {name: x}\n",
	})
	if _, err := Render(context.Background(), repo, Options{}); err != nil {
		t.Fatal(err)
	}
}
