package diff_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-gitops/tandem/diff"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, d)
	}
}

func TestFixtureScenariosMatchGoldenFiles(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			goldenReport(t, s.name, compareScenario(t, s))
		})
	}
}

// goldenReport checks the report in every format against the golden files
// name.txt, name.md and name.json.
func goldenReport(t *testing.T, name string, r *diff.Report) {
	t.Helper()
	var text, md, js bytes.Buffer
	if err := diff.WriteText(&text, r, false); err != nil {
		t.Fatal(err)
	}
	if err := diff.WriteMarkdown(&md, r, 0); err != nil {
		t.Fatal(err)
	}
	if err := diff.WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	golden(t, name+".txt", text.Bytes())
	golden(t, name+".md", md.Bytes())
	golden(t, name+".json", js.Bytes())
}
