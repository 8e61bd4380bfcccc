package gitwrite

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/tandem-gitops/tandem/sources"
)

// build writes the change's blobs, trees and commit on top of head into the
// mirror, applying the rule documented on Change. It returns the zero hash
// when head already has the change.
func (w *Writer) build(change Change, head string) (plumbing.Hash, error) {
	var commit plumbing.Hash
	err := w.repo.Objects(func(s storer.EncodedObjectStorer) error {
		var err error
		commit, err = w.buildIn(objects{s}, change, head)
		return err
	})
	return commit, err
}

// buildIn is build, holding the mirror's objects.
func (w *Writer) buildIn(r objects, change Change, head string) (plumbing.Hash, error) {
	url, branch := w.repo.URL(), w.repo.Spec().Ref.Branch
	headCommit, err := object.GetCommit(r.s, plumbing.NewHash(head))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read head %s of %s: %w", head, url, err)
	}
	baseCommit, err := object.GetCommit(r.s, plumbing.NewHash(change.Base))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read base %s of %s (not on branch %s?): %w", change.Base, url, branch, err)
	}
	headTree, err := headCommit.Tree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read tree of %s: %w", head, err)
	}
	baseTree, err := baseCommit.Tree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read tree of %s: %w", change.Base, err)
	}

	// blobsAt returns the blob at name in the head and the base trees.
	blobsAt := func(name string) (atHead, atBase plumbing.Hash, err error) {
		if atHead, err = r.blobAt(headTree, name); err != nil {
			return atHead, atBase, fmt.Errorf("commit to branch %s of %s: %s at %.12s: %w", branch, url, name, head, err)
		}
		if atBase, err = r.blobAt(baseTree, name); err != nil {
			return atHead, atBase, fmt.Errorf("commit to branch %s of %s: %s at %.12s: %w", branch, url, name, change.Base, err)
		}
		return atHead, atBase, nil
	}
	edits := map[string]plumbing.Hash{}
	var conflicts []string
	for _, name := range slices.Sorted(maps.Keys(change.Files)) {
		content := change.Files[name]
		want := plumbing.ComputeHash(plumbing.BlobObject, content)
		atHead, atBase, err := blobsAt(name)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch {
		case atHead == want:
			continue
		case atHead.IsZero() && !atBase.IsZero():
			conflicts = append(conflicts, name) // deleted upstream
			continue
		case atHead != atBase:
			merged, ok, err := r.merge(atBase, content, atHead)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("commit to branch %s of %s: merge %s: %w", branch, url, name, err)
			}
			if !ok {
				conflicts = append(conflicts, name)
				continue
			}
			content, want = merged, plumbing.ComputeHash(plumbing.BlobObject, merged)
			if want == atHead {
				continue
			}
		}
		if err := r.writeBlob(content); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("store %s: %w", name, err)
		}
		edits[name] = want
	}
	for _, name := range change.Deletes {
		atHead, atBase, err := blobsAt(name)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch {
		case atHead.IsZero():
		case atHead != atBase:
			conflicts = append(conflicts, name) // edited upstream
		default:
			edits[name] = plumbing.ZeroHash
		}
	}
	slices.Sort(conflicts)
	if len(conflicts) > 0 {
		return plumbing.ZeroHash, &ConflictError{URL: url, Branch: branch, Paths: conflicts, Base: change.Base, Head: head}
	}
	if len(edits) == 0 {
		return plumbing.ZeroHash, nil
	}

	tree, err := r.writeTree(headTree, "", edits)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit to branch %s of %s: %w", branch, url, err)
	}
	author, committer, when := w.signatures(change)
	commit := &object.Commit{
		Author:       object.Signature{Name: author.Name, Email: author.Email, When: when},
		Committer:    object.Signature{Name: committer.Name, Email: committer.Email, When: when},
		Message:      strings.TrimRight(change.Message, "\n") + "\n",
		TreeHash:     tree,
		ParentHashes: []plumbing.Hash{headCommit.Hash},
	}
	return r.store(commit)
}

// objects edits the mirror's object storage; build holds it for the
// duration of one change.
type objects struct{ s storer.EncodedObjectStorer }

