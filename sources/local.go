package sources

import (
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// LocalRepository reads the commits of a Git repository on disk, a working
// tree's or a bare one, in place: no mirror, no network. It is how "tandem
// diff" and "tandem apply --revision" read revisions of the checkout they
// run in.
type LocalRepository struct {
	r *Repository
	// sub is the directory OpenLocal was given, relative to the root of
	// its working tree, in slash form; "" at the root or in a bare
	// repository.
	sub string
}

// OpenLocal opens the Git repository at dir or in one of its parents, as git
// does. When dir is a subdirectory of a working tree, such as a config
// repository kept in a folder of a larger one, FS reads that subdirectory of
// each commit. It only reads the repository.
func OpenLocal(dir string) (*LocalRepository, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	storage, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("open repository %s: unsupported storage %T", dir, repo.Storer)
	}
	sub := ""
	if wt, err := repo.Worktree(); err == nil {
		rel, err := filepath.Rel(wt.Filesystem.Root(), abs)
		if err != nil {
			return nil, fmt.Errorf("open repository %s: %w", dir, err)
		}
		if rel != "." {
			sub = filepath.ToSlash(rel)
		}
	}
	url := "file://" + filepath.ToSlash(abs)
	return &LocalRepository{sub: sub, r: &Repository{
		spec:    Spec{URL: url},
		url:     url,
		log:     slog.Default().With("repo", url),
		storage: storage,
		git:     repo,
	}}, nil
}

// Close releases the repository's open files.
func (l *LocalRepository) Close() error { return l.r.Close() }

// Resolve resolves rev as "git rev-parse" does, to the commit it names:
// a branch, a tag, a remote-tracking branch such as origin/main, HEAD,
// a full or abbreviated commit SHA, or any of these with ~n or ^n suffixes.
// The Revision's Ref is the full name of the ref rev names, or the commit SHA
// when it names no ref.
func (l *LocalRepository) Resolve(rev string) (Revision, error) {
	r := l.r
	r.mu.Lock()
	defer r.mu.Unlock()
	hash, err := r.git.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return Revision{}, fmt.Errorf("resolve revision %q in %s: %w", rev, r.url, err)
	}
	commit, err := r.peelLocked(*hash)
	if err != nil {
		return Revision{}, fmt.Errorf("resolve revision %q in %s: %w", rev, r.url, err)
	}
	return newRevision(r.url, r.refNameLocked(rev, commit.Hash.String()), commit), nil
}

// refNameLocked returns the full name of the ref that rev names, following
// git's rules for short names, or commit when rev names no ref.
func (r *Repository) refNameLocked(rev, commit string) string {
	for _, rule := range plumbing.RefRevParseRules {
		name := plumbing.ReferenceName(fmt.Sprintf(rule, rev))
		if _, err := r.git.Reference(name, true); err != nil {
			continue
		}
		if name == plumbing.HEAD {
			if head, err := r.git.Reference(plumbing.HEAD, false); err == nil && head.Type() == plumbing.SymbolicReference {
				return head.Target().String()
			}
		}
		return name.String()
	}
	return commit
}

// FS returns the tree of a commit, or of the subdirectory OpenLocal was
// given, as a read-only file system, presented as Repository.FS presents a
// mirrored commit.
func (l *LocalRepository) FS(commit string) (fs.FS, error) {
	tree, err := l.r.FS(commit)
	if err != nil || l.sub == "" {
		return tree, err
	}
	sub, err := fs.Sub(tree, l.sub)
	if err != nil {
		return nil, fmt.Errorf("read %s of commit %s: %w", l.sub, commit, err)
	}
	return sub, nil
}
