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
	cacheDir, removeCache := loc.CacheDir, func() error { return nil }
	if cacheDir == "" {
		tmp, err := os.MkdirTemp("", "tandem-")
		if err != nil {
			return nil, err
		}
		cacheDir, removeCache = tmp, func() error { return os.RemoveAll(tmp) }
	}
	repo, resolved, err := Follow(ctx, loc.Remote, rev, Options{CacheDir: cacheDir, Logger: loc.Logger})
	if err != nil {
		if repo != nil {
			repo.Close()
		}
		removeCache()
		return nil, fmt.Errorf("%q: %w", rev, err)
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

// Follow opens a mirror of spec's remote following what a user named,
// rev as ParseRef reads it; a plain name the remote has no branch of is
// followed as the tag of that name. It fetches once to tell, and returns
// the revision found. When that fetch fails otherwise (the remote cannot be
// reached), it returns the mirror following the branch with the error, for
// a poller to fetch again; a name that is neither a branch nor a tag is an
// error with no mirror.
func Follow(ctx context.Context, spec Spec, rev string, opts Options) (*Repository, Revision, error) {
	ref, err := ParseRef(rev)
	if err != nil {
		return nil, Revision{}, err
	}
	refs := []Ref{ref}
	if ref.Branch == rev {
		refs = append(refs, Ref{Tag: rev})
	}
	if opts.CacheDir != "" {
		if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
			return nil, Revision{}, fmt.Errorf("create cache directory: %w", err)
		}
	}
	for i, ref := range refs {
		spec.Ref = ref
		repo, err := Open(spec, opts)
		if err != nil {
			return nil, Revision{}, err
		}
		resolved, err := repo.Fetch(ctx)
		switch {
		case err == nil:
			return repo, resolved, nil
		case errors.Is(err, ErrRefNotFound) && i+1 < len(refs):
			repo.Close()
		case errors.Is(err, ErrRefNotFound):
			repo.Close()
			return nil, Revision{}, err
		case i == 0:
			return repo, Revision{}, err
		default:
			repo.Close()
			return nil, Revision{}, err
		}
	}
	return nil, Revision{}, ErrRefNotFound
}
