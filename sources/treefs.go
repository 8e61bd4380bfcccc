package sources

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxLinkHops bounds symbolic link resolution, like the kernel's ELOOP.
const maxLinkHops = 40

var (
	errLinkEscapes = errors.New("symbolic link points outside the repository")
	errLinkLoop    = errors.New("too many levels of symbolic links")
)

// treeFS is a read-only file system over one commit's tree. Open, Stat and
// ReadFile follow symbolic links that stay inside the tree, as they would in
// a checkout; ReadDir, Lstat and ReadLink report links as links. Submodules
// appear as empty directories, as in a checkout without them.
type treeFS struct {
	repo    *Repository
	root    plumbing.Hash
	modTime time.Time

	mu    sync.Mutex
	trees map[plumbing.Hash]*object.Tree // decoded directories, by hash
}

var (
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
	_ fs.ReadLinkFS = (*treeFS)(nil)
)

func newTreeFS(repo *Repository, root *object.Tree, modTime time.Time) *treeFS {
	sorted := &object.Tree{Hash: root.Hash, Entries: byName(root.Entries)}
	return &treeFS{
		repo:    repo,
		root:    root.Hash,
		modTime: modTime,
		trees:   map[plumbing.Hash]*object.Tree{root.Hash: sorted},
	}
}

// byName returns a copy of a directory's entries sorted by name: git sorts
// subdirectories as if their names ended in "/", so tiers.yaml comes before
// tiers/ in a tree object, and resolve searches by name.
func byName(entries []object.TreeEntry) []object.TreeEntry {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b object.TreeEntry) int { return strings.Compare(a.Name, b.Name) })
	return sorted
}

// node is one resolved entry of the tree.
type node struct {
	name string // base name, "." for the root
	mode filemode.FileMode
	hash plumbing.Hash
}

func (n node) isDir() bool { return n.mode == filemode.Dir || n.mode == filemode.Submodule }

// resolve walks name from the root, following symbolic links in
// intermediate elements, and in the last one when followLast is set.
func (t *treeFS) resolve(op, name string, followLast bool) (node, error) {
	if !fs.ValidPath(name) {
		return node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	root := node{name: ".", mode: filemode.Dir, hash: t.root}
	cur, dir, rest := root, ".", name
	for hops := 0; rest != "."; {
		elem, remain, _ := strings.Cut(rest, "/")
		if remain == "" {
			remain = "."
		}
		if !cur.isDir() {
			return node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		entries, err := t.entries(cur)
		if err != nil {
			return node{}, &fs.PathError{Op: op, Path: name, Err: err}
		}
		i, found := slices.BinarySearchFunc(entries, elem, func(e object.TreeEntry, name string) int {
			return strings.Compare(e.Name, name)
		})
		if !found {
			return node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		e := entries[i]
		if e.Mode == filemode.Symlink && (remain != "." || followLast) {
			if hops++; hops > maxLinkHops {
				return node{}, &fs.PathError{Op: op, Path: name, Err: errLinkLoop}
			}
			target, err := t.readBlob(e.Hash)
			if err != nil {
				return node{}, &fs.PathError{Op: op, Path: name, Err: err}
			}
			resolved := path.Join(dir, string(target))
			if path.IsAbs(string(target)) || resolved == ".." || strings.HasPrefix(resolved, "../") {
				return node{}, &fs.PathError{Op: op, Path: name, Err: errLinkEscapes}
			}
			cur, dir, rest = root, ".", path.Join(resolved, remain)
			continue
		}
		cur = node{name: e.Name, mode: e.Mode, hash: e.Hash}
		dir, rest = path.Join(dir, elem), remain
	}
	cur.name = path.Base(name) // a followed link keeps its own name, as in os.Stat
	return cur, nil
}

// entries returns a directory's entries sorted by name.
func (t *treeFS) entries(dir node) ([]object.TreeEntry, error) {
	if dir.mode == filemode.Submodule {
		return nil, nil
	}
	t.mu.Lock()
	tree, ok := t.trees[dir.hash]
	t.mu.Unlock()
	if ok {
		return tree.Entries, nil
	}
	t.repo.mu.Lock()
	tree, err := object.GetTree(t.repo.storage, dir.hash)
	t.repo.mu.Unlock()
	if err != nil {
		return nil, err
	}
	tree.Entries = byName(tree.Entries)
	t.mu.Lock()
	t.trees[dir.hash] = tree
	t.mu.Unlock()
	return tree.Entries, nil
}

func (t *treeFS) readBlob(hash plumbing.Hash) ([]byte, error) {
	t.repo.mu.Lock()
	defer t.repo.mu.Unlock()
	return t.repo.readBlobLocked(hash)
}

func (t *treeFS) info(n node) (fs.FileInfo, error) {
	fi := &fileInfo{node: n, modTime: t.modTime}
	if !n.isDir() {
		t.repo.mu.Lock()
		size, err := t.repo.storage.EncodedObjectSize(n.hash)
		t.repo.mu.Unlock()
		if err != nil {
			return nil, err
		}
		fi.size = size
	}
	return fi, nil
}

// Open opens the named file or directory, following symbolic links.
func (t *treeFS) Open(name string) (fs.File, error) {
	n, err := t.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := t.info(n)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if n.isDir() {
		return &treeDir{fsys: t, path: name, info: fi, node: n}, nil
	}
	content, err := t.readBlob(n.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{Reader: bytes.NewReader(content), info: fi}, nil
}

// ReadFile returns the content of the named file, following symbolic links.
func (t *treeFS) ReadFile(name string) ([]byte, error) {
	n, err := t.resolve("readfile", name, true)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("is a directory")}
	}
	content, err := t.readBlob(n.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: err}
	}
	return content, nil
}

// Stat describes the named file, following symbolic links.
func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	return t.stat("stat", name, true)
}

