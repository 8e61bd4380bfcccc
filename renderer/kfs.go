package renderer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// MaxFileSize is the largest file tandem reads from a repository; a larger
// file is an error rather than a way to exhaust the daemon's memory.
const MaxFileSize = 8 << 20

var errReadOnly = errors.New("the repository is read-only")

// kustomizeFS presents a repository's fs.FS to kustomize as the root ("/")
// of a read-only filesys.FileSystem. Every path is confined to the
// repository, symlinks included, and every kustomization is checked to name
// only resources inside the repository: a render reads the revision and
// nothing else, no network, no git clone, no files of the host.
type kustomizeFS struct {
	fsys fs.FS
	// refused is the last file refused, for naming remote files or for
	// its size. Kustomize takes any error reading a kustomization for "no
	// kustomization here", so the build reports this one instead.
	refused error
	budget  budget
	// reads, when not nil, records what the build under way reads.
	reads *reads
}

var _ filesys.FileSystem = (*kustomizeFS)(nil)

// rel turns a kustomize path into a confined io/fs path.
func (k *kustomizeFS) rel(p string) (string, error) {
	p = filepath.ToSlash(p)
	if !path.IsAbs(p) {
		p = "/" + p
	}
	r := strings.TrimPrefix(path.Clean(p), "/")
	if r == "" {
		r = "."
	}
	return repoPath(k.fsys, r)
}

func abs(rel string) string { return path.Join("/", rel) }

func (k *kustomizeFS) stat(p string) (string, fs.FileInfo, error) {
	r, err := k.rel(p)
	if err != nil {
		return "", nil, err
	}
	info, err := fs.Stat(k.fsys, r)
	return r, info, err
}

// recordedStat is stat, recorded.
func (k *kustomizeFS) recordedStat(p string) (string, fs.FileInfo, error) {
	r, info, err := k.stat(p)
	if k.reads != nil {
		k.record(opStat, p, statAnswer(r, info, err))
	}
	return r, info, err
}

func (k *kustomizeFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (k *kustomizeFS) Mkdir(string) error                  { return errReadOnly }
func (k *kustomizeFS) MkdirAll(string) error               { return errReadOnly }
func (k *kustomizeFS) RemoveAll(string) error              { return errReadOnly }
func (k *kustomizeFS) WriteFile(string, []byte) error      { return errReadOnly }

func (k *kustomizeFS) Open(p string) (filesys.File, error) {
	data, err := k.ReadFile(p)
	if err != nil {
		return nil, err
	}
	_, info, err := k.recordedStat(p)
	if err != nil {
		return nil, err
	}
	return &readOnlyFile{Reader: bytes.NewReader(data), info: info}, nil
}

func (k *kustomizeFS) IsDir(p string) bool {
	_, info, err := k.recordedStat(p)
	return err == nil && info.IsDir()
}

func (k *kustomizeFS) Exists(p string) bool {
	_, _, err := k.recordedStat(p)
	return err == nil
}

func (k *kustomizeFS) ReadDir(p string) ([]string, error) {
	names, err := k.readDir(p)
	if k.reads != nil {
		k.record(opReadDir, p, listAnswer(names, err))
	}
	return names, err
}

func (k *kustomizeFS) readDir(p string) ([]string, error) {
	r, err := k.rel(p)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(k.fsys, r)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func (k *kustomizeFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	r, info, err := k.recordedStat(p)
	if err != nil {
		return "", "", err
	}
	if info.IsDir() {
		return filesys.ConfirmedDir(abs(r)), "", nil
	}
	return filesys.ConfirmedDir(abs(path.Dir(r))), path.Base(r), nil
}

func (k *kustomizeFS) Glob(pattern string) ([]string, error) {
	matches, err := k.glob(pattern)
	if k.reads != nil {
		k.record(opGlob, pattern, listAnswer(matches, err))
	}
	return matches, err
}

func (k *kustomizeFS) glob(pattern string) ([]string, error) {
	r, err := k.rel(path.Dir(filepath.ToSlash(pattern)))
	if err != nil {
		return nil, err
	}
	matches, err := fs.Glob(k.fsys, path.Join(r, path.Base(pattern)))
	for i, m := range matches {
		matches[i] = abs(m)
	}
	return matches, err
}

func (k *kustomizeFS) Walk(p string, walkFn filepath.WalkFunc) error {
	if k.reads != nil {
		k.reads.walked = true
	}
	r, err := k.rel(p)
	if err != nil {
		return err
	}
	return fs.WalkDir(k.fsys, r, func(name string, d fs.DirEntry, err error) error {
		var info fs.FileInfo
		if err == nil {
			info, err = d.Info()
		}
		return walkFn(abs(name), info, err)
	})
}

func (k *kustomizeFS) ReadFile(p string) ([]byte, error) {
	r, info, err := k.stat(p)
	if err != nil {
		k.record(opReadFile, p, statAnswer(r, info, err))
		return nil, err
	}
	if info.Size() > MaxFileSize {
		k.record(opStat, p, statAnswer(r, info, err))
		return nil, fmt.Errorf("%s is %d bytes, over the %d byte limit", r, info.Size(), MaxFileSize)
	}
	data, err := fs.ReadFile(k.fsys, r)
	if k.reads != nil {
		k.record(opReadFile, p, fileAnswer(data, err))
	}
	if err != nil {
		return nil, err
	}
	kustomization := slices.Contains(konfig.RecognizedKustomizationFileNames(), path.Base(r))
	docs, err := k.budget.check(r, data)
	if err == nil && docs == nil {
		err = checkSyntax(r, data)
	}
	if err == nil {
		err = checkDuplicateKeys(r, docs)
	}
	if err == nil {
		err = checkNoURLs(r, docs, kustomization)
	}
	if err == nil && kustomization {
		err = k.checkLocal(r, data)
	}
	if err != nil {
		k.refused = err
		return nil, err
	}
	return data, nil
}

// checkLocal refuses a kustomization whose resources, components or bases
// are not in the repository. Kustomize would fetch those with git or HTTP,
// which would make a render depend on more than its revision.
func (k *kustomizeFS) checkLocal(file string, data []byte) error {
	var kust types.Kustomization
	if err := yaml.Unmarshal(data, &kust); err != nil {
		return nil // kustomize reports it, with its own context
	}
	dir := path.Dir(file)
	for _, entry := range slices.Concat(kust.Resources, kust.Components, kust.Bases) {
		if strings.Contains(entry, "://") || !k.Exists(abs(path.Join(dir, entry))) {
			return fmt.Errorf("%s: %q is not a file or directory in the repository (remote resources are not supported)", file, entry)
		}
	}
	return nil
}

// readOnlyFile is an open repository file.
type readOnlyFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *readOnlyFile) Write([]byte) (int, error)  { return 0, errReadOnly }
func (f *readOnlyFile) Close() error               { return nil }
func (f *readOnlyFile) Stat() (os.FileInfo, error) { return f.info, nil }
