package renderer

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/builtins"
	"sigs.k8s.io/kustomize/api/filters/annotations"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"

	"github.com/tandem-gitops/tandem/renderer/scaling"
)

// workloadKinds are the kinds a replica rule can scale: the ones kustomize's
// own replicas field specs cover.
var workloadKinds = []string{"Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"}

var (
	replicaFieldSpecs  = fieldSpecs("spec/replicas", workloadKinds...)
	labelFieldSpecs    = fieldSpecs("metadata/labels")
	templateAnnotation = fieldSpecs("spec/template/metadata/annotations")
)

func fieldSpecs(p string, kinds ...string) []types.FieldSpec {
	if len(kinds) == 0 {
		return []types.FieldSpec{{Path: p, CreateIfNotPresent: true}}
	}
	specs := make([]types.FieldSpec, len(kinds))
	for i, k := range kinds {
		specs[i] = types.FieldSpec{Gvk: resid.Gvk{Kind: k}, Path: p, CreateIfNotPresent: true}
	}
	return specs
}

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

// renderTarget renders tier at p: a deep copy of the tier's prepared
// build (or the site overlay's), with the site's replicas and label applied
// by kustomize's own builtin transformers, so that a site costs a copy and
// a few transforms instead of a build.
func (r *run) renderTarget(sol *Solution, tier *Tier, p placement, model *scaling.Model) ([]*unstructured.Unstructured, error) {
	prepared, err := r.prepared(sol, tier, r.overlayDir(tier, p))
	if err != nil {
		return nil, err
	}
	m := prepared.DeepCopy()
	for _, rule := range tier.Replicas {
		n, _ := model.Replicas(scaling.Ref{Tier: tier.Name, Workload: rule.Workload}, p.weight())
		t := builtins.ReplicaCountTransformerPlugin{
			Replica:    types.Replica{Name: rule.Workload, Count: int64(n)},
			FieldSpecs: replicaFieldSpecs,
		}
		if err := t.Transform(m); err != nil {
			return nil, fmt.Errorf("set replicas of %s: %w", rule.Workload, err)
		}
	}
	if p.site != nil {
		if err := setLabels(m, map[string]string{LabelSite: p.site.Name}); err != nil {
			return nil, err
		}
	}
	return toUnstructured(m)
}

// prepared returns the build of dir for tier with what every target of the
// tier shares applied once: the solution and tier labels and the models.
func (r *run) prepared(sol *Solution, tier *Tier, dir string) (resmap.ResMap, error) {
	key := preparedKey{sol.Name, tier.Name, dir}
	if b, ok := r.preparedBuilds[key]; ok {
		return b.m, b.err
	}
	m, err := r.build(dir)
	if err == nil {
		m = m.DeepCopy()
		err = prepare(m, sol, tier)
	}
	r.preparedBuilds[key] = build{m, err}
	return m, err
}

type preparedKey struct{ solution, tier, dir string }

func prepare(m resmap.ResMap, sol *Solution, tier *Tier) error {
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
	a := map[string]string{
		modelAnnotationPrefix + md.Name + ".version": md.Version,
		modelAnnotationPrefix + md.Name + ".uri":     md.URI,
	}
	if md.SHA256 != "" {
		a[modelAnnotationPrefix+md.Name+".sha256"] = md.SHA256
	}
	for _, w := range ws {
		if err := w.ApplyFilter(annotations.Filter{Annotations: a, FsSlice: templateAnnotation}); err != nil {
			return fmt.Errorf("model %s: annotate %s/%s: %w", md.Name, w.GetKind(), w.GetName(), err)
		}
	}
	return nil
}
