package main

import (
	"strings"
	"testing"
)

func TestValidateReportsWhatARenderRefusesAndWarnsAbout(t *testing.T) {
	solution := "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: lab}\nspec:\n  scale: 1\n  tiers:\n  - {name: base, path: base, targets: {clusters: [lab]}}\n"
	tests := []struct {
		name      string
		files     map[string]string
		ok        bool
		want      string // in the error or stdout
		wantWarns string // in stderr
	}{
		{"an object without a namespace", map[string]string{
			"tandem.yaml":             solution,
			"base/kustomization.yaml": "resources: [settings.yaml]\n",
			"base/settings.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n",
		}, false, "tandem.yaml:7: spec.tiers[0].namespace: tier base renders ConfigMap/settings without a namespace; set metadata.namespace in it or namespace: on the tier", ""},
		{"a Secret holding a cluster credential", map[string]string{
			"tandem.yaml":             solution,
			"base/kustomization.yaml": "resources: [secret.yaml]\n",
			"base/secret.yaml":        "apiVersion: v1\nkind: Secret\nmetadata: {name: plant-a, namespace: lab, labels: {tandem.dev/cluster: plant-a}}\n",
		}, false, "tandem.yaml:7: spec.tiers[0]: tier base renders Secret/lab/plant-a labelled tandem.dev/cluster", ""},
		{"a solution that renders nothing", map[string]string{
			"tandem.yaml":             solution,
			"base/kustomization.yaml": "resources: []\n",
		}, true, "valid: 1 solution(s), 0 site(s), 1 target(s), 0 object(s)", "Warning: tandem.yaml:6: spec.tiers: solution lab renders no objects on any cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := run(t, "validate", writeRepo(t, tt.files))
			msg := stdout
			if err != nil {
				msg = err.Error()
			}
			if (err == nil) != tt.ok || !strings.Contains(msg, tt.want) || !strings.Contains(stderr, tt.wantWarns) {
				t.Errorf("validate: error %v, output %q, warnings %q; want ok=%v, %q and warnings %q", err, stdout, stderr, tt.ok, tt.want, tt.wantWarns)
			}
		})
	}
}
