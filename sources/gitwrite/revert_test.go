package gitwrite

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-gitops/tandem/sources"
)

const descriptor = "# smart factory\nscale: 3\ntiers: []\nnotes: none\nmodel: v1\n"

var olga = Signature{Name: "Olga Operator", Email: "olga@example.com"}

// gitRevert reverts commit on a fresh clone of the upstream's main with the
// git CLI and returns the tree it commits, or "" when git finds a conflict.
func gitRevert(t *testing.T, up *upstream, commit string) string {
	t.Helper()
	clone := filepath.Join(t.TempDir(), "clone")
	runGit(t, filepath.Dir(clone), "clone", "--quiet", up.bare, clone)
	if err := gitCommand(clone, "revert", "--no-edit", commit).Run(); err != nil {
		return ""
	}
	return runGit(t, clone, "rev-parse", "HEAD^{tree}")
}

func TestRevertUndoesOneCommitAsGitRevertDoes(t *testing.T) {
	tests := []struct {
		name string
		// history commits on the upstream and returns the commit to revert.
		history func(up *upstream) string
		// want are file contents after the revert; "" means absent.
		want map[string]string
	}{
		{
			name: "an edited line",
			history: func(up *upstream) string {
				return up.commit("Scale to 5", map[string]string{"tandem.yaml": strings.Replace(descriptor, "scale: 3", "scale: 5", 1)})
			},
			want: map[string]string{"tandem.yaml": descriptor},
		},
		{
			name: "an edit followed by an edit of other lines",
			history: func(up *upstream) string {
				c := up.commit("Scale to 5", map[string]string{"tandem.yaml": strings.Replace(descriptor, "scale: 3", "scale: 5", 1)})
				up.commit("Serve model v2", map[string]string{"tandem.yaml": strings.Replace(strings.Replace(descriptor, "scale: 3", "scale: 5", 1), "model: v1", "model: v2", 1)})
				return c
			},
			want: map[string]string{"tandem.yaml": strings.Replace(descriptor, "model: v1", "model: v2", 1)},
		},
		{
			name: "an added file, in a new directory",
			history: func(up *upstream) string {
				return up.commit("Add Lyon", map[string]string{"sites/new/lyon.yaml": "weight: 1\n"})
			},
			want: map[string]string{"sites/new/lyon.yaml": "", "sites/berlin.yaml": "weight: 1\n"},
		},
		{
			name: "a deleted file",
			history: func(up *upstream) string {
				return up.commit("Close Berlin", map[string]string{"sites/berlin.yaml": ""})
			},
			want: map[string]string{"sites/berlin.yaml": "weight: 1\n"},
		},
		{
			name: "several files",
			history: func(up *upstream) string {
				return up.commit("Move to Lyon", map[string]string{"sites/berlin.yaml": "", "sites/lyon.yaml": "weight: 2\n", "tandem.yaml": strings.Replace(descriptor, "notes: none", "notes: lyon", 1)})
			},
			want: map[string]string{"sites/berlin.yaml": "weight: 1\n", "sites/lyon.yaml": "", "tandem.yaml": descriptor},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, map[string]string{"tandem.yaml": descriptor, "sites/berlin.yaml": "weight: 1\n"})
			reverted := tt.history(up)
			before := up.head("main")
			wantTree := gitRevert(t, up, reverted)
			w, _ := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})

			rev, err := w.Revert(context.Background(), reverted, olga, "")
			if err != nil {
				t.Fatalf("Revert: %v", err)
			}
			if rev.Commit != up.head("main") {
				t.Fatalf("Revert = %s, remote head %s", rev.Commit, up.head("main"))
			}
			if tree := runGit(t, up.bare, "rev-parse", rev.Commit+"^{tree}"); tree != wantTree {
				t.Errorf("reverted tree = %s, git revert's = %s", tree, wantTree)
			}
			for name, want := range tt.want {
				got, err := fs.ReadFile(fsOf(t, w, rev.Commit), name)
				switch {
				case want == "" && !errors.Is(err, fs.ErrNotExist):
					t.Errorf("%s after the revert = %q, %v; want it deleted", name, got, err)
				case want != "" && string(got) != want:
					t.Errorf("%s after the revert = %q, %v; want %q", name, got, err, want)
				}
			}
			subject := runGit(t, up.bare, "log", "-1", "--format=%s", reverted)
			log := runGit(t, up.bare, "log", "-1", "--format=%an <%ae>|%P|%B", "main")
			if want := "Olga Operator <olga@example.com>|" + before + `|Revert "` + subject + "\"\n\nThis reverts commit " + reverted + "."; log != want {
				t.Errorf("revert commit = %q, want %q", log, want)
			}
			runGit(t, up.bare, "fsck", "--strict")
		})
	}
}

