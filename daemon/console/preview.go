package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/renderer"
)

// Preview is what a change would do, worked out before anything is
// written: every workload's replicas on every place now and after, and
// the summary a pull request's comment would show.
type Preview struct {
	Solution string
	// Base is the commit the preview was made on; a change is committed
	// only on top of it.
	Base string
	// From and To are the scale factor now and after.
	From, To float64
	Rows     []Row
	// Changed counts the rows whose replicas change.
	Changed int
	Summary []SummaryLine
	// Summarized is whether Summary was worked out; it takes a render of
	// every site, so a page asks for it apart. SummaryNote says why there
	// is none.
	Summarized  bool
	SummaryNote string
	// Headroom is each resource of each site with a spec.capacity whose
	// use the change moves, or that is above renderer.HighUsage after it.
	Headroom []HeadroomRow
	// Error says why the change cannot be made, naming the file and
	// field; nothing is committed then.
	Error string
}

// Row is one workload on one place.
type Row struct {
	Tier, Workload string
	// Place is the site, or the cluster of a tier on named clusters.
	Place      string
	Now, After int32
}

// HeadroomRow is one resource of one site: its use now and after, in
// whole percent of the site's spec.capacity.
type HeadroomRow struct {
	Site, Resource string
	// Now is unknown, and every resource listed, when the branch head
	// does not render.
	Now, After       int64
	NowKnown         bool
	Demand, Capacity string // after
	High             bool
}

// SummaryLine is one line of the diff summary: a tier at some places.
type SummaryLine struct {
	Tier, Places string
	Lines        []string
}

// previewScale works out a change of sol's scale to scale on hd; with
// summary, the diff summary too, which renders the head with the new scale.
// A scale changes nothing but replicas, so the replicas come from the
// loaded descriptors and the one linked-scaling function, without loading
// the repository again.
func previewScale(ctx context.Context, hd *head, sol *renderer.Solution, scale float64, summary bool) Preview {
	p := Preview{Solution: sol.Name, Base: hd.rev.Commit, From: sol.Spec.Scale, To: scale}
	if hd.broken != nil {
		p.Error = fmt.Sprintf("the branch head does not load, so its scale cannot be changed; revert the commit that broke it from the history first: %v", hd.broken)
		return p
	}
	data, err := fs.ReadFile(hd.fsys, sol.File)
	if err != nil {
		p.Error = fmt.Sprintf("read %s: %v", sol.File, err)
		return p
	}
	edited, err := renderer.SetScale(sol.File, data, scale)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	before, err := sol.Replicas(sol.Spec.Scale, hd.cfg.Sites)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	after, err := sol.Replicas(scale, hd.cfg.Sites)
	if err != nil {
		p.Error = fmt.Sprintf("%s: spec.scale: %v", sol.File, err)
		return p
	}
	// Both refusals are worth knowing at once: a scale past a rule's max
	// may also be past what a site can run.
	overMax := sol.OverMax(scale, hd.cfg.Sites)
	p = headroomAt(ctx, hd, p, newOverlay(hd.fsys, map[string][]byte{sol.File: edited}, nil))
	if overMax != nil {
		p.Error = strings.TrimSuffix(overMax.Error()+"\n"+p.Error, "\n")
	}
	if p.Error != "" {
		return p
	}
	p.Rows, p.Changed = rows(before, after)
	if summary {
		p = summarize(ctx, hd, p, newOverlay(hd.fsys, map[string][]byte{sol.File: edited}, nil))
	}
	return p
}

// headroomAt fills in what p's scale asks of every site with a
// spec.capacity, from the head's render with the replicas of that scale,
// and refuses a scale that asks a site for more than it has, as the
// render would. When the head does not render, nothing says the new scale
// would: the head's files with the new scale, after, are rendered whole
// instead, and refused as the daemon would refuse them.
func headroomAt(ctx context.Context, hd *head, p Preview, after fs.FS) Preview {
	res, err := hd.rendered(ctx)
	if err != nil {
		scaled, err := renderer.Render(ctx, after, renderer.Options{Timeout: renderTimeout})
		if err != nil {
			p.Error = fmt.Sprintf("the configuration does not render at scale %s:\n%v", strconv.FormatFloat(p.To, 'f', -1, 64), err)
			return p
		}
		hs, err := scaled.Headroom()
		if err == nil {
			p.Headroom, err = headroomRows(nil, hs)
		}
		if err != nil {
			p.Error = err.Error()
		}
		return p
	}
	sol, ok := find(res.Solutions, p.Solution)
	if !ok {
		return p
	}
	now, err := res.Headroom()
	if err == nil {
		var after []renderer.Headroom
		if after, err = res.HeadroomAt(sol, p.To); err == nil {
			p.Headroom, err = headroomRows(now, after)
		}
	}
	if err != nil {
		p.Error = fmt.Sprintf("%s: spec.scale: %v", sol.File, err)
	}
	return p
}

