package renderer

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/builtins"
	"sigs.k8s.io/kustomize/api/filters/annotations"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/tandem-gitops/tandem/renderer/scaling"
)

// workloadKinds are the kinds a replica rule can scale: the ones kustomize's
// own replicas field specs cover.
var workloadKinds = []string{"Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"}

// Field specs for kustomize's label and annotation transformers: the
// object's own labels (not selectors, which are immutable in workloads), and
// a workload's pod template annotations.
var (
	labelFieldSpecs    = []types.FieldSpec{{Path: "metadata/labels", CreateIfNotPresent: true}}
	templateAnnotation = []types.FieldSpec{{Path: "spec/template/metadata/annotations", CreateIfNotPresent: true}}
)

// workloads returns the resources of m that a rule for name scales.
func workloads(m resmap.ResMap, name string) []*resource.Resource {
	var out []*resource.Resource
	for _, r := range m.Resources() {
		if r.GetName() != name {
			continue
		}
		for _, k := range workloadKinds {
			if r.GetKind() == k {
				out = append(out, r)
			}
		}
	}
	return out
}

// renderTarget renders tier at p. Kustomize builds the tier (or the site's
// overlay) once and its builtin transformers apply what every target of the
// tier shares; a site then costs a copy of what it changes in those objects,
// the fields kustomize's replicas and labels field specs set, with the
// site's replicas and name. A target the last render made from the same
// objects with the same replicas is that render's.
func (r *run) renderTarget(sol *Solution, i int, p placement, model *scaling.Model) ([]*unstructured.Unstructured, error) {
	tier := &sol.Spec.Tiers[i]
	prepared, err := r.prepared(sol, i, r.overlayDir(tier, p))
	if err != nil {
		return nil, err
	}
	site := p.scalingSite(sol)
	replicas := make([]replicaCount, len(tier.Replicas))
	for j, rule := range tier.Replicas {
		n, err := model.Replicas(scaling.Ref{Tier: tier.Name, Workload: rule.Workload}, site)
		if err != nil {
			r.addReplicaErr(sol, p, err)
			return nil, errReported
		}
		if n > manyReplicas && rule.Max == nil {
			r.warnOnce(sol.File, sol.pos, fmt.Sprintf("spec.tiers[%d].replicas[%d]", i, j),
				"workload %s/%s gets %d replicas on %s, more than %d, and the rule has no max; set max to say that many are meant", tier.Name, rule.Workload, n, p, manyReplicas)
		}
		replicas[j] = replicaCount{rule.Workload, n}
	}
	key := targetKey{sol.Name, tier.Name, p.cluster, p.siteName()}
	objs, ok := r.last.target(key, prepared, replicas)
	if !ok {
		if objs, err = copyForSite(prepared, replicas, p.site); err != nil {
			return nil, err
		}
		r.last.keepTarget(key, keptTarget{prepared: prepared, replicas: replicas, objs: objs})
	}
	if p.site != nil { // capacity and quotas are checked at sites
		for i, o := range objs {
			r.origins[o] = prepared[i]
		}
	}
	return objs, nil
}

// copyForSite returns prepared with the replicas set and, for a site, the
// site's label. Only the maps on the path to a field it sets are copied:
// the rest of each object is shared with prepared, and so with every
// other target of the build. Rendered objects are never changed once
// rendered, which makes that safe and a site cheap: a deep copy of every
// object of every site would be most of a large fleet's render.
func copyForSite(prepared []*unstructured.Unstructured, replicas []replicaCount, site *Site) ([]*unstructured.Unstructured, error) {
	objs := make([]*unstructured.Unstructured, len(prepared))
	for i, o := range prepared {
		obj := &unstructured.Unstructured{Object: maps.Clone(o.Object)}
		for _, rc := range replicas {
			if o.GetName() != rc.workload || !slices.Contains(workloadKinds, o.GetKind()) {
				continue
			}
			if err := setCopied(obj.Object, int64(rc.n), "spec", "replicas"); err != nil {
				return nil, fmt.Errorf("set replicas of %s/%s: %w", o.GetKind(), o.GetName(), err)
			}
		}
		if site != nil {
			if err := setCopied(obj.Object, site.Name, "metadata", "labels", LabelSite); err != nil {
				return nil, fmt.Errorf("label %s/%s: %w", o.GetKind(), o.GetName(), err)
			}
		}
		objs[i] = obj
	}
	return objs, nil
}

// setCopied sets the field at path in obj, a map the caller owns, to
// value, as unstructured.SetNestedField does, but copies each map on the
// way instead of changing it, so that maps obj shares stay as they are.
func setCopied(obj map[string]any, value any, path ...string) error {
	m := obj
	for i, field := range path[:len(path)-1] {
		var next map[string]any
		if v, ok := m[field]; ok {
			shared, isMap := v.(map[string]any)
			if !isMap {
				return fmt.Errorf("value cannot be set because .%s is not a map[string]interface{}", strings.Join(path[:i+1], "."))
			}
			next = maps.Clone(shared)
		}
		if next == nil {
			next = map[string]any{}
		}
		m[field] = next
		m = next
	}
	m[path[len(path)-1]] = value
	return nil
}

