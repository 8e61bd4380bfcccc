package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-gitops/tandem/sources"
)

func newTestWriter(t *testing.T, spec sources.Spec) (*Writer, sources.Revision) {
	t.Helper()
	repo := openTestRepository(t, spec, t.TempDir())
	base, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	w, err := NewWriter(repo, WriterOptions{Committer: Signature{Name: "tandem", Email: "tandem@example.com"}})
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	return w, base
}

func scaleChange(base, content string) Change {
	return Change{
		Base:    base,
		Files:   map[string][]byte{"tandem.yaml": []byte(content)},
		Author:  Signature{Name: "Olga Operator", Email: "olga@example.com"},
		Message: "Scale smart-factory\n\nRequested in the web console.",
	}
}

func TestWriterCommitsAndPushes(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n", "sites/berlin.yaml": "kind: Site\n"})
	w, base := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})

	change := scaleChange(base.Commit, "scale: 4\n")
	change.Files["sites/new/lyon.yaml"] = []byte("kind: Site\n")
	rev, err := w.Commit(context.Background(), change)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if rev.Commit != up.head("main") || rev.Subject != "Scale smart-factory" {
		t.Errorf("Commit = %s %q, remote head %s", rev.Commit, rev.Subject, up.head("main"))
	}
	if got := up.show("main", "tandem.yaml"); got != "scale: 4" {
		t.Errorf("tandem.yaml on the remote = %q", got)
	}
	if got := up.show("main", "sites/new/lyon.yaml"); got != "kind: Site" {
		t.Errorf("sites/new/lyon.yaml on the remote = %q", got)
	}
	log := runGit(t, up.bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%P", "main")
	if want := "Olga Operator <olga@example.com>|tandem <tandem@example.com>|" + base.Commit; log != want {
		t.Errorf("commit metadata = %q, want %q", log, want)
	}
	runGit(t, up.bare, "fsck", "--strict")
	if resolved, err := w.repo.Resolve(); err != nil || resolved.Commit != rev.Commit {
		t.Errorf("mirror after push resolves to %s, %v; want %s", resolved.Commit, err, rev.Commit)
	}
}

func TestWriterPushesOverSmartHTTP(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	t.Setenv("TANDEM_TEST_TOKEN", "s3cret")
	w, base := newTestWriter(t, sources.Spec{
		URL:  up.serveHTTP("tandem", "s3cret"),
		Ref:  sources.Ref{Branch: "main"},
		Auth: sources.Auth{Username: "tandem", PasswordEnv: "TANDEM_TEST_TOKEN"},
	})

	rev, err := w.Commit(context.Background(), scaleChange(base.Commit, "scale: 2\n"))
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if rev.Commit != up.head("main") {
		t.Errorf("Commit = %s, remote head %s", rev.Commit, up.head("main"))
	}
}

func TestWriterReappliesWhenBranchMovedBeforePush(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n", "sites/berlin.yaml": "weight: 1\n"})
	w, base := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})
	var external string
	w.beforePush = func() {
		if external == "" {
			external = up.commit("Weigh Berlin", map[string]string{"sites/berlin.yaml": "weight: 2\n"})
		}
	}

	rev, err := w.Commit(context.Background(), scaleChange(base.Commit, "scale: 3\n"))
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if parent := runGit(t, up.bare, "rev-parse", rev.Commit+"^"); parent != external {
		t.Errorf("pushed commit's parent = %s, want the external commit %s", parent, external)
	}
	if a, b := up.show("main", "tandem.yaml"), up.show("main", "sites/berlin.yaml"); a != "scale: 3" || b != "weight: 2" {
		t.Errorf("remote has tandem.yaml %q and berlin %q, want both changes", a, b)
	}
}

func TestWriterMergesEditsOfDifferentFieldsOfOneFile(t *testing.T) {
	const descriptor = "spec:\n  scale: 3\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n"
	up := newUpstream(t, map[string]string{"tandem.yaml": descriptor})
	w, base := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})
	up.commit("Roll out model 1.5.0", map[string]string{"tandem.yaml": strings.Replace(descriptor, "1.4.0", "1.5.0", 1)})

	_, err := w.Commit(context.Background(), scaleChange(base.Commit, strings.Replace(descriptor, "scale: 3", "scale: 4", 1)))
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	want := "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.5.0\""
	if got := up.show("main", "tandem.yaml"); got != want {
		t.Errorf("tandem.yaml on the remote = %q, want %q", got, want)
	}
}

