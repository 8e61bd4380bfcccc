package renderer

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Headroom is how much of its spec.capacity a revision uses at one site,
// and whether the site can run it.
type Headroom struct {
	// Site is the site; empty for a cluster that only tiers on named
	// clusters run on, which has no capacity but may have quotas.
	Site    string
	Cluster string
	// Usage has one entry per resource of the site's spec.capacity,
	// sorted by resource name; none without a capacity.
	Usage []Usage
	// Err says why the place cannot run the revision, as the render
	// refuses it: each resource asked for past the capacity, each
	// ResourceQuota asked for past its hard limits. Nil when it fits.
	Err error
}

// Usage is what a revision asks of one resource of a site, and what the
// site has of it.
type Usage struct {
	Resource         corev1.ResourceName
	Demand, Capacity resource.Quantity
}

// Percent returns the demand as a whole percentage of the capacity,
// rounded up, so that a site a little over 90% reads 91%, never 90%. A
// capacity of 0 is 0% when nothing is asked of it and 100% past that.
func (u Usage) Percent() int64 {
	if u.Capacity.Sign() <= 0 {
		if u.Demand.Sign() > 0 {
			return 100
		}
		return 0
	}
	// Floats hold any quantity a site has; the tolerance keeps a
	// rounding error from turning 75% into 76%.
	return int64(math.Ceil(100*u.Demand.AsApproximateFloat64()/u.Capacity.AsApproximateFloat64() - 1e-9))
}

// Over reports whether the demand is more than the capacity.
func (u Usage) Over() bool { return u.Demand.Cmp(u.Capacity) > 0 }

// String prints the usage as "cpu 1200m of 1600m (75%)".
func (u Usage) String() string {
	return fmt.Sprintf("%s %s of %s (%d%%)", u.Resource, u.Demand.String(), u.Capacity.String(), u.Percent())
}

// HighUsage is the percentage of a resource above which diff and the
// console flag a site as nearly full.
const HighUsage = 90

// Headroom returns, for every site of the result with a spec.capacity and
// targets, how much of each resource the result asks of it, and for every
// other cluster whose tiers declare ResourceQuotas whether their
// namespaces' pods fit them, sorted by cluster.
func (res *Result) Headroom() ([]Headroom, error) {
	return res.headroom(podRequests, nil)
}

// HeadroomAt returns what Headroom would at another scale of sol: the
// same objects with the replicas that scale gives the workloads sol scales.
// A scale changes nothing else, so no render is needed; it is what the
// console previews before it commits a scale.
func (res *Result) HeadroomAt(sol *Solution, scale float64) ([]Headroom, error) {
	replicas, err := sol.Replicas(scale, res.Sites)
	if err != nil {
		return nil, err
	}
	pods := make(map[scaledWorkload]int64, len(replicas))
	for _, w := range replicas {
		pods[scaledWorkload{w.Tier, w.Workload, cmp.Or(w.Site, w.Cluster)}] = int64(w.Replicas)
	}
	return res.headroom(podRequests, func(d *Demand, site *Site) {
		d.rescale(sol.Name, site, pods)
	})
}

// scaledWorkload names a workload with a replica rule at one place: the
// site of a per-site tier, or the cluster of a tier on named clusters.
type scaledWorkload struct{ tier, workload, place string }

// rescale gives the contributions of solution's workloads the pods that
// pods says, and adds the totals up again.
func (d *Demand) rescale(solution string, site *Site, pods map[scaledWorkload]int64) {
	d.Total = corev1.ResourceList{}
	for i := range d.Contributions {
		c := &d.Contributions[i]
		if n, ok := pods[scaledWorkload{c.Tier, c.Name, cmp.Or(c.Site, site.Spec.Cluster)}]; ok && c.Solution == solution && c.Kind != "DaemonSet" && c.Kind != "Pod" {
			c.Pods = n
		}
		for name := range c.PerPod {
			total := d.Total[name]
			total.Add(c.Of(name))
			d.Total[name] = total
		}
	}
}