// manyReplicas is the replica count past which a rule without a max is
// more likely a typo in scale, perScale or a weight than a plan.
const manyReplicas = 10_000

// prepared returns the objects of dir's build for the i-th tier of sol,
// with what every target of the tier shares applied once by kustomize's
// builtin transformers, the solution and tier labels, the models'
// annotations and delivery, and then the namespaces they are applied in. Problems with the objects
// themselves are reported once, however many sites share the build, and
// prepared then returns errReported.
func (r *run) prepared(sol *Solution, i int, dir string) ([]*unstructured.Unstructured, error) {
	tier := &sol.Spec.Tiers[i]
	key := preparedKey{sol.Name, tier.Name, dir}
	if p, ok := r.preparedBuilds[key]; ok {
		return p.objs, p.err
	}
	var p preparedBuild
	m, err := r.build(dir)
	if err == nil {
		m = m.DeepCopy()
		err = prepare(m, sol, tier)
	}
	if err == nil {
		p.objs, err = toUnstructured(m)
	}
	if err != nil {
		p.err = fmt.Errorf("%s: %w", dir, err)
	} else if !r.deliverModels(sol, tier, dir, p.objs) || !r.checkObjects(sol, i, dir, p.objs) {
		p.objs, p.err = nil, errReported
	} else {
		p.objs = r.last.prepared(key, p.objs)
	}
	r.preparedBuilds[key] = p
	return p.objs, p.err
}

// errReported says that the problems of a build are already reported.
var errReported = errors.New("reported")

// checkObjects places the objects of a tier's build in their namespaces
// and checks that none lacks one or writes to what tandem reserves,
// reporting what it finds. It reports whether the objects can be applied.
func (r *run) checkObjects(sol *Solution, i int, dir string, objs []*unstructured.Unstructured) bool {
	tier := &sol.Spec.Tiers[i]
	who := tier.Name
	if dir != tier.dir {
		who += " (overlay " + dir + ")"
	}
	ok := true
	if missing := placeNamespaces(objs, tier.Namespace, r.scopeOf); len(missing) > 0 {
		r.add(sol.File, sol.pos, fmt.Sprintf("spec.tiers[%d].namespace", i), "%s", missingNamespaces(who, missing))
		ok = false
	}
	for _, use := range reservedUses(objs) {
		r.add(sol.File, sol.pos, fmt.Sprintf("spec.tiers[%d]", i), "tier %s renders %s", who, use)
		ok = false
	}
	return ok
}

type preparedKey struct{ solution, tier, dir string }

type preparedBuild struct {
	objs []*unstructured.Unstructured
	err  error
}

func prepare(m resmap.ResMap, sol *Solution, tier *Tier) error {
	for _, rule := range tier.Replicas {
		if len(workloads(m, rule.Workload)) == 0 {
			return fmt.Errorf("no Deployment, StatefulSet, ReplicaSet or ReplicationController named %q to scale", rule.Workload)
		}
	}
	for _, md := range sol.Spec.Models {
		if md.Tier != tier.Name {
			continue
		}
		if err := annotateModel(m, md); err != nil {
			return err
		}
	}
	return setLabels(m, map[string]string{LabelSolution: sol.Name, LabelTier: tier.Name})
}

func setLabels(m resmap.ResMap, labels map[string]string) error {
	t := builtins.LabelTransformerPlugin{Labels: labels, FieldSpecs: labelFieldSpecs}
	if err := t.Transform(m); err != nil {
		return fmt.Errorf("set labels: %w", err)
	}
	return nil
}

// Pod template annotations that carry a model to the workload serving it.
// A new version changes the template, so the workload rolls its pods.
const modelAnnotationPrefix = "model.tandem.dev/"

func annotateModel(m resmap.ResMap, md Model) error {
	ws := workloads(m, md.Workload)
	if len(ws) == 0 {
		return fmt.Errorf("model %s: no workload named %q", md.Name, md.Workload)
	}
	a := map[string]string{modelAnnotationPrefix + md.Name + ".version": md.Version}
	if md.Image != "" {
		a[modelAnnotationPrefix+md.Name+".image"] = md.Image
	} else {
		a[modelAnnotationPrefix+md.Name+".uri"] = md.URI
		a[modelAnnotationPrefix+md.Name+".sha256"] = md.SHA256
	}
	for _, w := range ws {
		if err := w.ApplyFilter(annotations.Filter{Annotations: a, FsSlice: templateAnnotation}); err != nil {
			return fmt.Errorf("model %s: annotate %s/%s: %w", md.Name, w.GetKind(), w.GetName(), err)
		}
	}
	return nil
}

// addReplicaErr reports err, the failure of a replica rule of sol at p,
// at the rule's field.
func (r *run) addReplicaErr(sol *Solution, p placement, err error) {
	_, fields := sol.rules()
	field := "spec.tiers"
	var re *scaling.RuleError
	if errors.As(err, &re) && re.Index < len(fields) {
		field, err = fields[re.Index]+"."+re.Field, re.Err
	}
	r.addErr(sol.File, sol.pos, field, fmt.Errorf("solution %s at %s: %w", sol.Name, p, err))
}
