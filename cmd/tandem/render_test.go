package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
	want := []string{
		"plant-a/smart-factory/edge/000-configmap-protocol-gateway.yaml",
		"plant-a/smart-factory/edge/001-service-inference.yaml",
		"plant-a/smart-factory/edge/002-service-local-buffer.yaml",
		"plant-a/smart-factory/edge/003-deployment-inference.yaml",
		"plant-a/smart-factory/edge/004-deployment-protocol-gateway.yaml",
		"plant-a/smart-factory/edge/005-statefulset-local-buffer.yaml",
		"plant-a/smart-factory/edge/006-networkpolicy-smart-factory-edge.yaml",
		"plant-a/smart-factory/platform-edge/000-namespace-factory-edge.yaml",
		"plant-a/smart-factory/platform-edge/001-resourcequota-factory-edge.yaml",
		"plant-a/smart-factory/platform-edge/002-limitrange-factory-edge.yaml",
		"plant-a/smart-factory/platform-edge/003-networkpolicy-default-deny.yaml",
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
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