func fsOf(t *testing.T, w *Writer, commit string) fs.FS {
	t.Helper()
	fsys, err := w.repo.FS(commit)
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

func TestRevertOfLinesChangedAgainIsAConflict(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": descriptor})
	reverted := up.commit("Scale to 5", map[string]string{"tandem.yaml": strings.Replace(descriptor, "scale: 3", "scale: 5", 1)})
	head := up.commit("Scale to 6", map[string]string{"tandem.yaml": strings.Replace(descriptor, "scale: 3", "scale: 6", 1)})
	if gitRevert(t, up, reverted) != "" {
		t.Fatal("git revert does not conflict; the fixture is wrong")
	}
	w, _ := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})

	_, err := w.Revert(context.Background(), reverted, olga, "Undo the scale")
	var conflict *ConflictError
	if !errors.As(err, &conflict) || strings.Join(conflict.Paths, ",") != "tandem.yaml" || conflict.Base != reverted || conflict.Head != head {
		t.Fatalf("Revert error = %v, want a ConflictError on tandem.yaml", err)
	}
	if up.head("main") != head {
		t.Error("the remote moved")
	}
}

func TestRevertRefusesWhatGitRevertWouldNotDoPlainly(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": descriptor})
	runGit(t, up.work, "checkout", "--quiet", "-b", "side")
	up.write(map[string]string{"side.yaml": "x: 1\n"})
	runGit(t, up.work, "add", "--all")
	runGit(t, up.work, "commit", "--quiet", "-m", "Side")
	runGit(t, up.work, "push", "--quiet", "origin", "side")
	runGit(t, up.work, "checkout", "--quiet", "main")
	up.commit("Scale to 4", map[string]string{"tandem.yaml": strings.Replace(descriptor, "scale: 3", "scale: 4", 1)})
	runGit(t, up.work, "merge", "--quiet", "--no-ff", "-m", "Merge side", "side")
	runGit(t, up.work, "push", "--quiet", "origin", "main")
	merge := up.head("main")
	empty := up.commit("Nothing", nil)

	w, _ := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})
	// A commit of another branch is not in the mirror of main.
	runGit(t, up.work, "checkout", "--quiet", "-b", "other")
	other := up.commit("Elsewhere", map[string]string{"other.yaml": "x: 1\n"})
	tests := []struct {
		name, commit, want string
	}{
		{"a merge commit", merge, "is a merge of 2 parents"},
		{"a commit changing nothing", empty, "changes no files"},
		{"a commit not fetched", other, "read commit"},
		{"an abbreviated SHA", merge[:12], "not a full commit SHA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.Revert(context.Background(), tt.commit, olga, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Revert error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestStageBuildsTheRevertedTreeWithoutPushing(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": descriptor})
	reverted := up.commit("Scale to 5", map[string]string{"tandem.yaml": strings.Replace(descriptor, "scale: 3", "scale: 5", 1), "sites/lyon.yaml": "weight: 1\n"})
	w, head := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})

	change, err := w.RevertChange(reverted, olga, "")
	if err != nil {
		t.Fatal(err)
	}
	staged, err := w.Stage(change, head.Commit)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	fsys := fsOf(t, w, staged)
	if got, err := fs.ReadFile(fsys, "tandem.yaml"); string(got) != descriptor {
		t.Errorf("staged tandem.yaml = %q, %v; want the content before the reverted commit", got, err)
	}
	if _, err := fs.Stat(fsys, "sites"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("staged sites/ = %v, want it gone with its only file", err)
	}
	if up.head("main") != head.Commit {
		t.Error("Stage pushed")
	}
	if resolved, _ := w.repo.Resolve(); resolved.Commit != head.Commit {
		t.Errorf("mirror's branch moved to %s", resolved.Commit)
	}

	rev, err := w.Commit(context.Background(), change)
	if err != nil {
		t.Fatal(err)
	}
	if pushed, want := runGit(t, up.bare, "rev-parse", rev.Commit+"^{tree}"), runGit(t, up.bare, "rev-parse", reverted+"^^{tree}"); pushed != want {
		t.Errorf("pushed tree %s, want the reverted commit's parent's %s", pushed, want)
	}

	again, err := w.Stage(change, rev.Commit)
	if err != nil || again != "" {
		t.Errorf("Stage on a head that has the change = %q, %v; want nothing to commit", again, err)
	}
}
