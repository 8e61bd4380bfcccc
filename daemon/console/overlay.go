package console

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing/fstest"
)

// overlay is a repository's files with some replaced, added or deleted: a
// commit's tree as a change would leave it, to render before committing.
type overlay struct {
	base    fs.FS
	files   fstest.MapFS // replaced and added files
	deleted map[string]bool
}

func newOverlay(base fs.FS, files map[string][]byte, deleted []string) *overlay {
	o := &overlay{base: base, files: fstest.MapFS{}, deleted: map[string]bool{}}
	for name, data := range files {
		o.files[name] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	for _, name := range deleted {
		o.deleted[name] = true
	}
	return o
}

func (o *overlay) Open(name string) (fs.File, error) {
	if o.deleted[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if _, ok := o.files[name]; ok {
		return o.files.Open(name)
	}
	f, err := o.base.Open(name)
	if errors.Is(err, fs.ErrNotExist) && o.hasDir(name) {
		return o.files.Open(name)
	}
	return f, err
}

// hasDir reports whether an added file lies below name.
func (o *overlay) hasDir(name string) bool {
	for f := range o.files {
		if name == "." || strings.HasPrefix(f, name+"/") {
			return true
		}
	}
	return false
}

func (o *overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(o.base, name)
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && o.hasDir(name)) {
		return nil, err
	}
	if o.hasDir(name) {
		added, err := o.files.ReadDir(name)
		if err != nil {
			return nil, err
		}
		for _, e := range added {
			if !slices.ContainsFunc(entries, func(b fs.DirEntry) bool { return b.Name() == e.Name() }) {
				entries = append(entries, e)
			}
		}
	}
	entries = slices.DeleteFunc(entries, func(e fs.DirEntry) bool { return o.deleted[join(name, e.Name())] })
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}
