package sources

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// commitOnHead stores in the mirror a commit with head's tree and head as
// its parent, as a writer would, and returns its SHA.
func commitOnHead(t testing.TB, repo *Repository, head, subject string) string {
	t.Helper()
	var hash plumbing.Hash
	err := repo.Objects(func(s storer.EncodedObjectStorer) error {
		parent, err := object.GetCommit(s, plumbing.NewHash(head))
		if err != nil {
			return err
		}
		sig := object.Signature{Name: "Olga", Email: "olga@example.com", When: time.Now()}
		c := &object.Commit{Author: sig, Committer: sig, Message: subject + "\n", TreeHash: parent.TreeHash, ParentHashes: []plumbing.Hash{parent.Hash}}
		obj := s.NewEncodedObject()
		if err := c.Encode(obj); err != nil {
			return err
		}
		hash, err = s.SetEncodedObject(obj)
		return err
	})
	if err != nil {
		t.Fatalf("store commit: %v", err)
	}
	return hash.String()
}

func TestPushRecordsTheCommitInTheMirror(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	head, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}

	pushed, err := repo.Push(context.Background(), commitOnHead(t, repo, head.Commit, "Scale to 2"))
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if pushed.Commit != up.head("main") || pushed.Ref != "refs/heads/main" || pushed.Subject != "Scale to 2" {
		t.Errorf("Push = %+v, remote head %s", pushed, up.head("main"))
	}
	if resolved, err := repo.Resolve(); err != nil || resolved.Commit != pushed.Commit {
		t.Errorf("mirror after push resolves to %s, %v; want %s", resolved.Commit, err, pushed.Commit)
	}
}

func TestPushRefusesStaleCommitAndNonBranchRefs(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	head, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	moved := up.commit("Scale to 3 by hand", map[string]string{"tandem.yaml": "scale: 3\n"})
	if _, err := repo.Push(context.Background(), commitOnHead(t, repo, head.Commit, "Scale to 2")); err == nil || up.head("main") != moved {
		t.Errorf("Push onto a moved branch = %v, remote head %s; want it rejected and %s kept", err, up.head("main"), moved)
	}

	pinned := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Commit: head.Commit}}, t.TempDir())
	if _, err := pinned.Push(context.Background(), head.Commit); err == nil || !strings.Contains(err.Error(), "not a branch") {
		t.Errorf("Push of a pinned commit's repository: error = %v, want it to say not a branch", err)
	}
}
