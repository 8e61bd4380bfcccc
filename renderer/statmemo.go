package renderer

import "io/fs"

// statMemo answers fs.Stat and fs.ReadDir for one render, asking its file
// system once per path. A revision does not change while it renders, and
// the same few directories are asked about for every site: whether a site
// overlay has a directory for a tier, what an overlay holds. Some file
// systems answer that by scanning every file (fstest.MapFS does for a
// directory it has no entry for), which would make a render quadratic in
// the number of sites.
type statMemo struct {
	fsys  fs.FS
	stats map[string]statResult
	dirs  map[string]dirResult
}

type statResult struct {
	info fs.FileInfo
	err  error
}

type dirResult struct {
	entries []fs.DirEntry
	err     error
}

var (
	_ fs.StatFS    = (*statMemo)(nil)
	_ fs.ReadDirFS = (*statMemo)(nil)
)

func newStatMemo(fsys fs.FS) *statMemo {
	return &statMemo{fsys: fsys, stats: map[string]statResult{}, dirs: map[string]dirResult{}}
}

// Open opens name in the underlying file system; it remembers nothing.
func (m *statMemo) Open(name string) (fs.File, error) { return m.fsys.Open(name) }

// Stat returns what fs.Stat of the underlying file system said of name.
func (m *statMemo) Stat(name string) (fs.FileInfo, error) {
	a, ok := m.stats[name]
	if !ok {
		a.info, a.err = fs.Stat(m.fsys, name)
		m.stats[name] = a
	}
	return a.info, a.err
}

// ReadDir returns what fs.ReadDir of the underlying file system said of
// name. Callers must not change the entries.
func (m *statMemo) ReadDir(name string) ([]fs.DirEntry, error) {
	a, ok := m.dirs[name]
	if !ok {
		a.entries, a.err = fs.ReadDir(m.fsys, name)
		m.dirs[name] = a
	}
	return a.entries, a.err
}