func TestWriterRefusesConflictingChange(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	w, base := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})
	upstreamHead := up.commit("Scale to 2 by hand", map[string]string{"tandem.yaml": "scale: 2\n"})

	_, err := w.Commit(context.Background(), scaleChange(base.Commit, "scale: 5\n"))
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("Commit error = %v, want a ConflictError", err)
	}
	if conflict.Base != base.Commit || conflict.Head != upstreamHead || strings.Join(conflict.Paths, ",") != "tandem.yaml" {
		t.Errorf("conflict = %+v", conflict)
	}
	if !strings.Contains(err.Error(), "tandem.yaml changed upstream") {
		t.Errorf("error %q does not name the file", err)
	}
	if up.head("main") != upstreamHead {
		t.Error("a conflicting change was pushed")
	}
}

func TestWriterRefusesConflictFoundOnRetry(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	w, base := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})
	var external string
	w.beforePush = func() {
		if external == "" {
			external = up.commit("Scale to 2 by hand", map[string]string{"tandem.yaml": "scale: 2\n"})
		}
	}

	_, err := w.Commit(context.Background(), scaleChange(base.Commit, "scale: 5\n"))
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("Commit error = %v, want a ConflictError", err)
	}
	if up.head("main") != external {
		t.Error("the external commit was overwritten")
	}
}

func TestWriterChangeAlreadyOnBranchCommitsNothing(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	w, base := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})
	same := up.commit("Scale to 2", map[string]string{"tandem.yaml": "scale: 2\n"})

	rev, err := w.Commit(context.Background(), scaleChange(base.Commit, "scale: 2\n"))
	if err != nil || rev.Commit != same || up.head("main") != same {
		t.Errorf("Commit = %s, %v; want the unchanged head %s", rev.Commit, err, same)
	}
}

// TestConcurrentWritersAndExternalPushesLoseNoCommit races several writers,
// each with its own mirror, against pushes made with git itself.
func TestConcurrentWritersAndExternalPushesLoseNoCommit(t *testing.T) {
	const writers, externals = 3, 3
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	base := up.head("main")

	var wg sync.WaitGroup
	pushed := make([]string, writers)
	errs := make([]error, writers)
	for i := range writers {
		repo := openTestRepository(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}}, t.TempDir())
		w, err := NewWriter(repo, WriterOptions{MaxAttempts: 20})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			rev, err := w.Commit(context.Background(), Change{
				Base:    base,
				Files:   map[string][]byte{fmt.Sprintf("sites/writer-%d.yaml", i): []byte("kind: Site\n")},
				Author:  Signature{Name: "Writer", Email: "writer@example.com"},
				Message: fmt.Sprintf("Add site %d", i),
			})
			pushed[i], errs[i] = rev.Commit, err
		})
	}
	for i := range externals {
		up.commitRebasing(fmt.Sprintf("External %d", i), map[string]string{fmt.Sprintf("external-%d.yaml", i): "x: 1\n"})
	}
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	head := up.head("main")
	for i, commit := range pushed {
		runGit(t, up.bare, "merge-base", "--is-ancestor", commit, head) // fails the test if lost
		if got := up.show("main", fmt.Sprintf("sites/writer-%d.yaml", i)); got != "kind: Site" {
			t.Errorf("writer %d's file at head = %q", i, got)
		}
	}
	for i := range externals {
		if got := up.show("main", fmt.Sprintf("external-%d.yaml", i)); got != "x: 1" {
			t.Errorf("external file %d at head = %q", i, got)
		}
	}
	if n := runGit(t, up.bare, "rev-list", "--count", "main"); n != fmt.Sprint(1+writers+externals) {
		t.Errorf("branch has %s commits, want %d", n, 1+writers+externals)
	}
}

func TestWriterRejectsInvalidChanges(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n", "sites/berlin.yaml": "kind: Site\n"})
	w, base := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})
	valid := func(edit func(*Change)) Change {
		c := scaleChange(base.Commit, "scale: 2\n")
		edit(&c)
		return c
	}
	tests := []struct {
		name   string
		change Change
		want   string
	}{
		{"no base", valid(func(c *Change) { c.Base = "" }), "not a full commit SHA"},
		{"no files", valid(func(c *Change) { c.Files = nil }), "no files"},
		{"escaping path", valid(func(c *Change) { c.Files = map[string][]byte{"../x": nil} }), `invalid file path "../x"`},
		{"git dir", valid(func(c *Change) { c.Files = map[string][]byte{".git/config": nil} }), "invalid file path"},
		{"no author", valid(func(c *Change) { c.Author = Signature{} }), "author"},
		{"no message", valid(func(c *Change) { c.Message = " \n" }), "message"},
		{"directory", valid(func(c *Change) { c.Files = map[string][]byte{"sites": nil} }), "not a regular file"},
		{"under a file", valid(func(c *Change) { c.Files = map[string][]byte{"sites/berlin.yaml/x": nil} }), "sites/berlin.yaml is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.Commit(context.Background(), tt.change)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Commit error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
