package renderer

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Demand is what a revision asks of one site's machines: the requests of
// the pods it runs there, added up as the scheduler adds them, and the
// ResourceQuotas its tiers declare there. SiteDemand computes it; the
// render compares it with the site's spec.capacity.
type Demand struct {
	// Total is, per resource, the sum over Contributions of Pods × PerPod.
	Total corev1.ResourceList
	// Contributions are the workloads that run pods on the site, in the
	// order of the targets and of their objects.
	Contributions []Contribution
	// Quotas are the ResourceQuotas rendered for the site, in the same
	// order. They ask for nothing themselves; each bounds what the pods
	// of its namespace may request.
	Quotas []Quota
}

// Contribution is one workload's share of a Demand.
type Contribution struct {
	Solution, Tier string
	// Site is the site the workload's tier was rendered for; empty for a
	// tier on named clusters that lands on the site's cluster.
	Site      string
	Kind      string // Deployment, StatefulSet, ReplicaSet, ReplicationController, DaemonSet or Pod
	Namespace string
	Name      string
	// Pods is how many pods the workload runs on the site: its replicas
	// (1 when unset), a DaemonSet's the site's spec.nodes, a Pod's 1.
	Pods int64
	// PerPod is one pod's effective request per resource, as the scheduler
	// counts it, with "pods" as 1.
	PerPod corev1.ResourceList
}

// Of returns what the contribution asks of resource name: Pods × PerPod.
func (c Contribution) Of(name corev1.ResourceName) resource.Quantity {
	return times(c.PerPod[name], c.Pods)
}

// times returns q × n. Quantity.Mul goes through an arbitrary-precision
// decimal, which a render of a thousand sites feels; counted in
// thousandths, the product of any request and replica count fits an int64.
func times(q resource.Quantity, n int64) resource.Quantity {
	if m := q.MilliValue(); n >= 0 && m >= 0 && (n == 0 || m <= math.MaxInt64/n) {
		return *resource.NewMilliQuantity(m*n, q.Format)
	}
	p := q.DeepCopy()
	p.Mul(n)
	return p
}

// Quota is a ResourceQuota rendered for a site.
type Quota struct {
	Solution, Tier  string
	Namespace, Name string
	// Hard is the quota's spec.hard, as declared (requests.cpu, pods, …).
	Hard corev1.ResourceList
	// Scoped is whether the quota has scopes or a scopeSelector, and so
	// counts only some of its namespace's pods.
	Scoped bool
}

// SiteDemand returns what targets, every target of a rendered revision or
// any subset holding the site's, ask of site: the targets rendered for the
// site and those of tiers on named clusters that land on the site's
// cluster, since both run on the same machines.
//
// A pod asks, per resource, the larger of its containers' requests added
// up and its largest init container's, as the scheduler counts: a sidecar
// (an init container with restartPolicy Always) runs beside the containers
// and is added to them, and to every init container that starts after it.
// A container's limit stands in for a request it lacks, as the API server
// defaults it; the pod's spec.overhead is added. LimitRange defaults are
// not applied. Jobs and CronJobs are not counted: their pods come and go.
// A quantity that does not parse is an error naming the object and field.
func SiteDemand(site *Site, targets []Target) (Demand, error) {
	return siteDemand(site, targets, podRequests)
}

// ObjectError is a problem with one rendered object of a tier, such as a
// quantity that does not parse.
type ObjectError struct {
	Solution, Tier string
	Object         string // Kind namespace/name
	Err            error
}

