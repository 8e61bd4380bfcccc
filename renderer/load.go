package renderer

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Config is the validated and defaulted set of descriptors of a repository.
type Config struct {
	// Solutions and Sites are sorted by name.
	Solutions []*Solution
	Sites     []*Site
	// Warnings are problems that do not stop a render, such as a site no
	// tier selects.
	Warnings []string
}

// Load reads every descriptor in fsys, the root of a config repository,
// then validates and defaults them. Descriptors are the YAML documents with
// apiVersion tandem.dev/v1alpha1, in any .yaml or .yml file outside hidden
// directories. A document of a descriptor's kind, or in a tandem.* API
// group, with any other apiVersion is an error rather than skipped, as are
// repeated mapping keys and a YAML file that is not UTF-8. On failure it
// returns a *ValidationError that lists every problem, not just the first.
func Load(ctx context.Context, fsys fs.FS) (*Config, error) {
	return load(ctx, newStatMemo(fsys), nil)
}

// load is Load reading through stat, and reusing the Site files of mem
// whose content has not changed.
func load(ctx context.Context, stat *statMemo, mem *memory) (*Config, error) {
	fsys := stat.fsys
	l := &loader{fsys: fsys, stat: stat, mem: mem}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() && name != "." && strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir
		}
		if d.Type().IsRegular() && (path.Ext(name) == ".yaml" || path.Ext(name) == ".yml") {
			l.readFile(name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read repository: %w", err)
	}
	cfg := &Config{Solutions: l.solutions, Sites: l.sites}
	slices.SortFunc(cfg.Solutions, func(a, b *Solution) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(cfg.Sites, func(a, b *Site) int { return cmp.Compare(a.Name, b.Name) })
	l.validate(cfg)
	if err := l.err(); err != nil {
		return nil, err
	}
	cfg.Warnings = l.warnings
	return cfg, nil
}

type loader struct {
	fsys fs.FS
	stat *statMemo
	mem  *memory                // Site files decoded before, or nil
	dirs map[string]resolvedDir // see directory
	problems
	solutions []*Solution
	sites     []*Site
}

// descriptorLike matches every file that may hold a descriptor, or a
// document meant as one: files without a match are not read as YAML, which
// keeps the many kustomize files of a repository cheap.
var descriptorLike = regexp.MustCompile(`(?i:tandem)|\bkind["']?\s*:\s*["']?(?:` + KindSolution + `|` + KindSite + `)\b`)

func (l *loader) readFile(name string) {
	info, err := fs.Stat(l.fsys, name)
	if err != nil {
		l.add(name, nil, "", "%v", err)
		return
	}
	if info.Size() > MaxFileSize {
		l.add(name, nil, "", "file is %d bytes, over the %d byte limit", info.Size(), MaxFileSize)
		return
	}
	data, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		l.add(name, nil, "", "%v", err)
		return
	}
	if err := checkUTF8(name, data); err != nil {
		l.errs = append(l.errs, err)
		return
	}
	if !descriptorLike.Match(data) {
		return
	}
	sum := sha256.Sum256(data)
	if sites, ok := l.mem.sites(name, sum); ok {
		l.sites = append(l.sites, sites...)
		return
	}
	errs, solutions, sites := len(l.errs), len(l.solutions), len(l.sites)
	docs, ferr := documents(name, data)
	for _, doc := range docs {
		l.readDocument(name, doc)
	}
	if ferr != nil {
		l.errs = append(l.errs, ferr)
	}
	if len(l.errs) == errs && len(l.solutions) == solutions {
		l.mem.keepSites(name, sum, l.sites[sites:])
	}
}

// documents decodes the YAML documents of file up to the first that does
// not parse, and returns that one's syntax error naming its line.
func documents(file string, data []byte) ([]*yaml.Node, *FieldError) {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		doc := &yaml.Node{}
		err := dec.Decode(doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			line, problem := yamlSyntaxError(err)
			return docs, &FieldError{File: file, Line: line, Err: fmt.Errorf("malformed YAML: %w", problem)}
		}
		docs = append(docs, doc)
	}
}

func (l *loader) readDocument(file string, doc *yaml.Node) {
	apiVersion, kind, pos := header(doc)
	if !descriptorShaped(apiVersion, kind) {
		return // a Kubernetes manifest, not a descriptor
	}
	dups := duplicateKeys(doc)
	for _, e := range dups {
		e.File = file
	}
	l.errs = append(l.errs, dups...)
	switch {
	case apiVersion == APIVersion:
	case !pos.has("apiVersion"):
		l.errs = append(l.errs, &FieldError{File: file, Line: pos["kind"], Field: "apiVersion", Err: fmt.Errorf("apiVersion is required: want %s", APIVersion)})
		return
	default:
		l.add(file, pos, "apiVersion", "unsupported apiVersion %q: want %s", apiVersion, APIVersion)
		return
	}
	var (
		v       any
		set     func(positions)
		collect func()
	)
	switch kind {
	case KindSolution:
		s := &Solution{File: file}
		v, set, collect = s, func(p positions) { s.pos = p }, func() { l.solutions = append(l.solutions, s) }
	case KindSite:
		s := &Site{File: file}
		v, set, collect = s, func(p positions) { s.pos = p }, func() { l.sites = append(l.sites, s) }
	default:
		l.add(file, pos, "kind", "unknown kind %q: want %s or %s", kind, KindSolution, KindSite)
		return
	}
	pos, errs := decodeStrict(doc, v)
	set(pos)
	for _, e := range errs {
		e.File = file
	}
	l.errs = append(l.errs, errs...)
	if len(errs) == 0 && len(dups) == 0 {
		collect()
	}
}

// descriptorShaped reports whether a document with this apiVersion and kind
// is meant as a descriptor: it has tandem's apiVersion, a descriptor's kind,
// or an API group of tandem's name. Such a document with a mistyped
// apiVersion is an error, not a Kubernetes manifest to skip.
func descriptorShaped(apiVersion, kind string) bool {
	group, _, _ := strings.Cut(strings.ToLower(apiVersion), "/")
	return apiVersion == APIVersion || kind == KindSolution || kind == KindSite ||
		group == "tandem" || strings.HasPrefix(group, "tandem.")
}

// header returns a document's top-level apiVersion and kind, if any, and
// where they are.
func header(doc *yaml.Node) (apiVersion, kind string, pos positions) {
	pos = positions{}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return "", "", pos
	}
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		switch m[i].Value {
		case "apiVersion":
			apiVersion, pos["apiVersion"] = m[i+1].Value, m[i].Line
		case "kind":
			kind, pos["kind"] = m[i+1].Value, m[i].Line
		}
	}
	return apiVersion, kind, pos
}
