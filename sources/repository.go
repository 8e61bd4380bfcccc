package sources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ErrRefNotFound is returned when the remote does not have the spec's
// branch or tag (for example, the branch was deleted) or the pinned commit.
var ErrRefNotFound = errors.New("not found on the remote")

// objectCacheSize bounds go-git's decoded-object cache per repository. Its
// default (96 MiB) alone would exceed the daemon's memory budget.
const objectCacheSize = 8 * cache.MiByte

// maxOpenPacks bounds the pack files a mirror keeps open.
const maxOpenPacks = 8

// maxPacks is how many pack files a mirror accumulates, one per fetch that
// brought objects, before it is repacked into one: object lookups scan
// every pack's index.
const maxPacks = 50

// Options configures a Repository.
type Options struct {
	// CacheDir holds the bare mirrors, one directory per remote URL and ref.
	// It must be used by one process at a time, and each URL and ref by one
	// Repository.
	CacheDir string
	// Logger receives fetch and push logs; slog.Default() when nil.
	Logger *slog.Logger
}

// Repository is a local bare mirror of one remote, kept in a cache
// directory. It is safe for concurrent use by a poller, renders reading
// commits and a writer; operations on the mirror take turns, so a read waits
// for a fetch in progress, which the spec's timeout bounds.
type Repository struct {
	spec     Spec
	url      string // spec.URL without credentials, for logs, errors and revisions
	log      *slog.Logger
	dir      string
	maxPacks int

	// mu serialises every use of the mirror: go-git's object storage
	// indexes pack files lazily and is not safe for concurrent use.
	mu      sync.Mutex
	storage *filesystem.Storage
	git     *git.Repository
	remote  *git.Remote
}

// Open opens the mirror of spec.URL in opts.CacheDir, creating it when it
// does not exist and recreating it when it is unreadable. It does not touch
// the network; call Fetch.
func Open(spec Spec, opts Options) (*Repository, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	url := redactURL(spec.URL)
	if opts.CacheDir == "" {
		return nil, fmt.Errorf("open mirror of %s: cache directory must be set", url)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("repo", url, "ref", spec.Ref.String())

	dir := filepath.Join(opts.CacheDir, mirrorName(spec))
	storage, repo, err := openMirror(dir)
	if err != nil {
		log.Warn("recreating unreadable mirror", "dir", dir, "error", err)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("open mirror of %s: remove unreadable %s: %w", url, dir, err)
		}
		if storage, repo, err = openMirror(dir); err != nil {
			return nil, fmt.Errorf("open mirror of %s in %s: %w", url, dir, err)
		}
	}
	r := &Repository{spec: spec, url: url, log: log, dir: dir, maxPacks: maxPacks}
	r.use(storage, repo)
	return r, nil
}

// use makes the repository work on an opened mirror.
func (r *Repository) use(storage *filesystem.Storage, repo *git.Repository) {
	r.storage, r.git = storage, repo
	r.remote = git.NewRemote(storage, &config.RemoteConfig{Name: "origin", URLs: []string{r.spec.URL}})
}

func openMirror(dir string) (*filesystem.Storage, *git.Repository, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	storage := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(objectCacheSize),
		filesystem.Options{ExclusiveAccess: true, MaxOpenDescriptors: maxOpenPacks})
	repo, err := git.Open(storage, nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.Init(storage, nil)
	}
	if err != nil {
		storage.Close()
		return nil, nil, err
	}
	return storage, repo, nil
}

// mirrorName names the mirror directory of a spec: readable, and unique per
// URL and ref, so that two repositories following two refs of one remote
// never share a mirror.
func mirrorName(spec Spec) string {
	rawURL := spec.URL
	sum := sha256.Sum256([]byte(rawURL + "\x00" + spec.Ref.String()))
	base := strings.TrimSuffix(path.Base(strings.TrimRight(strings.ReplaceAll(rawURL, ":", "/"), "/")), ".git")
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, strings.Trim(hostOf(rawURL)+"_"+base, "_."))
	return name + "-" + hex.EncodeToString(sum[:6])
}

// Close releases the mirror's open files.
func (r *Repository) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.storage.Close()
}

// Spec returns the spec the repository was opened with.
func (r *Repository) Spec() Spec { return r.spec }

// Fetch brings the mirror up to date with the remote for the spec's ref and
// resolves it. Only missing objects are transferred. A branch or tag the
// remote no longer has is ErrRefNotFound; the mirror keeps the last
// fetched commit, which Resolve still returns.
func (r *Repository) Fetch(ctx context.Context) (Revision, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.spec.timeout())
	defer cancel()
	if err := r.fetchLocked(ctx); err != nil {
		return Revision{}, err
	}
	return r.resolveLocked()
}

// Resolve returns the revision the spec's ref points to in the mirror,
// without touching the network: after a restart, the last fetched revision.
func (r *Repository) Resolve() (Revision, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resolveLocked()
}