// headroomRows pairs the use of each resource of each site now and after,
// keeping what moves or is high; it fails with every site's refusal when
// after does not fit.
func headroomRows(now, after []renderer.Headroom) ([]HeadroomRow, error) {
	before := map[[2]string]int64{}
	for _, h := range now {
		for _, u := range h.Usage {
			before[[2]string{h.Site, string(u.Resource)}] = u.Percent()
		}
	}
	var out []HeadroomRow
	var refused []error
	for _, h := range after {
		if h.Err != nil {
			refused = append(refused, h.Err)
		}
		for _, u := range h.Usage {
			now, known := before[[2]string{h.Site, string(u.Resource)}]
			r := HeadroomRow{Site: h.Site, Resource: string(u.Resource), Now: now, NowKnown: known, After: u.Percent(),
				Demand: u.Demand.String(), Capacity: u.Capacity.String(), High: u.Percent() > renderer.HighUsage}
			if !known || r.Now != r.After || r.High {
				out = append(out, r)
			}
		}
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("the sites cannot run it:\n%w", errors.Join(refused...))
	}
	return out, nil
}

// compare fills p in with what the head's files as after has them do: the
// replicas and the diff summary. A revert may change anything, so after is
// loaded and rendered whole.
func compare(ctx context.Context, hd *head, p Preview, after fs.FS) Preview {
	cfg, err := renderer.Load(ctx, after)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	now, _ := hd.solution(p.Solution)
	then, ok := find(cfg.Solutions, p.Solution)
	if !ok {
		p.Error = fmt.Sprintf("the change removes solution %s", p.Solution)
		return p
	}
	p.To = then.Spec.Scale
	before, err := now.Replicas(now.Spec.Scale, hd.cfg.Sites)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	later, err := then.Replicas(then.Spec.Scale, cfg.Sites)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	p.Rows, p.Changed = rows(before, later)
	return summarize(ctx, hd, p, after)
}

// summarize adds to p the diff summary of after's render against the
// head's.
func summarize(ctx context.Context, hd *head, p Preview, after fs.FS) Preview {
	p.Summarized = true
	base, err := hd.rendered(ctx)
	if err != nil {
		// A revert of what broke the head still previews its replicas.
		p.SummaryNote = fmt.Sprintf("No diff summary: the branch head does not render (%v).", err)
		return p
	}
	res, err := renderer.Render(ctx, after, renderer.Options{})
	if err != nil {
		p.Error = err.Error()
		return p
	}
	report, err := diff.Compare(diff.Revision{Name: "now", Result: base}, diff.Revision{Name: "after", Result: res})
	if err != nil {
		p.Error = err.Error()
		return p
	}
	for _, g := range report.Summary {
		if g.Solution == p.Solution {
			p.Summary = append(p.Summary, SummaryLine{Tier: g.Tier, Places: strings.Join(g.Places(), ", "), Lines: g.Lines()})
		}
	}
	return p
}

// rows pairs the replicas before and after by tier, workload and place.
func rows(before, after []renderer.WorkloadReplicas) ([]Row, int) {
	type key struct{ tier, workload, place string }
	place := func(w renderer.WorkloadReplicas) string { return cmp.Or(w.Site, w.Cluster) }
	byKey := map[key]*Row{}
	var out []*Row
	for _, w := range before {
		r := &Row{Tier: w.Tier, Workload: w.Workload, Place: place(w), Now: w.Replicas}
		byKey[key{w.Tier, w.Workload, r.Place}] = r
		out = append(out, r)
	}
	for _, w := range after {
		if r, ok := byKey[key{w.Tier, w.Workload, place(w)}]; ok {
			r.After = w.Replicas
			continue
		}
		out = append(out, &Row{Tier: w.Tier, Workload: w.Workload, Place: place(w), After: w.Replicas})
	}
	rows := make([]Row, len(out))
	changed := 0
	for i, r := range out {
		rows[i] = *r
		if r.Now != r.After {
			changed++
		}
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Tier, b.Tier), cmp.Compare(a.Place, b.Place), cmp.Compare(a.Workload, b.Workload))
	})
	return rows, changed
}
