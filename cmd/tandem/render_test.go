package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

var update = flag.Bool("update", false, "rewrite golden files with the current output")

// run executes the tandem command line with args and returns its output.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got), run with -update if intended:\n%s", name, diff)
	}
}

func TestRenderPrintsEveryClusterOfTheFixture(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"render-smart-factory.yaml", []string{"render", "../../fixtures/smart-factory"}},
		{"render-smart-factory-plant-c.json", []string{"render", "../../fixtures/smart-factory", "--site", "plant-c", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, stderr, err := run(t, tt.args...)
			if err != nil {
				t.Fatalf("tandem %s: %v\n%s", strings.Join(tt.args, " "), err, stderr)
			}
			golden(t, tt.golden, out)
		})
	}
}

func TestRenderWritesOneFilePerObject(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := run(t, "render", "../../fixtures/smart-factory", "--cluster", "plant-a", "--out", dir); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"plant-a/smart-factory/edge/000-configmap-protocol-gateway.yaml",
		"plant-a/smart-factory/edge/001-service-inference.yaml",
		"plant-a/smart-factory/edge/002-service-local-buffer.yaml",
		"plant-a/smart-factory/edge/003-deployment.apps-inference.yaml",
		"plant-a/smart-factory/edge/004-deployment.apps-protocol-gateway.yaml",
		"plant-a/smart-factory/edge/005-statefulset.apps-local-buffer.yaml",
		"plant-a/smart-factory/edge/006-networkpolicy.networking.k8s.io-smart-factory-edge.yaml",
		"plant-a/smart-factory/platform-edge/000-namespace-factory-edge.yaml",
		"plant-a/smart-factory/platform-edge/001-resourcequota-factory-edge.yaml",
		"plant-a/smart-factory/platform-edge/002-limitrange-factory-edge.yaml",
		"plant-a/smart-factory/platform-edge/003-networkpolicy.networking.k8s.io-default-deny.yaml",
	}
	if diff := cmp.Diff(want, treeFiles(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

// treeFiles lists the files under dir, relative to it.
func treeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// writeRepo writes files into a new directory and returns it.
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRenderOutNumbersFilesInApplyOrder(t *testing.T) {
	repo := writeRepo(t, map[string]string{
		"tandem.yaml": "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: lab}\nspec:\n  scale: 1\n" +
			"  tiers:\n  - {name: base, path: base, namespace: lab, targets: {clusters: [lab]}}\n",
		"base/kustomization.yaml": "resources: [objects.yaml]\n",
		"base/objects.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: probe}
spec:
  selector: {matchLabels: {app: probe}}
  template:
    metadata: {labels: {app: probe}}
    spec: {containers: [{name: probe, image: example.com/probe:1}]}
---
apiVersion: factory.example.com/v1
kind: Namespace
metadata: {name: line-1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: probe}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: example.com/fast
---
apiVersion: v1
kind: Namespace
metadata: {name: lab}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: namespaces.factory.example.com}
spec:
  group: factory.example.com
  scope: Namespaced
  names: {kind: Namespace, plural: namespaces}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
`,
	})
	out := t.TempDir()
	if _, stderr, err := run(t, "render", repo, "--out", out); err != nil {
		t.Fatalf("render: %v\n%s", err, stderr)
	}
	want := []string{
		"lab/lab/base/000-customresourcedefinition.apiextensions.k8s.io-namespaces.factory.example.com.yaml",
		"lab/lab/base/001-namespace-lab.yaml",
		"lab/lab/base/002-storageclass.storage.k8s.io-fast.yaml",
		"lab/lab/base/003-namespace.factory.example.com-line-1.yaml",
		"lab/lab/base/004-configmap-probe.yaml",
		"lab/lab/base/005-deployment.apps-probe.yaml",
	}
	if diff := cmp.Diff(want, treeFiles(t, out)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestRenderLabelsObjectsAsMembersOfTheirApplySetUnlessAskedNot(t *testing.T) {
	for _, labelled := range []bool{true, false} {
		t.Run(fmt.Sprint("applyset-labels=", labelled), func(t *testing.T) {
			out, stderr, err := run(t, "render", "../../fixtures/smart-factory", "-o", "json", fmt.Sprint("--applyset-labels=", labelled))
			if err != nil {
				t.Fatalf("render: %v\n%s", err, stderr)
			}
			var targets []targetJSON
			if err := json.Unmarshal([]byte(out), &targets); err != nil {
				t.Fatal(err)
			}
			for _, tg := range targets {
				want := applyset.MemberLabels(tg.Solution, tg.Tier)[applyset.PartOfLabel]
				for _, o := range tg.Objects {
					got, ok := o.GetLabels()[applyset.PartOfLabel]
					if labelled && got != want || !labelled && ok {
						t.Errorf("%s %s: %s/%s labelled %s=%q, want %q", tg.Cluster, tg.Tier, o.GetKind(), o.GetName(), applyset.PartOfLabel, got, want)
					}
				}
			}
		})
	}
}

func TestRenderAndValidateExitCodes(t *testing.T) {
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "tandem.yaml"), []byte("apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: x}\nspec: {scale: -1, colour: red}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string // in stdout or the error
	}{
		{[]string{"validate", "../../fixtures/smart-factory"}, exitOK, "valid: 1 solution(s), 3 site(s), 7 target(s), 46 object(s)"},
		{[]string{"validate", bad}, exitFailure, `tandem.yaml:4: spec.colour: unknown field "colour"`},
		{[]string{"validate", filepath.Join(bad, "missing")}, exitFailure, "open config repository"},
		{[]string{"validate", "a", "b"}, exitUsage, "at most one PATH"},
		{[]string{"render", "../../fixtures/smart-factory", "-o", "toml"}, exitUsage, "unknown output format"},
		{[]string{"render", "../../fixtures/smart-factory", "--site", "plant-z"}, exitFailure, `no site named "plant-z"`},
		{[]string{"render", "--bogus"}, exitUsage, "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := run(t, tt.args...)
			code := exitOK
			msg := out
			if err != nil {
				code, msg = exitCode(err), err.Error()
			}
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, msg, tt.code, tt.want)
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "tandem.yaml"), []byte("apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: x}\nspec:\n  colour: red\n  size: big\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, "validate", bad)
	if err == nil {
		t.Fatal("validate succeeded")
	}
	for _, want := range []string{"2 problem(s)", `tandem.yaml:5: spec.colour: unknown field "colour"`, `tandem.yaml:6: spec.size: unknown field "size"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
