package diff_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/renderer"
)

// edit is a change to a config repository, as a pull request makes it.
type edit struct {
	// path is the file to change.
	path string
	// old is replaced by new in the file; with old empty, the file is
	// written as new, and with new empty too it is deleted.
	old, new string
}

// scenario is a pull request against the smart-factory fixture.
type scenario struct {
	name  string
	edits []edit
}

// scenarios are the pull requests the golden files show.
var scenarios = []scenario{
	{"scale-change", []edit{
		{path: "tandem.yaml", old: "scale: 3", new: "scale: 5"},
	}},
	{"app-removed", []edit{
		{path: "tiers/cloud/kustomization.yaml", old: "- model-registry.yaml\n", new: ""},
		{path: "tiers/cloud/model-registry.yaml"},
	}},
	{"site-added", []edit{
		{path: "sites/plant-d.yaml", new: `# Plant D, a new line in the south.
apiVersion: tandem.dev/v1alpha1
kind: Site
metadata:
  name: plant-d
  labels: {tier: edge, ring: main, region: eu-south}
spec:
  weight: 1
`},
	}},
	{"site-overlay-changed", []edit{
		{path: "sites/plant-c/edge/gateway-modbus.yaml", old: `"10.30.0.11:502,10.30.0.12:502"`, new: `"10.30.0.11:502,10.30.0.12:502,10.30.0.13:502"`},
	}},
	{"model-bump", []edit{
		{path: "tandem.yaml", old: `version: "1.4.0"`, new: `version: "1.5.0"`},
		{path: "tandem.yaml", old: "defect-detector/1.4.0/model.onnx", new: "defect-detector/1.5.0/model.onnx"},
		{path: "tandem.yaml", old: "sha256: 3f9a1c0d", new: "sha256: 4e0b2d1e"},
	}},
	{"capacity-changed", []edit{
		{path: "sites/plant-c.yaml", old: "cpu: 1300m", new: "cpu: 700m"},
		{path: "sites/plant-b.yaml", old: "  capacity: {cpu: \"8\", memory: 16Gi, pods: \"220\"}\n", new: "  # capacity: to be measured again\n"},
	}},
	{"image-bump", []edit{
		{path: "tiers/edge/inference.yaml", old: "defect-inference:2.3.0", new: "defect-inference:2.4.0"},
	}},
}

// applyEdits returns a copy of repo with the edits made.
func applyEdits(t testing.TB, repo fs.FS, edits []edit) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(repo, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(repo, name)
		out[name] = &fstest.MapFile{Data: data, Mode: 0o644}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edits {
		switch {
		case e.old == "" && e.new == "":
			if out[e.path] == nil {
				t.Fatalf("delete %s: no such file", e.path)
			}
			delete(out, e.path)
		case e.old == "":
			out[e.path] = &fstest.MapFile{Data: []byte(e.new), Mode: 0o644}
		default:
			f := out[e.path]
			if f == nil || !strings.Contains(string(f.Data), e.old) {
				t.Fatalf("edit %s: %q not found", e.path, e.old)
			}
			f.Data = []byte(strings.Replace(string(f.Data), e.old, e.new, 1))
		}
	}
	return out
}

func render(t testing.TB, name string, repo fs.FS) diff.Revision {
	t.Helper()
	res, err := renderer.Render(context.Background(), repo, renderer.Options{})
	if err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	return diff.Revision{Name: name, Result: res}
}

// compareScenario renders the fixture before and after s and compares them.
func compareScenario(t testing.TB, s scenario) *diff.Report {
	t.Helper()
	base := fixtures.SmartFactory()
	r, err := diff.Compare(render(t, "main", base), render(t, s.name, applyEdits(t, base, s.edits)))
	if err != nil {
		t.Fatalf("Compare: %v", err)
	}
	return r
}
