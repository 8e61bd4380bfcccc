package sources

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Commit is one commit of a repository's history, as a history page lists
// it.
type Commit struct {
	// SHA is the commit's full SHA.
	SHA string
	// Parent is the SHA of the first parent; empty for a root commit.
	Parent string
	// AuthorName and AuthorEmail say who made the change, AuthorTime when.
	AuthorName, AuthorEmail string
	AuthorTime              time.Time
	// Subject is the first line of the commit message.
	Subject string
}

// History returns the newest limit commits of the followed ref, as last
// fetched, that changed any of paths: files or directories (everything
// below them), slash-separated and relative to the repository root, "."
// for the whole tree. It walks first parents only, as "git log
// --first-parent" does, so a merged branch shows as its merge commit and
// the list is what happened to the branch, newest first. A commit changes
// a path when the path's content differs from its first parent's (for a
// root commit, when the path exists).
func (r *Repository) History(ctx context.Context, paths []string, limit int) ([]Commit, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("history of %s: limit %d must be > 0", r.url, limit)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("history of %s: no paths", r.url)
	}
	elems := make([][]string, len(paths))
	for i, p := range paths {
		if !fs.ValidPath(p) {
			return nil, fmt.Errorf("history of %s: invalid path %q", r.url, p)
		}
		if p != "." {
			elems[i] = strings.Split(p, "/")
		}
	}
	rev, err := r.Resolve()
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", r.url, err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Commit
	c, err := r.git.CommitObject(plumbing.NewHash(rev.Commit))
	for err == nil && len(out) < limit {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("history of %s: %w", r.url, err)
		}
		var parent *object.Commit
		if len(c.ParentHashes) > 0 {
			if parent, err = r.git.CommitObject(c.ParentHashes[0]); err != nil {
				// A shallow or pruned mirror ends here.
				return nil, fmt.Errorf("history of %s: read parent of %s: %w", r.url, c.Hash, err)
			}
		}
		changed, err := r.changesLocked(c, parent, elems)
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", r.url, err)
		}
		if changed {
			out = append(out, newCommit(c))
		}
		if parent == nil {
			return out, nil
		}
		c = parent
	}
	if err != nil {
		return nil, fmt.Errorf("history of %s: read commit %s: %w", r.url, rev.Commit, err)
	}
	return out, nil
}

func newCommit(c *object.Commit) Commit {
	out := Commit{
		SHA:         c.Hash.String(),
		AuthorName:  c.Author.Name,
		AuthorEmail: c.Author.Email,
		AuthorTime:  c.Author.When,
		Subject:     newRevision("", "", c).Subject,
	}
	if len(c.ParentHashes) > 0 {
		out.Parent = c.ParentHashes[0].String()
	}
	return out
}

// changesLocked reports whether commit c changed any of the paths (each
// split into its elements, nil for the root) since parent, nil for none.
// Trees and blobs are addressed by content, so comparing the hashes at a
// path compares everything below it without reading it.
func (r *Repository) changesLocked(c, parent *object.Commit, paths [][]string) (bool, error) {
	for _, elems := range paths {
		now, err := r.hashAtLocked(c.TreeHash, elems)
		if err != nil {
			return false, fmt.Errorf("commit %s: %w", c.Hash, err)
		}
		before := plumbing.ZeroHash
		if parent != nil {
			if before, err = r.hashAtLocked(parent.TreeHash, elems); err != nil {
				return false, fmt.Errorf("commit %s: %w", parent.Hash, err)
			}
		}
		if now != before {
			return true, nil
		}
	}
	return false, nil
}

// hashAtLocked returns the hash of the tree entry at a path below the tree
// root, or the zero hash when there is none.
func (r *Repository) hashAtLocked(root plumbing.Hash, elems []string) (plumbing.Hash, error) {
	hash := root
	for i, elem := range elems {
		tree, err := object.GetTree(r.storage, hash)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read directory %q: %w", path.Join(elems[:i]...), err)
		}
		j := slices.IndexFunc(tree.Entries, func(e object.TreeEntry) bool { return e.Name == elem })
		if j < 0 {
			return plumbing.ZeroHash, nil
		}
		if i < len(elems)-1 && tree.Entries[j].Mode != filemode.Dir {
			return plumbing.ZeroHash, nil // a file where the path has a directory
		}
		hash = tree.Entries[j].Hash
	}
	return hash, nil
}