// Lstat describes the named file; a symbolic link is described as a link.
func (t *treeFS) Lstat(name string) (fs.FileInfo, error) {
	return t.stat("lstat", name, false)
}

func (t *treeFS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	n, err := t.resolve(op, name, follow)
	if err != nil {
		return nil, err
	}
	fi, err := t.info(n)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return fi, nil
}

// ReadLink returns the target of the named symbolic link, as stored.
func (t *treeFS) ReadLink(name string) (string, error) {
	n, err := t.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	target, err := t.readBlob(n.hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(target), nil
}

// ReadDir lists the named directory sorted by name, following symbolic
// links to reach it; entries that are links are reported as links.
func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := t.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.readDir(name, n)
}

func (t *treeFS) readDir(name string, dir node) ([]fs.DirEntry, error) {
	entries, err := t.entries(dir)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	list := make([]fs.DirEntry, len(entries))
	for i, e := range entries {
		list[i] = dirEntry{fsys: t, node: node{name: e.Name, mode: e.Mode, hash: e.Hash}}
	}
	return list, nil
}

// fileInfo describes a tree entry. Every entry carries the commit's time.
type fileInfo struct {
	node
	size    int64
	modTime time.Time
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return modeOf(fi.mode) }
func (fi *fileInfo) ModTime() time.Time { return fi.modTime }
func (fi *fileInfo) IsDir() bool        { return fi.isDir() }
func (fi *fileInfo) Sys() any           { return nil }

func modeOf(m filemode.FileMode) fs.FileMode {
	switch m {
	case filemode.Dir, filemode.Submodule:
		return fs.ModeDir | 0o755
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	case filemode.Executable:
		return 0o755
	default:
		return 0o644
	}
}

// dirEntry is a directory entry; its size is read only when Info is called.
type dirEntry struct {
	fsys *treeFS
	node
}

func (d dirEntry) Name() string               { return d.name }
func (d dirEntry) IsDir() bool                { return d.isDir() }
func (d dirEntry) Type() fs.FileMode          { return modeOf(d.mode).Type() }
func (d dirEntry) Info() (fs.FileInfo, error) { return d.fsys.info(d.node) }
func (d dirEntry) String() string             { return fs.FormatDirEntry(d) }

// treeFile is an open regular file; its content is read on Open.
type treeFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Close() error               { return nil }

// treeDir is an open directory.
type treeDir struct {
	fsys    *treeFS
	path    string
	info    fs.FileInfo
	node    node
	entries []fs.DirEntry // nil until the first ReadDir
	offset  int
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Close() error               { return nil }

func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errors.New("is a directory")}
}

// ReadDir implements fs.ReadDirFile.
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.entries == nil {
		entries, err := d.fsys.readDir(d.path, d.node)
		if err != nil {
			return nil, err
		}
		d.entries = entries
	}
	rest := d.entries[d.offset:]
	if n <= 0 {
		d.offset = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.offset += n
	return rest[:n], nil
}
