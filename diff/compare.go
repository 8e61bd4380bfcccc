package diff

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tandem-gitops/tandem/renderer"
)

// Revision is one side of a comparison: a rendered revision and the name the
// reader knows it by.
type Revision struct {
	// Name identifies the revision in output, for example
	// "main (1a2b3c4)" or a directory.
	Name string
	// Result is the revision's render.
	Result *renderer.Result
}

// Action says what a revision does to an object.
type Action string

// Actions, from the base revision to the head revision.
const (
	Added   Action = "added"
	Removed Action = "removed"
	Changed Action = "changed"
)

// ObjectKey identifies an object on a cluster. Objects of the two revisions
// are paired by it; the API version is not part of it, so a move from one
// version of a kind to another is a change, not a removal and an addition.
type ObjectKey struct {
	Cluster   string `json:"cluster"`
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String returns the object part of the key as Kind/namespace/name, or
// Kind/name for a cluster-scoped object, as error messages name objects.
func (k ObjectKey) String() string {
	if k.Namespace == "" {
		return k.Kind + "/" + k.Name
	}
	return k.Kind + "/" + k.Namespace + "/" + k.Name
}

func keyOf(cluster string, u *unstructured.Unstructured) ObjectKey {
	gvk := u.GroupVersionKind()
	return ObjectKey{Cluster: cluster, Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

func compareKeys(a, b ObjectKey) int {
	return cmp.Or(
		cmp.Compare(a.Cluster, b.Cluster),
		cmp.Compare(a.Group, b.Group),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
	)
}

// Change is what the head revision does to one object on one cluster.
type Change struct {
	ObjectKey
	// Solution and Tier rendered the object; Site is the site it was
	// rendered for, empty for a tier that targets clusters by name. For a
	// removed object they are the base revision's.
	Solution string `json:"solution"`
	Tier     string `json:"tier"`
	Site     string `json:"site,omitempty"`
	Action   Action `json:"action"`
	// Highlights are the changes a reviewer looks for first.
	Highlights []Highlight `json:"highlights,omitempty"`
	// Other reports that a changed object also changed beyond its
	// highlights.
	Other bool `json:"other,omitempty"`
	// Diff is a unified diff of the object's YAML, without file headers.
	Diff string `json:"diff"`
	// Base and Head are the object in each revision; nil where absent.
	Base *unstructured.Unstructured `json:"-"`
	Head *unstructured.Unstructured `json:"-"`
}

// ScaleChange is a change of a solution's business scale factor, the
// cause of most replica changes.
type ScaleChange struct {
	Solution string  `json:"solution"`
	From     float64 `json:"from"`
	To       float64 `json:"to"`
}

// Report is what a head revision changes compared with a base revision.
type Report struct {
	// Base and Head name the revisions compared.
	Base string `json:"base"`
	Head string `json:"head"`
	// Clusters is the number of clusters either revision renders for.
	Clusters int `json:"clusters"`
	// Scale lists the solutions whose scale factor changed.
	Scale []ScaleChange `json:"scale,omitempty"`
	// SitesAdded and SitesRemoved name the sites only one revision has.
	SitesAdded   []string `json:"sitesAdded,omitempty"`
	SitesRemoved []string `json:"sitesRemoved,omitempty"`
	// Summary groups the places that change in the same way, per tier.
	Summary []Group `json:"summary"`
	// Rollout says when the change reaches each site it changes; see
	// Rollouts, which fills it in.
	Rollout []SiteRollout `json:"rollout,omitempty"`
	// Headroom says, for every site with a spec.capacity that a change is
	// on, how much of each resource it uses before and after.
	Headroom []SiteHeadroom `json:"headroom,omitempty"`
	// Changes are sorted by cluster, then by group, kind, namespace and name.
	Changes []Change `json:"changes"`
	// Failures are the clusters, or tiers, that could not be compared with
	// the head revision; only a comparison with the live clusters has any.
	Failures []Failure `json:"failures,omitempty"`
}

// Empty reports whether the head revision changes nothing, as far as the
// report could tell: see Failures.
func (r *Report) Empty() bool { return len(r.Changes) == 0 }

// Count returns how many objects the report adds, removes and changes;
// orphaned and drifted objects count as changed.
func (r *Report) Count() (added, removed, changed int) { return count(r.Changes) }

func count(changes []Change) (added, removed, changed int) {
	for _, c := range changes {
		switch c.Action {
		case Added:
			added++
		case Removed:
			removed++
		case Changed, Orphaned, Drifted:
			changed++
		}
	}
	return added, removed, changed
}

// describe compares and prints changes, each on its own: the costly part
// of a diff of many sites, spread over the processors. It sets every
// change's diff and, for a changed object, its highlights, and reports
// which changed objects turn out to be equal.
func describe(changes []Change) (unchanged []bool, err error) {
	unchanged = make([]bool, len(changes))
	p := newPrinter()
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range changes {
		c := &changes[i]
		g.Go(func() error {
			if c.Action == Changed {
				if unchanged[i] = equal(c.Base.Object, c.Head.Object); unchanged[i] {
					return nil
				}
				c.Highlights, c.Other = highlights(c.Base, c.Head)
			}
			d, err := p.unified(c.Base, c.Head)
			if err != nil {
				return fmt.Errorf("diff %s on cluster %s: %w", c.ObjectKey, c.Cluster, err)
			}
			c.Diff = d
			return nil
		})
	}
	return unchanged, g.Wait()
}

// placed is a rendered object and where the renderer put it.
type placed struct {
	obj                  *unstructured.Unstructured
	solution, tier, site string
}

// Compare pairs the objects of base and head and reports every object head
// adds, removes or changes, with a summary grouped per tier. Secret values
// are compared in clear and reported masked (see MaskSecret).
func Compare(base, head Revision) (*Report, error) {
	before, after := index(base.Result), index(head.Result)
	keys := make([]ObjectKey, 0, len(after))
	for k := range after {
		keys = append(keys, k)
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)

	// Pair the objects; the identical ones, most of them, drop out here.
	clusters := map[string]bool{}
	var changes []Change
	for _, k := range keys {
		clusters[k.Cluster] = true
		b, inBase := before[k]
		h, inHead := after[k]
		switch {
		case !inBase:
			changes = append(changes, Change{ObjectKey: k, Solution: h.solution, Tier: h.tier, Site: h.site, Action: Added, Head: MaskSecret(h.obj)})
		case !inHead:
			changes = append(changes, Change{ObjectKey: k, Solution: b.solution, Tier: b.tier, Site: b.site, Action: Removed, Base: MaskSecret(b.obj)})
		case !identical(b.obj.Object, h.obj.Object):
			changes = append(changes, Change{ObjectKey: k, Solution: h.solution, Tier: h.tier, Site: h.site, Action: Changed, Base: MaskSecret(b.obj), Head: MaskSecret(h.obj)})
		}
	}

	unchanged, err := describe(changes)
	if err != nil {
		return nil, err
	}
	r := &Report{Base: base.Name, Head: head.Name, Changes: []Change{}}
	for i, c := range changes {
		if !unchanged[i] {
			r.Changes = append(r.Changes, c)
		}
	}
	r.Clusters = len(clusters)
	r.Scale = scaleChanges(base.Result, head.Result)
	r.SitesAdded, r.SitesRemoved = siteChanges(base.Result, head.Result)
	r.Summary = summarize(r.Changes, targetsOf(base.Result), targetsOf(head.Result), tierRanks(head.Result, base.Result))
	if r.Headroom, err = headroom(r.Changes, base.Result, head.Result); err != nil {
		return nil, err
	}
	return r, nil
}

// index maps every object of a render to where it was rendered. A nil
// result is an empty repository.
func index(res *renderer.Result) map[ObjectKey]placed {
	if res == nil {
		return nil
	}
	n := 0
	for _, t := range res.Targets {
		n += len(t.Objects)
	}
	m := make(map[ObjectKey]placed, n)
	for _, t := range res.Targets {
		for _, o := range t.Objects {
			m[keyOf(t.Cluster, o)] = placed{obj: o, solution: t.Solution, tier: t.Tier, site: t.Site}
		}
	}
	return m
}

func scaleChanges(base, head *renderer.Result) []ScaleChange {
	from := map[string]float64{}
	for _, s := range solutions(base) {
		from[s.Name] = s.Spec.Scale
	}
	var out []ScaleChange
	for _, s := range solutions(head) {
		if f, ok := from[s.Name]; ok && f != s.Spec.Scale {
			out = append(out, ScaleChange{Solution: s.Name, From: f, To: s.Spec.Scale})
		}
	}
	return out
}

func siteChanges(base, head *renderer.Result) (added, removed []string) {
	names := func(res *renderer.Result) map[string]bool {
		m := map[string]bool{}
		if res != nil {
			for _, s := range res.Sites {
				m[s.Name] = true
			}
		}
		return m
	}
	before, after := names(base), names(head)
	for n := range after {
		if !before[n] {
			added = append(added, n)
		}
	}
	for n := range before {
		if !after[n] {
			removed = append(removed, n)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

func solutions(res *renderer.Result) []*renderer.Solution {
	if res == nil {
		return nil
	}
	return res.Solutions
}