func (e *ObjectError) Error() string {
	return fmt.Sprintf("%s of tier %s: %v", e.Object, e.Tier, e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

// podRequestsFunc returns the effective requests of a pod spec, the spec
// of o's pods.
type podRequestsFunc func(o *unstructured.Unstructured, spec map[string]any) (corev1.ResourceList, error)

func siteDemand(site *Site, targets []Target, requests podRequestsFunc) (Demand, error) {
	d := Demand{Total: corev1.ResourceList{}}
	for _, t := range targets {
		if t.Site != site.Name && (t.Site != "" || t.Cluster != site.Spec.Cluster) {
			continue
		}
		for _, o := range t.Objects {
			if err := d.add(site, t, o, requests); err != nil {
				return Demand{}, &ObjectError{Solution: t.Solution, Tier: t.Tier, Object: o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName(), Err: err}
			}
		}
	}
	return d, nil
}

// add adds what o asks of site to d.
func (d *Demand) add(site *Site, t Target, o *unstructured.Unstructured, requests podRequestsFunc) error {
	apiVersion, _ := o.Object["apiVersion"].(string)
	kind, _ := o.Object["kind"].(string)
	if kind == "ResourceQuota" && apiVersion == "v1" {
		hard, err := quantities(o.Object, "spec", "hard")
		if err != nil {
			return err
		}
		spec, _ := o.Object["spec"].(map[string]any)
		_, scopes := spec["scopes"]
		_, selector := spec["scopeSelector"]
		d.Quotas = append(d.Quotas, Quota{Solution: t.Solution, Tier: t.Tier, Namespace: o.GetNamespace(), Name: o.GetName(), Hard: hard, Scoped: scopes || selector})
		return nil
	}
	pods, spec, ok, err := podsOf(site, apiVersion, kind, o.Object)
	if !ok || err != nil {
		return err
	}
	per, err := requests(o, spec)
	if err != nil {
		return err
	}
	c := Contribution{Solution: t.Solution, Tier: t.Tier, Site: t.Site, Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName(), Pods: pods, PerPod: per}
	for name := range per {
		total := d.Total[name]
		total.Add(c.Of(name))
		d.Total[name] = total
	}
	d.Contributions = append(d.Contributions, c)
	return nil
}

// podsOf returns how many pods an object of kind runs on site and their
// pod spec; ok is false when it runs no pods the check counts.
func podsOf(site *Site, apiVersion, kind string, obj map[string]any) (pods int64, spec map[string]any, ok bool, err error) {
	apps := strings.HasPrefix(apiVersion, "apps/")
	switch {
	case apps && (kind == "Deployment" || kind == "StatefulSet" || kind == "ReplicaSet"),
		apiVersion == "v1" && kind == "ReplicationController":
		pods = 1
		if v, found, _ := unstructured.NestedFieldNoCopy(obj, "spec", "replicas"); found && v != nil {
			n, isInt := asInt(v)
			if !isInt || n < 0 {
				return 0, nil, false, fmt.Errorf("spec.replicas: want a count, got %v", v)
			}
			pods = n
		}
	case apps && kind == "DaemonSet":
		pods = int64(site.Spec.Nodes)
	case apiVersion == "v1" && kind == "Pod":
		spec, _ := obj["spec"].(map[string]any)
		return 1, spec, true, nil
	default:
		return 0, nil, false, nil
	}
	v, _, _ := unstructured.NestedFieldNoCopy(obj, "spec", "template", "spec")
	spec, _ = v.(map[string]any)
	return pods, spec, true, nil
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		return int64(n), n == float64(int64(n))
	}
	return 0, false
}

// podRequests returns a pod's effective request per resource, "pods" 1
// among them, counted as the scheduler does (see SiteDemand).
func podRequests(_ *unstructured.Unstructured, spec map[string]any) (corev1.ResourceList, error) {
	reqs := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(1, resource.DecimalSI)}
	containers, _ := spec["containers"].([]any)
	for i, c := range containers {
		if err := addContainer(reqs, c); err != nil {
			return nil, fmt.Errorf("containers[%d].%w", i, err)
		}
	}
	var sidecars, initMax corev1.ResourceList
	inits, _ := spec["initContainers"].([]any)
	for i, c := range inits {
		r := corev1.ResourceList{}
		if err := addContainer(r, c); err != nil {
			return nil, fmt.Errorf("initContainers[%d].%w", i, err)
		}
		if initMax == nil {
			sidecars, initMax = corev1.ResourceList{}, corev1.ResourceList{}
		}
		if policy, _ := c.(map[string]any)["restartPolicy"].(string); policy == string(corev1.ContainerRestartPolicyAlways) {
			addList(reqs, r)
			addList(sidecars, r)
			r = sidecars
		} else {
			addList(r, sidecars)
		}
		maxList(initMax, r)
	}
	maxList(reqs, initMax)
	if _, found := spec["overhead"]; found {
		overhead, err := quantities(spec, "overhead")
		if err != nil {
			return nil, err
		}
		addList(reqs, overhead)
	}
	return reqs, nil
}