// blobAt returns the blob of the regular file name in tree, or the zero
// hash when there is no such path.
func (r objects) blobAt(tree *object.Tree, name string) (plumbing.Hash, error) {
	elems := strings.Split(name, "/")
	for i, elem := range elems {
		j := slices.IndexFunc(tree.Entries, func(e object.TreeEntry) bool { return e.Name == elem })
		if j < 0 {
			return plumbing.ZeroHash, nil
		}
		e := tree.Entries[j]
		if i == len(elems)-1 {
			if e.Mode != filemode.Regular && e.Mode != filemode.Executable && e.Mode != filemode.Deprecated {
				return plumbing.ZeroHash, fmt.Errorf("not a regular file (mode %s)", e.Mode)
			}
			return e.Hash, nil
		}
		if e.Mode != filemode.Dir {
			return plumbing.ZeroHash, fmt.Errorf("%s is not a directory", strings.Join(elems[:i+1], "/"))
		}
		t, err := object.GetTree(r.s, e.Hash)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read directory %s: %w", strings.Join(elems[:i+1], "/"), err)
		}
		tree = t
	}
	return plumbing.ZeroHash, nil
}

// merge merges the change's content of a file with the head's, both
// edits of the base's (blobs; zero for an absent file).
func (r objects) merge(base plumbing.Hash, ours []byte, head plumbing.Hash) ([]byte, bool, error) {
	var baseContent []byte
	if !base.IsZero() {
		b, err := r.readBlob(base)
		if err != nil {
			return nil, false, err
		}
		baseContent = b
	}
	headContent, err := r.readBlob(head)
	if err != nil {
		return nil, false, err
	}
	merged, ok := merge3(baseContent, ours, headContent)
	return merged, ok, nil
}

func (r objects) writeBlob(content []byte) error {
	obj := r.s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return err
	}
	if _, err := w.Write(content); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	_, err = r.s.SetEncodedObject(obj)
	return err
}

// writeTree stores a copy of tree (nil for a new directory), the
// directory dir of the repository, with the edits (paths relative to dir,
// mapped to blobs, or to the zero hash to delete) applied, and returns its
// hash: the zero hash for a directory left empty, which git does not store.
func (r objects) writeTree(tree *object.Tree, dir string, edits map[string]plumbing.Hash) (plumbing.Hash, error) {
	entries := map[string]object.TreeEntry{}
	if tree != nil {
		for _, e := range tree.Entries {
			entries[e.Name] = e
		}
	}
	nested := map[string]map[string]plumbing.Hash{}
	for name, blob := range edits {
		if sub, rest, ok := strings.Cut(name, "/"); ok {
			if nested[sub] == nil {
				nested[sub] = map[string]plumbing.Hash{}
			}
			nested[sub][rest] = blob
			continue
		}
		if blob.IsZero() {
			delete(entries, name)
			continue
		}
		mode := filemode.Regular
		if old, exists := entries[name]; exists && old.Mode == filemode.Executable {
			mode = old.Mode
		}
		entries[name] = object.TreeEntry{Name: name, Mode: mode, Hash: blob}
	}
	for sub, subEdits := range nested {
		var subtree *object.Tree
		if old, exists := entries[sub]; exists {
			if old.Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("%s is not a directory", path.Join(dir, sub))
			}
			t, err := object.GetTree(r.s, old.Hash)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("read directory %s: %w", path.Join(dir, sub), err)
			}
			subtree = t
		}
		h, err := r.writeTree(subtree, path.Join(dir, sub), subEdits)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if h.IsZero() {
			delete(entries, sub)
			continue
		}
		entries[sub] = object.TreeEntry{Name: sub, Mode: filemode.Dir, Hash: h}
	}
	if len(entries) == 0 && dir != "" {
		return plumbing.ZeroHash, nil
	}
	sorted := slices.SortedFunc(maps.Values(entries), func(a, b object.TreeEntry) int {
		return strings.Compare(gitSortKey(a), gitSortKey(b))
	})
	return r.store(&object.Tree{Entries: sorted})
}

// gitSortKey orders tree entries as git does: a directory sorts as if its
// name ended with "/".
func gitSortKey(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// store encodes a tree or commit into the mirror.
func (r objects) store(o interface {
	Encode(plumbing.EncodedObject) error
}) (plumbing.Hash, error) {
	obj := r.s.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.s.SetEncodedObject(obj)
}

// readBlob returns the whole content of a blob.
func (r objects) readBlob(hash plumbing.Hash) ([]byte, error) { return sources.ReadBlob(r.s, hash) }
