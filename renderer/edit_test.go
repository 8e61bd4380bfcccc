package renderer_test

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tandem-gitops/tandem/renderer"
)

func TestSetScaleReplacesOnlyTheScaleValue(t *testing.T) {
	fixture, err := os.ReadFile("../fixtures/smart-factory/tandem.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		in       string
		scale    float64
		old, new string // the one line that differs
	}{
		{
			name:  "the smart-factory fixture",
			in:    string(fixture),
			scale: 5,
			old:   "  scale: 3", new: "  scale: 5",
		},
		{
			name:  "a trailing comment and extra spaces are kept",
			in:    "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: a}\nspec:\n  scale:   3   # the business scale factor\n  tiers: []\n",
			scale: 2.5,
			old:   "  scale:   3   # the business scale factor", new: "  scale:   2.5   # the business scale factor",
		},
		{
			name:  "a float becomes the shortest decimal",
			in:    "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata:\n  name: a\nspec:\n  tiers: []\n  scale: 1.50\n",
			scale: 0.1,
			old:   "  scale: 1.50", new: "  scale: 0.1",
		},
		{
			name:  "a large scale is not written in exponent form",
			in:    "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata:\n  name: a\nspec:\n  scale: 1\n",
			scale: 1e21,
			old:   "  scale: 1", new: "  scale: 1000000000000000000000",
		},
		{
			name:  "zero, without a minus sign",
			in:    "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata:\n  name: a\nspec:\n  scale: 4\n",
			scale: math.Copysign(0, -1),
			old:   "  scale: 4", new: "  scale: 0",
		},
		{
			name:  "a flow mapping",
			in:    "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: a}\nspec: {scale: 12, tiers: []}\n",
			scale: 7,
			old:   "spec: {scale: 12, tiers: []}", new: "spec: {scale: 7, tiers: []}",
		},
		{
			name:  "non-ASCII text before the value on its line",
			in:    "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: a, annotations: {note: \"Ölmühle\"}}\nspec: {tiers: [], \"scale\": 3}\n",
			scale: 4,
			old:   `spec: {tiers: [], "scale": 3}`, new: `spec: {tiers: [], "scale": 4}`,
		},
		{
			name:  "the Solution among other documents",
			in:    "apiVersion: tandem.dev/v1alpha1\nkind: Site\nmetadata: {name: s}\nspec: {scale: 9}\n---\n# solution\napiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: a}\nspec:\n  scale: 9\n",
			scale: 1,
			old:   "  scale: 9", new: "  scale: 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := renderer.SetScale("tandem.yaml", []byte(tt.in), tt.scale)
			if err != nil {
				t.Fatalf("SetScale: %v", err)
			}
			in, got := strings.Split(tt.in, "\n"), strings.Split(string(out), "\n")
			if len(in) != len(got) {
				t.Fatalf("SetScale changed the number of lines:\n%s", out)
			}
			changed := 0
			for i := range in {
				if in[i] == got[i] {
					continue
				}
				changed++
				if in[i] != tt.old || got[i] != tt.new {
					t.Errorf("line %d: %q → %q, want %q → %q", i+1, in[i], got[i], tt.old, tt.new)
				}
			}
			if changed != 1 {
				t.Errorf("%d lines changed, want 1:\n%s", changed, out)
			}
		})
	}
}

func TestSetScaleRefusesWhatItCannotEditInPlace(t *testing.T) {
	const header = "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: a}\n"
	tests := []struct {
		name  string
		in    string
		scale float64
		want  string
	}{
		{"negative", header + "spec: {scale: 1}\n", -1, "tandem.yaml: spec.scale: scale -1 must be a finite number ≥ 0"},
		{"NaN", header + "spec: {scale: 1}\n", math.NaN(), "must be a finite number"},
		{"infinite", header + "spec: {scale: 1}\n", math.Inf(1), "must be a finite number"},
		{"no Solution", "apiVersion: tandem.dev/v1alpha1\nkind: Site\nmetadata: {name: s}\nspec: {scale: 1}\n", 2, "tandem.yaml: no tandem.dev/v1alpha1 Solution in the file"},
		{"another apiVersion", "apiVersion: tandem.dev/v1\nkind: Solution\nmetadata: {name: a}\nspec: {scale: 1}\n", 2, "no tandem.dev/v1alpha1 Solution"},
		{"two Solutions", header + "spec: {scale: 1}\n---\n" + header + "spec: {scale: 1}\n", 2, "tandem.yaml:6: 2 Solutions in one file"},
		{"no spec.scale", header + "spec:\n  tiers: []\n", 2, "tandem.yaml:5: spec.scale: spec.scale is missing"},
		{"no spec", header, 2, "spec: the Solution has no spec mapping"},
		{"a quoted scale", header + "spec: {scale: \"1\"}\n", 2, `spec.scale is str "1", not a number`},
		{"a tagged scale", header + "spec: {scale: !!float 1}\n", 2, "not written as a plain number"},
		{"an alias", header + "x: &s 1\nspec: {scale: *s}\n", 2, "spec.scale is the alias *s"},
		{"malformed YAML", header + "spec: {scale: 1\n", 2, "tandem.yaml:4: malformed YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := renderer.SetScale("tandem.yaml", []byte(tt.in), tt.scale)
			if err == nil {
				t.Fatalf("SetScale = %q, want an error containing %q", out, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SetScale error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSetScaleResultRendersTheNewScale(t *testing.T) {
	repo := smartFactory(t, 2)
	out, err := renderer.SetScale("tandem.yaml", repo["tandem.yaml"].Data, 5)
	if err != nil {
		t.Fatal(err)
	}
	edited := fstest.MapFS{}
	for k, v := range repo {
		edited[k] = v
	}
	edited["tandem.yaml"] = &fstest.MapFile{Data: out}
	cfg, err := renderer.Load(context.Background(), edited)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := cfg.Solution("smart-factory").Spec.Scale; got != 5 {
		t.Errorf("scale after the edit = %v, want 5", got)
	}
}

func TestSolutionFileNamesTheDeclaringFile(t *testing.T) {
	repo := smartFactory(t, 0)
	moved := fstest.MapFS{}
	for k, v := range repo {
		moved[k] = v
	}
	delete(moved, "tandem.yaml")
	moved["solutions/smart-factory.yaml"] = repo["tandem.yaml"]

	tests := []struct {
		name     string
		fsys     fstest.MapFS
		solution string
		want     string
		wantErr  string
	}{
		{"at the root", repo, "smart-factory", "tandem.yaml", ""},
		{"in a directory", moved, "smart-factory", "solutions/smart-factory.yaml", ""},
		{"unknown", repo, "car-wash", "", `no solution named "car-wash"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderer.SolutionFile(context.Background(), tt.fsys, tt.solution)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("SolutionFile = %q, %v; want error %q", got, err, tt.wantErr)
				}
			case err != nil || got != tt.want:
				t.Errorf("SolutionFile = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