// addContainer adds a container's requests to dst, its limits standing in
// for those it lacks.
func addContainer(dst corev1.ResourceList, c any) error {
	resources, _ := c.(map[string]any)["resources"].(map[string]any)
	requests, _ := resources["requests"].(map[string]any)
	limits, _ := resources["limits"].(map[string]any)
	for name, v := range limits {
		if _, ok := requests[name]; ok {
			continue
		}
		if err := addQuantity(dst, name, v); err != nil {
			return fmt.Errorf("resources.limits.%s: %w", name, err)
		}
	}
	for name, v := range requests {
		if err := addQuantity(dst, name, v); err != nil {
			return fmt.Errorf("resources.requests.%s: %w", name, err)
		}
	}
	return nil
}

func addQuantity(dst corev1.ResourceList, name string, v any) error {
	q, err := quantity(v)
	if err != nil {
		return err
	}
	sum := dst[corev1.ResourceName(name)]
	sum.Add(q)
	dst[corev1.ResourceName(name)] = sum
	return nil
}

// quantities parses the resource list at fields of obj.
func quantities(obj map[string]any, fields ...string) (corev1.ResourceList, error) {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, fields...)
	m, _ := v.(map[string]any)
	out := make(corev1.ResourceList, len(m))
	for name, v := range m {
		q, err := quantity(v)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", strings.Join(fields, "."), name, err)
		}
		out[corev1.ResourceName(name)] = q
	}
	return out, nil
}

// quantity parses a quantity as an unstructured object holds it.
func quantity(v any) (resource.Quantity, error) {
	switch v := v.(type) {
	case string:
		return resource.ParseQuantity(v)
	case int64:
		return *resource.NewQuantity(v, resource.DecimalSI), nil
	case float64:
		return resource.ParseQuantity(strconv.FormatFloat(v, 'f', -1, 64))
	}
	return resource.Quantity{}, fmt.Errorf("want a quantity, got %v", v)
}

func addList(dst, src corev1.ResourceList) {
	for name, q := range src {
		sum := dst[name]
		sum.Add(q)
		dst[name] = sum
	}
}

func maxList(dst, src corev1.ResourceList) {
	for name, q := range src {
		if cur, ok := dst[name]; !ok || q.Cmp(cur) > 0 {
			dst[name] = q.DeepCopy()
		}
	}
}

// validateCapacity checks the site's spec.capacity and spec.nodes, and
// defaults spec.nodes to 1.
func (l *loader) validateCapacity(s *Site) {
	f, pos := s.File, s.pos
	switch {
	case !pos.has("spec.nodes"):
		s.Spec.Nodes = 1
	case s.Spec.Nodes < 1:
		l.add(f, pos, "spec.nodes", "nodes %d must be ≥ 1", s.Spec.Nodes)
	}
	for _, name := range slices.Sorted(maps.Keys(s.Spec.Capacity)) {
		field := "spec.capacity." + string(name)
		if !capacityName(name) {
			l.add(f, pos, field, "unknown resource %q: want cpu, memory, ephemeral-storage, pods, hugepages-<size> or an extended resource with a domain, such as nvidia.com/gpu", name)
			continue
		}
		switch q := s.Spec.Capacity[name]; {
		case q.Sign() < 0:
			l.add(f, pos, field, "capacity %s must be ≥ 0", q.String())
		case wholeResource(name) && q.MilliValue()%1000 != 0:
			l.add(f, pos, field, "capacity %s must be a whole number: there is no fraction of a pod or of an extended resource", q.String())
		}
	}
}

// wholeResource reports whether name is counted in whole units: pods and
// extended resources, such as GPUs.
func wholeResource(name corev1.ResourceName) bool {
	return name == corev1.ResourcePods || strings.Contains(string(name), "/")
}

// capacityName reports whether name is a resource a node can have: a
// standard one, or an extended resource, which has a domain.
func capacityName(name corev1.ResourceName) bool {
	switch {
	case name == corev1.ResourceCPU, name == corev1.ResourceMemory, name == corev1.ResourceEphemeralStorage, name == corev1.ResourcePods:
		return true
	case strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
		_, err := resource.ParseQuantity(strings.TrimPrefix(string(name), corev1.ResourceHugePagesPrefix))
		return err == nil
	case strings.Contains(string(name), "/"):
		return len(validation.IsQualifiedName(string(name))) == 0
	}
	return false
}