func (r *Repository) fetchLocked(ctx context.Context) error {
	ref := r.spec.Ref
	var refSpecs []config.RefSpec
	if ref.Commit != "" {
		if _, err := r.git.CommitObject(plumbing.NewHash(ref.Commit)); err == nil {
			return nil // a pinned commit never changes once mirrored
		}
		refSpecs = []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
	} else {
		refSpecs = []config.RefSpec{config.RefSpec("+" + ref.String() + ":" + ref.String())}
	}
	auth, err := r.spec.Auth.method(r.spec.URL)
	if err != nil {
		return fmt.Errorf("fetch %s from %s: %w", ref, r.url, err)
	}
	caBundle, err := r.spec.caBundle()
	if err != nil {
		return fmt.Errorf("fetch %s from %s: %w", ref, r.url, err)
	}
	start := time.Now()
	err = r.remote.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: refSpecs,
		Auth:     auth,
		CABundle: caBundle,
		Tags:     git.NoTags,
		Force:    true,
	})
	switch {
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		r.log.Debug("fetched, no change", "duration", time.Since(start))
		return nil
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		return fmt.Errorf("fetch %s from %s: %w", ref, r.url, ErrRefNotFound)
	case err != nil:
		return fmt.Errorf("fetch %s from %s: %w", ref, r.url, err)
	}
	r.log.Debug("fetched", "duration", time.Since(start))
	return r.repackLocked()
}

// repackLocked packs the mirror into one pack file once fetches have left
// more than maxPacks, then reopens it so no stale pack index stays cached.
// Objects no ref reaches any more (history a force-push dropped) go.
func (r *Repository) repackLocked() error {
	packs, err := r.storage.ObjectPacks()
	if err != nil || len(packs) <= r.maxPacks {
		return err
	}
	start := time.Now()
	if err := r.git.RepackObjects(&git.RepackConfig{}); err != nil {
		return fmt.Errorf("repack mirror of %s: %w", r.url, err)
	}
	if err := r.storage.Close(); err != nil {
		return fmt.Errorf("repack mirror of %s: %w", r.url, err)
	}
	storage, repo, err := openMirror(r.dir)
	if err != nil {
		return fmt.Errorf("reopen mirror of %s after repacking: %w", r.url, err)
	}
	r.use(storage, repo)
	r.log.Info("repacked mirror", "packs", len(packs), "duration", time.Since(start))
	return nil
}

func (r *Repository) resolveLocked() (Revision, error) {
	ref := r.spec.Ref
	hash := plumbing.NewHash(ref.Commit)
	if ref.Commit == "" {
		resolved, err := r.git.Reference(plumbing.ReferenceName(ref.String()), true)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return Revision{}, fmt.Errorf("resolve %s of %s: not fetched yet or %w", ref, r.url, ErrRefNotFound)
		}
		if err != nil {
			return Revision{}, fmt.Errorf("resolve %s of %s: %w", ref, r.url, err)
		}
		hash = resolved.Hash()
	}
	commit, err := r.peelLocked(hash)
	if errors.Is(err, plumbing.ErrObjectNotFound) && ref.Commit != "" {
		return Revision{}, fmt.Errorf("resolve commit %s of %s: %w", ref.Commit, r.url, ErrRefNotFound)
	}
	if err != nil {
		return Revision{}, fmt.Errorf("resolve %s of %s: %w", ref, r.url, err)
	}
	return newRevision(r.url, ref.String(), commit), nil
}

// peelLocked follows annotated tags down to the commit they name.
func (r *Repository) peelLocked(hash plumbing.Hash) (*object.Commit, error) {
	for range 10 {
		obj, err := r.git.Object(plumbing.AnyObject, hash)
		if err != nil {
			return nil, err
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o, nil
		case *object.Tag:
			hash = o.Target
		default:
			return nil, fmt.Errorf("%s is a %s, not a commit", hash, obj.Type())
		}
	}
	return nil, fmt.Errorf("tag chain at %s is too deep", hash)
}

// isAncestor reports whether commit ancestor is reachable from commit
// descendant in the mirror. A commit is its own ancestor.
func (r *Repository) isAncestor(ancestor, descendant string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.git.CommitObject(plumbing.NewHash(ancestor))
	if err != nil {
		return false, fmt.Errorf("read commit %s of %s: %w", ancestor, r.url, err)
	}
	d, err := r.git.CommitObject(plumbing.NewHash(descendant))
	if err != nil {
		return false, fmt.Errorf("read commit %s of %s: %w", descendant, r.url, err)
	}
	ok, err := a.IsAncestor(d)
	if err != nil {
		return false, fmt.Errorf("walk history of %s from %s: %w", r.url, descendant, err)
	}
	return ok, nil
}

// FS returns the tree of a mirrored commit as a read-only file system. See
// the package documentation for how symbolic links are presented.
func (r *Repository) FS(commit string) (fs.FS, error) {
	if !commitSHA.MatchString(commit) {
		return nil, fmt.Errorf("read commit %q of %s: not a full commit SHA", commit, r.url)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.git.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("read commit %s of %s: %w", commit, r.url, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of commit %s of %s: %w", commit, r.url, err)
	}
	return newTreeFS(r, tree, c.Committer.When), nil
}

// readBlobLocked returns the whole content of a blob.
func (r *Repository) readBlobLocked(hash plumbing.Hash) ([]byte, error) {
	return ReadBlob(r.storage, hash)
}

// ReadBlob returns the whole content of the blob hash in s, as a writer
// holding Objects reads it.
func ReadBlob(s storer.EncodedObjectStorer, hash plumbing.Hash) ([]byte, error) {
	obj, err := s.EncodedObject(plumbing.BlobObject, hash)
	if err != nil {
		return nil, err
	}
	rd, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}
