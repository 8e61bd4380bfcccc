package diff

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/tandem-gitops/tandem/renderer"
)

// SiteHeadroom is how much of its spec.capacity a site the head revision
// changes uses before and after, resource by resource.
type SiteHeadroom struct {
	Site      string        `json:"site"`
	Resources []ResourceUse `json:"resources,omitempty"`
	// Unchecked says that the base revision checked the site's capacity
	// and the head revision, which declares none, does not.
	Unchecked bool `json:"unchecked,omitempty"`
}

// ResourceUse is one resource of a site's capacity, in whole percent,
// rounded up.
type ResourceUse struct {
	Resource string `json:"resource"`
	// Before is nil when the base revision did not check the site: it
	// declared no capacity there or placed nothing on it.
	Before *int64 `json:"before,omitempty"`
	After  int64  `json:"after"`
	// Demand and Capacity are the head revision's, as quantities.
	Demand   string `json:"demand"`
	Capacity string `json:"capacity"`
}

// High reports whether the head revision uses more than
// renderer.HighUsage percent of the resource.
func (u ResourceUse) High() bool { return u.After > renderer.HighUsage }

// headroom returns the headroom of every site with a spec.capacity in
// head that one of changes is on, or whose capacity changes, and whose use
// of some resource changes or is high, in the order of head's clusters;
// then the sites base checked and head no longer does.
func headroom(changes []Change, base, head *renderer.Result) ([]SiteHeadroom, error) {
	if head == nil {
		return nil, nil
	}
	changed := map[string]bool{}
	for _, c := range changes {
		changed[c.Cluster] = true
	}
	baseSites := map[string]*renderer.Site{}
	if base != nil {
		for _, s := range base.Sites {
			baseSites[s.Name] = s
		}
	}
	for _, s := range head.Sites {
		if b, ok := baseSites[s.Name]; ok && (!equality.Semantic.DeepEqual(b.Spec.Capacity, s.Spec.Capacity) || b.Spec.Nodes != s.Spec.Nodes) {
			changed[s.Spec.Cluster] = true
		}
	}
	after, err := head.Headroom()
	if err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	before := map[string]renderer.Headroom{}
	if base != nil {
		hs, err := base.Headroom()
		if err != nil {
			return nil, fmt.Errorf("base: %w", err)
		}
		for _, h := range hs {
			before[h.Site] = h
		}
	}
	var out []SiteHeadroom
	for _, h := range after {
		if !changed[h.Cluster] {
			continue
		}
		sh, moved := SiteHeadroom{Site: h.Site}, false
		for _, u := range h.Usage {
			ru := ResourceUse{Resource: string(u.Resource), After: u.Percent(), Demand: u.Demand.String(), Capacity: u.Capacity.String()}
			for _, b := range before[h.Site].Usage {
				if b.Resource == u.Resource {
					p := b.Percent()
					ru.Before = &p
				}
			}
			sh.Resources = append(sh.Resources, ru)
			moved = moved || ru.High() || ru.Before == nil || *ru.Before != ru.After
		}
		if moved {
			out = append(out, sh)
		}
	}
	for _, s := range head.Sites {
		if b, ok := before[s.Name]; ok && len(b.Usage) > 0 && len(s.Spec.Capacity) == 0 {
			out = append(out, SiteHeadroom{Site: s.Name, Unchecked: true})
		}
	}
	return out, nil
}

// headroomLines say, per site, each resource's use before → after, and
// flag the resources above renderer.HighUsage.
func headroomLines(r *Report, label func([]string) string) []string {
	var lines []string
	for _, h := range r.Headroom {
		if h.Unchecked {
			lines = append(lines, label([]string{h.Site})+": no longer checked, no spec.capacity")
			continue
		}
		uses := make([]string, len(h.Resources))
		for i, u := range h.Resources {
			from := "new"
			if u.Before != nil {
				from = fmt.Sprintf("%d%%", *u.Before)
			}
			uses[i] = fmt.Sprintf("%s %s → %d%%", u.Resource, from, u.After)
			if u.High() {
				uses[i] += fmt.Sprintf(" (above %d%%)", renderer.HighUsage)
			}
		}
		lines = append(lines, label([]string{h.Site})+": "+strings.Join(uses, ", "))
	}
	return lines
}
