package sources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Location is what a user points a command at: a directory, a Git
// repository on disk (or a subdirectory of one), or a remote repository.
type Location struct {
	// Path is a local directory. With no revision it is read as it is on
	// disk; with one, it is in a Git repository, working tree or bare,
	// and the revision's tree is read, of the same subdirectory.
	Path string
	// Remote, when its URL is set, is a remote repository, fetched into a
	// mirror; Path is then not read. Its Ref is not used: the revision
	// opened says what to fetch.
	Remote Spec
	// CacheDir keeps a remote's mirror for later runs; when empty, the
	// mirror is made in a temporary directory that Close removes.
	CacheDir string
	// Logger receives a remote's fetch logs; slog.Default() when nil.
	Logger *slog.Logger
}

// Snapshot is one revision of a Location, opened for reading.
type Snapshot struct {
	// FS holds the revision's files, read-only.
	FS fs.FS
	// Revision names what FS holds. For a directory, its Digest is left
	// for the caller to set.
	Revision Revision

	close func() error
}

// Close releases the snapshot's files and removes any temporary mirror.
// FS must not be read after it.
func (s *Snapshot) Close() error { return s.close() }

// OpenRevision opens revision rev of what loc points at, as every command
// reads its input:
//   - a directory, with rev empty: its files as they are on disk, opened
//     as an [os.Root] so that no symbolic link leads outside it;
//   - a directory in a Git repository: rev as "git rev-parse" reads it (a
//     branch, a tag, origin/main, HEAD~1, a commit SHA), of the same
//     subdirectory, with no checkout;
//   - a remote: rev as [ParseRef] reads it, fetched into a mirror; a plain
//     name the remote has no branch of is tried as a tag.
func OpenRevision(ctx context.Context, loc Location, rev string) (*Snapshot, error) {
	switch {
	case loc.Remote.URL != "":
		return openRemote(ctx, loc, rev)
	case rev != "":
		return openLocal(loc.Path, rev)
	}
	return openDir(loc.Path)
}

func openDir(dir string) (*Snapshot, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open config repository: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open config repository: %w", err)
	}
	return &Snapshot{FS: root.FS(), Revision: Revision{Dir: abs, Given: dir}, close: root.Close}, nil
}

func openLocal(dir, rev string) (*Snapshot, error) {
	repo, err := OpenLocal(dir)
	if err != nil {
		return nil, err
	}
	resolved, err := repo.Resolve(rev)
	if err != nil {
		repo.Close()
		return nil, err
	}
	fsys, err := repo.FS(resolved.Commit)
	if err != nil {
		repo.Close()
		return nil, fmt.Errorf("revision %s: %w", rev, err)
	}
	resolved.Given = rev
	return &Snapshot{FS: fsys, Revision: resolved, close: repo.Close}, nil
}

func openRemote(ctx context.Context, loc Location, rev string) (*Snapshot, error) {
	ref, err := ParseRef(rev)
	if err != nil {
		return nil, err
	}
	refs := []Ref{ref}
	if ref.Branch == rev {
		refs = append(refs, Ref{Tag: rev})
	}
	cacheDir, removeCache := loc.CacheDir, func() error { return nil }
	if cacheDir == "" {
		tmp, err := os.MkdirTemp("", "tandem-")
		if err != nil {
			return nil, err
		}
		cacheDir, removeCache = tmp, func() error { return os.RemoveAll(tmp) }
	} else if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache directory: %w", err)
	}
	for _, ref := range refs {
		spec := loc.Remote
		spec.Ref = ref
		var repo *Repository
		if repo, err = Open(spec, Options{CacheDir: cacheDir, Logger: loc.Logger}); err != nil {
			break
		}
		var resolved Revision
		if resolved, err = repo.Fetch(ctx); err != nil {
			repo.Close()
			if errors.Is(err, ErrRefNotFound) {
				continue
			}
			break
		}
		fsys, err := repo.FS(resolved.Commit)
		if err != nil {
			repo.Close()
			removeCache()
			return nil, fmt.Errorf("revision %s: %w", rev, err)
		}
		resolved.Given = rev
		return &Snapshot{FS: fsys, Revision: resolved, close: func() error {
			return errors.Join(repo.Close(), removeCache())
		}}, nil
	}
	removeCache()
	return nil, fmt.Errorf("%q: %w", rev, err)
}
