package renderer

import (
	"context"
	"crypto/sha256"
	"io/fs"
	"reflect"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/resmap"
)

// Renderer renders successive revisions of a config repository, reusing
// what the last revision it rendered shares with the next: Site files
// whose bytes are unchanged are not decoded again, a kustomize directory
// none of whose files changed is not built again, and a target whose
// inputs (its tier's build, as prepared for the solution, its replicas and
// its site) are unchanged is the last render's target. The zero value is
// ready to use; a Renderer is safe for concurrent use, one render at a
// time.
//
// Its results equal the package's Render of the same revision, checks and
// errors included; only a time budget (Options.Timeout) can tell them
// apart, since a Renderer takes less of it. They share objects with the results of other renders:
// callers must not change a returned Result, its descriptors or its
// targets' objects; deep-copy an object before changing it.
type Renderer struct {
	mu   sync.Mutex
	last *generation
}

// Render renders fsys as the package's Render does. A render that fails
// leaves the Renderer's memory of the last successful one as it was.
func (r *Renderer) Render(ctx context.Context, fsys fs.FS, opts Options) (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := &memory{last: r.last, next: newGeneration()}
	res, err := render(ctx, fsys, opts, newOutput(), m)
	if err != nil {
		return nil, err
	}
	r.last = m.next
	return res, nil
}

// memory is what a render reuses from the one before, and what it leaves
// for the one after. Each generation holds only what its render used, so
// a Renderer's memory is one revision's descriptors, builds and targets.
// A nil *memory remembers nothing, for Render.
type memory struct {
	last, next *generation
}

// generation is what one render built and used, by what it was made of.
type generation struct {
	siteFiles map[string]siteFile  // by repository path
	builds    map[string]keptBuild // by repository directory
	prepared  map[preparedKey][]*unstructured.Unstructured
	targets   map[targetKey]keptTarget
}

func newGeneration() *generation {
	return &generation{siteFiles: map[string]siteFile{}, builds: map[string]keptBuild{},
		prepared: map[preparedKey][]*unstructured.Unstructured{}, targets: map[targetKey]keptTarget{}}
}

// siteFile is a descriptor file that decoded without problems into Sites
// alone (or into nothing), as decoded, before validation defaulted them.
type siteFile struct {
	sum   [sha256.Size]byte
	sites []*Site
}

// keptBuild is a successful kustomize build with what it read: the answer
// of every file system call, and the budget charged for each file.
type keptBuild struct {
	m       resmap.ResMap
	reads   []observation
	charges []charge
}

type targetKey struct{ solution, tier, cluster, site string }

// keptTarget is a target's objects and what they were made from.
type keptTarget struct {
	prepared []*unstructured.Unstructured
	replicas []replicaCount
	objs     []*unstructured.Unstructured
}

type replicaCount struct {
	workload string
	n        int32
}

// sites returns fresh copies of the Sites of the file name, as decoded,
// if its content, summed as sum, is the same as in the last render.
func (m *memory) sites(name string, sum [sha256.Size]byte) ([]*Site, bool) {
	if m == nil || m.last == nil {
		return nil, false
	}
	f, ok := m.last.siteFiles[name]
	if !ok || f.sum != sum {
		return nil, false
	}
	m.next.siteFiles[name] = f
	out := make([]*Site, len(f.sites))
	for i, s := range f.sites {
		out[i] = s.clone()
	}
	return out, true
}

// keepSites remembers the Sites decoded from the file name.
func (m *memory) keepSites(name string, sum [sha256.Size]byte, sites []*Site) {
	if m == nil {
		return
	}
	f := siteFile{sum: sum, sites: make([]*Site, len(sites))}
	for i, s := range sites {
		f.sites[i] = s.clone()
	}
	m.next.siteFiles[name] = f
}

// clone returns a copy of s that shares nothing validation changes.
func (s *Site) clone() *Site {
	c := *s
	s.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	c.Spec.Windows = slices.Clone(s.Spec.Windows)
	c.Spec.Capacity = s.Spec.Capacity.DeepCopy()
	return &c
}

// build returns the last render's build of dir, if k reads the same from
// every file that build read and the budget the build charged still fits.
func (m *memory) build(dir string, k *kustomizeFS) (resmap.ResMap, bool) {
	if m == nil || m.last == nil {
		return nil, false
	}
	b, ok := m.last.builds[dir]
	if !ok || !k.same(b.reads) || k.budget.replay(b.charges) != nil {
		return nil, false
	}
	m.next.builds[dir] = b
	return b.m, true
}

func (m *memory) keepBuild(dir string, b keptBuild) {
	if m != nil {
		m.next.builds[dir] = b
	}
}

// prepared returns the last render's prepared objects for key when they
// equal objs, and objs otherwise, so that equal builds are the same
// objects from render to render and their targets can be reused.
func (m *memory) prepared(key preparedKey, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	if m == nil {
		return objs
	}
	if m.last != nil {
		if old, ok := m.last.prepared[key]; ok && reflect.DeepEqual(old, objs) {
			objs = old
		}
	}
	m.next.prepared[key] = objs
	return objs
}

// target returns the last render's objects for key, if they were made
// from the same prepared objects with the same replicas.
func (m *memory) target(key targetKey, prepared []*unstructured.Unstructured, replicas []replicaCount) ([]*unstructured.Unstructured, bool) {
	if m == nil || m.last == nil {
		return nil, false
	}
	t, ok := m.last.targets[key]
	if !ok || !sameObjects(t.prepared, prepared) || !slices.Equal(t.replicas, replicas) {
		return nil, false
	}
	m.next.targets[key] = t
	return t.objs, true
}

func (m *memory) keepTarget(key targetKey, t keptTarget) {
	if m != nil {
		m.next.targets[key] = t
	}
}

// sameObjects reports whether a and b hold the same objects, not merely
// equal ones.
func sameObjects(a, b []*unstructured.Unstructured) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