// headroom computes the demand on every place the render checks, with
// requests, changed by adjust when it is not nil, and compares it with the
// place's capacity and quotas.
func (res *Result) headroom(requests podRequestsFunc, adjust func(*Demand, *Site)) ([]Headroom, error) {
	var out []Headroom
	err := res.places(func(site *Site, targets []Target) error {
		d, err := siteDemand(site, targets, requests)
		if err != nil {
			return err
		}
		if adjust != nil {
			adjust(&d, site)
		}
		h := Headroom{Site: site.Name, Cluster: site.Spec.Cluster, Usage: usage(site, d)}
		var errs []error
		for _, e := range res.capacityErrors(site, d) {
			errs = append(errs, e)
		}
		h.Err = errors.Join(errs...)
		out = append(out, h)
		return nil
	})
	return out, err
}

// places calls check with every place the render checks and its targets,
// in the order of the clusters: each site with a spec.capacity, and each
// cluster, a site's or not, whose targets declare a ResourceQuota. A
// cluster no site runs on is checked as a site with no name, no capacity
// and one node. An error of check is returned naming the place.
func (res *Result) places(check func(*Site, []Target) error) error {
	byCluster := targetsByCluster(res.Targets)
	sites := make(map[string]*Site, len(res.Sites))
	for _, s := range res.Sites {
		sites[s.Spec.Cluster] = s
	}
	for _, cluster := range slices.Sorted(maps.Keys(byCluster)) {
		targets := byCluster[cluster]
		site, ok := sites[cluster]
		if !(ok && len(site.Spec.Capacity) > 0) && !declaresQuota(targets) {
			continue
		}
		if !ok {
			site = &Site{Spec: SiteSpec{Cluster: cluster, Nodes: 1}}
		}
		if err := check(site, targets); err != nil {
			if site.Name != "" {
				return fmt.Errorf("site %s: %w", site.Name, err)
			}
			return fmt.Errorf("cluster %s: %w", cluster, err)
		}
	}
	return nil
}

// declaresQuota reports whether targets hold a ResourceQuota.
func declaresQuota(targets []Target) bool {
	for _, t := range targets {
		for _, o := range t.Objects {
			if o.GetKind() == "ResourceQuota" && o.GetAPIVersion() == "v1" {
				return true
			}
		}
	}
	return false
}

func targetsByCluster(targets []Target) map[string][]Target {
	byCluster := map[string][]Target{}
	for _, t := range targets {
		byCluster[t.Cluster] = append(byCluster[t.Cluster], t)
	}
	return byCluster
}

// usage compares d with site's capacity, resource by resource.
func usage(site *Site, d Demand) []Usage {
	out := make([]Usage, 0, len(site.Spec.Capacity))
	for name, capacity := range site.Spec.Capacity {
		out = append(out, Usage{Resource: name, Demand: d.Total[name], Capacity: capacity})
	}
	slices.SortFunc(out, func(a, b Usage) int { return cmp.Compare(a.Resource, b.Resource) })
	return out
}

// capacityErrors returns why d does not fit site: each resource it asks
// more of than the site's capacity, at that resource's line of the Site's
// file, and each ResourceQuota whose namespace it asks more of than the
// quota holds, at the tier of the Solution that declares it.
func (res *Result) capacityErrors(site *Site, d Demand) []*FieldError {
	var over []*FieldError
	for _, u := range usage(site, d) {
		if u.Over() {
			field := "spec.capacity." + string(u.Resource)
			over = append(over, &FieldError{File: site.File, Line: site.pos.line(field), Field: field,
				Err: fmt.Errorf("revision asks %s of %s (%s)", u.Demand.String(), u.Capacity.String(), contributions(d.Contributions, u.Resource, ""))})
		}
	}
	// The capacity is a map: its lines give the order.
	slices.SortStableFunc(over, func(a, b *FieldError) int { return cmp.Compare(a.Line, b.Line) })
	for _, q := range d.Quotas {
		err := q.check(d.Contributions)
		if err == nil {
			continue
		}
		place := "site " + site.Name
		if site.Name == "" {
			place = "cluster " + site.Spec.Cluster
		}
		fe := &FieldError{Err: fmt.Errorf("ResourceQuota %s/%s at %s: %w", q.Namespace, q.Name, place, err)}
		if sol, i := res.tier(q.Solution, q.Tier); sol != nil {
			fe.File, fe.Field = sol.File, fmt.Sprintf("spec.tiers[%d]", i)
			fe.Line = sol.pos.line(fe.Field)
		}
		over = append(over, fe)
	}
	return over
}

