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
// diff" renders two revisions of the checkout it runs in.
type LocalRepository struct {
	r *Repository
}

// OpenLocal opens the Git repository at dir or in one of its parents, as git
// does. It only reads the repository.
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
	url := "file://" + filepath.ToSlash(abs)
	return &LocalRepository{r: &Repository{
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

// FS returns the tree of a commit as a read-only file system, presented as
// Repository.FS presents a mirrored commit.
func (l *LocalRepository) FS(commit string) (fs.FS, error) { return l.r.FS(commit) }
