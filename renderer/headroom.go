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

// Headroom is how much of its spec.capacity a revision uses at one site.
type Headroom struct {
	Site string
	// Usage has one entry per resource of the site's spec.capacity,
	// sorted by resource name.
	Usage []Usage
	// Err says why the site cannot run the revision, as the render
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
// targets, how much of each resource the result asks of it, sorted by site.
func (res *Result) Headroom() ([]Headroom, error) {
	return res.headroom(nil)
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
	return res.headroom(func(d *Demand, site *Site) {
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

// headroom computes every site's demand, changed by adjust when it is not
// nil, and compares it with the site's capacity.
func (res *Result) headroom(adjust func(*Demand, *Site)) ([]Headroom, error) {
	byCluster := targetsByCluster(res.Targets)
	var out []Headroom
	for _, site := range res.Sites {
		if len(site.Spec.Capacity) == 0 || len(byCluster[site.Spec.Cluster]) == 0 {
			continue
		}
		d, err := SiteDemand(site, byCluster[site.Spec.Cluster])
		if err != nil {
			return nil, fmt.Errorf("site %s: %w", site.Name, err)
		}
		if adjust != nil {
			adjust(&d, site)
		}
		var errs []error
		for _, e := range capacityErrors(site, d) {
			errs = append(errs, e)
		}
		out = append(out, Headroom{Site: site.Name, Usage: usage(site, d), Err: errors.Join(errs...)})
	}
	return out, nil
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

// capacityErrors returns why d does not fit site, naming the site's file
// and the spec.capacity field of each resource it asks too much of, and
// each ResourceQuota whose namespace it asks more of than the quota holds.
func capacityErrors(site *Site, d Demand) []*FieldError {
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
		if err := q.check(d.Contributions); err != nil {
			over = append(over, &FieldError{File: site.File, Line: site.pos.line("spec.capacity"), Field: "spec.capacity", Err: err})
		}
	}
	return over
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
	return fmt.Errorf("ResourceQuota %s/%s of tier %s: revision asks %s", q.Namespace, q.Name, q.Tier, strings.Join(over, ", "))
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

// checkCapacity refuses, for every site of res with spec.capacity, what
// Headroom's Err says. It runs once the revision's targets are complete.
func (r *run) checkCapacity(res *Result) {
	byCluster := targetsByCluster(res.Targets)
	for _, site := range res.Sites {
		if len(site.Spec.Capacity) == 0 || len(byCluster[site.Spec.Cluster]) == 0 {
			continue
		}
		d, err := siteDemand(site, byCluster[site.Spec.Cluster], r.podRequests)
		if err != nil {
			r.addErr(site.File, site.pos, "spec.capacity", fmt.Errorf("site %s: %w", site.Name, err))
			continue
		}
		r.errs = append(r.errs, capacityErrors(site, d)...)
	}
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