// tier returns the solution named solution and the index of its tier
// named tier; nil when there is none.
func (res *Result) tier(solution, tier string) (*Solution, int) {
	for _, s := range res.Solutions {
		if s.Name != solution {
			continue
		}
		for i := range s.Spec.Tiers {
			if s.Spec.Tiers[i].Name == tier {
				return s, i
			}
		}
	}
	return nil, 0
}

// check refuses each request the quota bounds that the pods of its
// namespace ask more of than it holds: the API server would refuse the
// pods past it. A scoped quota counts only some pods and is not checked;
// limits and object counts are not either.
func (q Quota) check(cs []Contribution) error {
	if q.Scoped {
		return nil
	}
	var over []string
	for _, key := range slices.Sorted(maps.Keys(q.Hard)) {
		name, ok := quotaRequest(key)
		if !ok {
			continue
		}
		var asked resource.Quantity
		for _, c := range cs {
			if c.Namespace == q.Namespace {
				asked.Add(c.Of(name))
			}
		}
		if hard := q.Hard[key]; asked.Cmp(hard) > 0 {
			over = append(over, fmt.Sprintf("%s %s of %s (%s)", key, asked.String(), hard.String(), contributions(cs, name, q.Namespace)))
		}
	}
	if len(over) == 0 {
		return nil
	}
	return fmt.Errorf("revision asks %s", strings.Join(over, ", "))
}

// quotaRequest returns the resource a ResourceQuota's spec.hard key
// bounds the requests of: requests.<name>, or cpu, memory,
// ephemeral-storage and pods, which bound requests too.
func quotaRequest(key corev1.ResourceName) (corev1.ResourceName, bool) {
	if name, ok := strings.CutPrefix(string(key), "requests."); ok {
		return corev1.ResourceName(name), true
	}
	switch key {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods:
		return key, true
	}
	return "", false
}

// checkCapacity refuses, for every place the render checks, what
// Headroom's Err says. It runs once the revision's targets are complete.
func (r *run) checkCapacity(res *Result) {
	reported := map[string]bool{}
	_ = res.places(func(site *Site, targets []Target) error {
		d, err := siteDemand(site, targets, r.podRequests)
		var oe *ObjectError
		switch {
		case errors.As(err, &oe):
			// Every site sharing the object would say the same.
			if msg := oe.Error(); !reported[msg] {
				reported[msg] = true
				if sol, i := res.tier(oe.Solution, oe.Tier); sol != nil {
					r.addErr(sol.File, sol.pos, fmt.Sprintf("spec.tiers[%d]", i), oe)
				}
			}
		case err == nil:
			r.errs = append(r.errs, res.capacityErrors(site, d)...)
		}
		return nil
	})
}

// podRequests is podRequests for the objects of a render: a site's copy
// of a tier's object has the pod spec of the object it was copied from, so
// the requests of that spec are added up once for every site sharing it.
func (r *run) podRequests(o *unstructured.Unstructured, spec map[string]any) (corev1.ResourceList, error) {
	origin, ok := r.origins[o]
	if !ok {
		return podRequests(o, spec)
	}
	if per, ok := r.perPod[origin]; ok {
		return per, nil
	}
	per, err := podRequests(o, spec)
	if err == nil {
		r.perPod[origin] = per
	}
	return per, err
}

// shownContributions is how many contributions an overflow lists before
// "and N more": enough to see what to scale down.
const shownContributions = 5

// contributions lists what asks for name, largest first: in namespace
// when it is not empty.
func contributions(cs []Contribution, name corev1.ResourceName, namespace string) string {
	type share struct {
		c     Contribution
		total resource.Quantity
	}
	var shares []share
	for _, c := range cs {
		if q := c.Of(name); q.Sign() > 0 && (namespace == "" || c.Namespace == namespace) {
			shares = append(shares, share{c, q})
		}
	}
	slices.SortStableFunc(shares, func(a, b share) int {
		return cmp.Or(b.total.Cmp(a.total), cmp.Compare(a.c.Tier, b.c.Tier), cmp.Compare(a.c.Name, b.c.Name))
	})
	var parts []string
	for i, s := range shares {
		if i == shownContributions {
			parts = append(parts, fmt.Sprintf("and %d more", len(shares)-i))
			break
		}
		per := s.c.PerPod[name]
		parts = append(parts, fmt.Sprintf("%s/%s %d × %s", s.c.Tier, s.c.Name, s.c.Pods, per.String()))
	}
	return strings.Join(parts, ", ")
}
