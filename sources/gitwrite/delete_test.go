package gitwrite

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tandem-gitops/tandem/sources"
)

func TestChangeDeletesFiles(t *testing.T) {
	tests := []struct {
		name     string
		change   func(base string) Change
		upstream map[string]string // committed after the change's base
		// wantFiles lists the remote's files after the commit; conflict
		// names the file a ConflictError reports instead.
		wantFiles string
		conflict  string
	}{
		{
			name: "a file, and its directory when it was the last",
			change: func(base string) Change {
				return Change{Base: base, Deletes: []string{"sites/new/lyon.yaml", "sites/berlin.yaml"}, Files: map[string][]byte{"tandem.yaml": []byte("scale: 2\n")}}
			},
			wantFiles: "sites/paris.yaml tandem.yaml",
		},
		{
			name: "a file deleted upstream too",
			change: func(base string) Change {
				return Change{Base: base, Deletes: []string{"sites/berlin.yaml"}}
			},
			upstream:  map[string]string{"sites/berlin.yaml": ""},
			wantFiles: "sites/new/lyon.yaml sites/paris.yaml tandem.yaml",
		},
		{
			name: "a file edited upstream is a conflict",
			change: func(base string) Change {
				return Change{Base: base, Deletes: []string{"sites/berlin.yaml"}}
			},
			upstream: map[string]string{"sites/berlin.yaml": "weight: 3\n"},
			conflict: "sites/berlin.yaml",
		},
		{
			name: "editing a file deleted upstream is a conflict",
			change: func(base string) Change {
				return Change{Base: base, Files: map[string][]byte{"sites/berlin.yaml": []byte("weight: 2\n")}}
			},
			upstream: map[string]string{"sites/berlin.yaml": ""},
			conflict: "sites/berlin.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n", "sites/berlin.yaml": "weight: 1\n", "sites/paris.yaml": "weight: 1\n", "sites/new/lyon.yaml": "weight: 1\n"})
			w, base := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})
			if tt.upstream != nil {
				up.commit("Upstream edit", tt.upstream)
			}
			change := tt.change(base.Commit)
			change.Author, change.Message = olga, "Edit sites"

			_, err := w.Commit(context.Background(), change)
			if tt.conflict != "" {
				var conflict *ConflictError
				if !errors.As(err, &conflict) || strings.Join(conflict.Paths, ",") != tt.conflict {
					t.Fatalf("Commit error = %v, want a ConflictError on %s", err, tt.conflict)
				}
				return
			}
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			files := strings.Join(strings.Fields(runGit(t, up.bare, "ls-tree", "-r", "--name-only", "main")), " ")
			if files != tt.wantFiles {
				t.Errorf("files on the remote = %s, want %s", files, tt.wantFiles)
			}
			runGit(t, up.bare, "fsck", "--strict")
		})
	}
}

func TestChangeRefusesWritingAndDeletingOneFile(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	w, base := newTestWriter(t, sources.Spec{URL: up.fileURL(), Ref: sources.Ref{Branch: "main"}})
	tests := []struct {
		name   string
		change Change
		want   string
	}{
		{"both", Change{Files: map[string][]byte{"tandem.yaml": nil}, Deletes: []string{"tandem.yaml"}}, `file "tandem.yaml" is both written and deleted`},
		{"an invalid path", Change{Deletes: []string{"../tandem.yaml"}}, `invalid file path "../tandem.yaml" to delete`},
		{"the git directory", Change{Deletes: []string{".git/config"}}, "invalid file path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change.Base, tt.change.Author, tt.change.Message = base.Commit, olga, "Edit"
			if _, err := w.Commit(context.Background(), tt.change); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Commit error = %v, want %q", err, tt.want)
			}
		})
	}
}
