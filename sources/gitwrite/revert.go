package gitwrite

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/tandem-gitops/tandem/sources"
)

// RevertChange returns the Change that undoes commit, as "git revert"
// does: based on commit, it gives every file the commit changed its
// content at the commit's first parent, and deletes every file the commit
// added. Applied to a later head, lines edited again since commit are a
// ConflictError, never overwritten.
//
// The message is the commit message, "Revert "<subject>"" when empty; a
// line "This reverts commit <sha>." is added to it. The commit must be in
// the mirror and on the branch as last fetched, and not be a merge commit.
func (w *Writer) RevertChange(commit string, author Signature, message string) (Change, error) {
	url, branch := w.repo.URL(), w.repo.Spec().Ref.Branch
	if !commitSHA.MatchString(commit) {
		return Change{}, fmt.Errorf("revert %q on branch %s of %s: not a full commit SHA", commit, branch, url)
	}
	head, err := w.repo.Resolve()
	if err != nil {
		return Change{}, fmt.Errorf("revert %.12s: %w", commit, err)
	}
	change := Change{Base: commit, Files: map[string][]byte{}, Author: author}
	var subject string
	err = w.repo.Objects(func(s storer.EncodedObjectStorer) error {
		var err error
		subject, err = revertIn(objects{s}, commit, head.Commit, &change)
		return err
	})
	if err != nil {
		return Change{}, fmt.Errorf("revert %.12s on branch %s of %s: %w", commit, branch, url, err)
	}
	if strings.TrimSpace(message) == "" {
		message = fmt.Sprintf("Revert %q", subject)
	}
	change.Message = strings.TrimRight(message, "\n") + "\n\nThis reverts commit " + commit + "."
	return change, nil
}

// revertIn fills change with the files commit changed, at its first
// parent, and returns the commit's subject.
func revertIn(r objects, commit, head string, change *Change) (string, error) {
	c, err := object.GetCommit(r.s, plumbing.NewHash(commit))
	if err != nil {
		return "", fmt.Errorf("read commit: %w", err)
	}
	h, err := object.GetCommit(r.s, plumbing.NewHash(head))
	if err != nil {
		return "", fmt.Errorf("read head %.12s: %w", head, err)
	}
	if onBranch, err := c.IsAncestor(h); err != nil {
		return "", fmt.Errorf("walk history from head %.12s: %w", head, err)
	} else if !onBranch {
		return "", fmt.Errorf("the commit is not on the branch at %.12s", head)
	}
	if len(c.ParentHashes) > 1 {
		return "", fmt.Errorf("the commit is a merge of %d parents; revert the commits it merged", len(c.ParentHashes))
	}
	tree, err := c.Tree()
	if err != nil {
		return "", fmt.Errorf("read tree: %w", err)
	}
	parentTree := &object.Tree{}
	if len(c.ParentHashes) == 1 {
		p, err := object.GetCommit(r.s, c.ParentHashes[0])
		if err != nil {
			return "", fmt.Errorf("read parent: %w", err)
		}
		if parentTree, err = p.Tree(); err != nil {
			return "", fmt.Errorf("read tree of parent %.12s: %w", p.Hash, err)
		}
	}
	changes, err := object.DiffTree(parentTree, tree)
	if err != nil {
		return "", fmt.Errorf("diff with its parent: %w", err)
	}
	for _, ch := range changes {
		if ch.From.Name != "" && ch.To.Name != "" && ch.From.Name != ch.To.Name {
			return "", fmt.Errorf("unexpected rename of %s to %s", ch.From.Name, ch.To.Name)
		}
		if ch.From.Name == "" {
			change.Deletes = append(change.Deletes, ch.To.Name)
			continue
		}
		before, err := r.blobAt(parentTree, ch.From.Name)
		if err != nil {
			return "", fmt.Errorf("%s at the parent: %w", ch.From.Name, err)
		}
		content, err := r.readBlob(before)
		if err != nil {
			return "", fmt.Errorf("read %s at the parent: %w", ch.From.Name, err)
		}
		change.Files[ch.From.Name] = content
	}
	if len(change.Files) == 0 && len(change.Deletes) == 0 {
		return "", fmt.Errorf("the commit changes no files")
	}
	return newSubject(c.Message), nil
}

func newSubject(message string) string {
	subject, _, _ := strings.Cut(strings.TrimLeft(message, "\n"), "\n")
	return strings.TrimSpace(subject)
}

// Revert commits and pushes RevertChange(commit, author, message), as
// Commit does: a *ConflictError when lines the commit changed were changed
// again on the branch since, and the unchanged head when the branch
// already has the reverted content.
func (w *Writer) Revert(ctx context.Context, commit string, author Signature, message string) (sources.Revision, error) {
	change, err := w.RevertChange(commit, author, message)
	if err != nil {
		return sources.Revision{}, err
	}
	return w.Commit(ctx, change)
}

// Stage builds the commit that Commit would push for change on top of head
// and stores it in the mirror, without pushing it, so that the result can
// be read before it is written: Repository.FS of the returned SHA is the
// tree the branch would have, to render as a preview. It returns "" when
// head already has the change, and a *ConflictError as Commit would. The
// staged commit is named by no ref and goes when the mirror is repacked.
func (w *Writer) Stage(change Change, head string) (string, error) {
	url, branch := w.repo.URL(), w.repo.Spec().Ref.Branch
	if err := w.validate(change); err != nil {
		return "", fmt.Errorf("stage a commit on branch %s of %s: %w", branch, url, err)
	}
	if !commitSHA.MatchString(head) {
		return "", fmt.Errorf("stage a commit on branch %s of %s: head %q is not a full commit SHA", branch, url, head)
	}
	commit, err := w.build(change, head)
	if err != nil || commit.IsZero() {
		return "", err
	}
	return commit.String(), nil
}
