package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// fixtureAtScale copies the smart-factory fixture to a directory, with
// scale instead of 3 and, with plantD, a site plant-d without capacity.
func fixtureAtScale(t *testing.T, scale string, plantD bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixtureDir)); err != nil {
		t.Fatal(err)
	}
	edit(t, filepath.Join(dir, "tandem.yaml"), "scale: 3", "scale: "+scale)
	if plantD {
		site := "apiVersion: tandem.dev/v1alpha1\nkind: Site\nmetadata: {name: plant-d, labels: {tier: edge}}\n"
		if err := os.WriteFile(filepath.Join(dir, "sites", "plant-d.yaml"), []byte(site), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func edit(t *testing.T, file, old, new string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestValidateCapacityPrintsEachSitesHeadroomAndNamesTheSitesNotChecked(t *testing.T) {
	stdout, _, err := run(t, "validate", "--capacity", fixtureAtScale(t, "5", true))
	if err != nil {
		t.Fatal(err)
	}
	want := `valid: 1 solution(s), 4 site(s), 9 target(s), 57 object(s)
SITE     RESOURCE  DEMAND  CAPACITY  USE
plant-a  cpu       1800m   4         45%
plant-a  memory    1792Mi  8Gi       22%
plant-a  pods      6       110       6%
plant-b  cpu       2900m   8         37%
plant-b  memory    2880Mi  16Gi      18%
plant-b  pods      9       220       5%
plant-c  cpu       1200m   1300m     93% (above 90%)
plant-c  memory    1216Mi  4Gi       30%
plant-c  pods      4       110       4%
capacity not checked: 1 site(s) declare no spec.capacity: plant-d
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("validate --capacity (-want +got):\n%s", diff)
	}
	// Without --capacity the unchecked site is still named.
	if stdout, _, err = run(t, "validate", fixtureAtScale(t, "5", true)); err != nil || !strings.HasSuffix(stdout, "capacity not checked: 1 site(s) declare no spec.capacity: plant-d\n") {
		t.Errorf("validate: %v, %q; want the unchecked site named", err, stdout)
	}
}

func TestValidateRefusesAScaleThatOverflowsASite(t *testing.T) {
	_, _, err := run(t, "validate", fixtureAtScale(t, "12", false))
	want := "sites/plant-c.yaml:11: spec.capacity.cpu: revision asks 1800m of 1300m (edge/inference 3 × 500m, edge/protocol-gateway 2 × 100m, edge/local-buffer 1 × 100m)"
	if exitCode(err) != exitFailure || !strings.Contains(err.Error(), want) {
		t.Fatalf("validate at scale 12: exit %d, %v; want exit 1 and %q", exitCode(err), err, want)
	}
}
