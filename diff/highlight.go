package diff

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tandem-gitops/tandem/renderer"
)

// Field names what a Highlight is about.
type Field string

// Fields a reviewer of a change to many sites looks for first.
const (
	// Replicas is a workload's spec.replicas.
	Replicas Field = "replicas"
	// Image is the image of one of a workload's containers.
	Image Field = "image"
	// Model is the version of an ML model a workload serves.
	Model Field = "model"
)

// Highlight is one change of a workload's replicas, a container's image or
// a model's version, from one value to another. A value a revision does not
// set is empty.
type Highlight struct {
	Field Field `json:"field"`
	// Name is the container (Image) or the model (Model); empty for
	// Replicas.
	Name string `json:"name,omitempty"`
	From string `json:"from"`
	To   string `json:"to"`
}

// modelAnnotation is the pod template annotation through which the
// renderer hands a model's version to the workload serving it:
// model.tandem.dev/<model>.version, beside .uri and .sha256.
const (
	modelAnnotationPrefix = "model.tandem.dev/"
	modelVersionSuffix    = ".version"
)

// highlights returns the highlights of a change from a to b, and whether
// anything else changed too. Masking the highlighted fields and comparing
// again, rather than listing every difference, keeps "other" exact.
func highlights(a, b *unstructured.Unstructured) ([]Highlight, bool) {
	var hs []Highlight
	if from, to := replicas(a), replicas(b); from != to {
		hs = append(hs, Highlight{Field: Replicas, From: from, To: to})
	}
	ta, tb := podTemplatePath(a.GetKind()), podTemplatePath(b.GetKind())
	var containers, models []string
	if ta != nil && tb != nil {
		ia, ib := images(a, ta), images(b, tb)
		for _, c := range ib.order {
			if from, ok := ia.image[c]; ok && from != ib.image[c] {
				hs = append(hs, Highlight{Field: Image, Name: c, From: from, To: ib.image[c]})
				containers = append(containers, c)
			}
		}
		va, vb := modelVersions(a, ta), modelVersions(b, tb)
		for _, name := range slices.Sorted(maps.Keys(vb)) {
			if va[name] != vb[name] {
				hs = append(hs, Highlight{Field: Model, Name: name, From: va[name], To: vb[name]})
				models = append(models, name)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(va)) {
			if _, ok := vb[name]; !ok {
				hs = append(hs, Highlight{Field: Model, Name: name, From: va[name]})
				models = append(models, name)
			}
		}
	}
	if len(hs) == 0 {
		return nil, true
	}
	ma, mb := a.DeepCopy(), b.DeepCopy()
	mask(ma, ta, containers, models)
	mask(mb, tb, containers, models)
	return hs, !equal(ma.Object, mb.Object)
}

// mask removes from u, a copy, the fields that highlights report:
// spec.replicas, the images of the named containers, and the annotations
// of the named models with what delivers them (their fetch init container,
// their volume and their environment variables).
func mask(u *unstructured.Unstructured, template []string, containers, models []string) {
	unstructured.RemoveNestedField(u.Object, "spec", "replicas")
	if template == nil {
		return
	}
	delivers := func(name string) bool {
		return slices.ContainsFunc(models, func(m string) bool { return name == renderer.ModelFetchContainer(m) || name == renderer.ModelVolume(m) })
	}
	modelEnv := func(name string) bool {
		return slices.ContainsFunc(models, func(m string) bool { return strings.HasPrefix(name, renderer.ModelEnvPrefix(m)) })
	}
	spec := concat(template, "spec")
	for _, field := range []string{"initContainers", "containers", "volumes"} {
		list, _, _ := unstructured.NestedFieldNoCopy(u.Object, concat(spec, field)...)
		items, _ := list.([]any)
		items = slices.DeleteFunc(items, func(item any) bool {
			name, _ := item.(map[string]any)["name"].(string)
			return delivers(name)
		})
		for _, item := range items {
			c, _ := item.(map[string]any)
			if name, _ := c["name"].(string); slices.Contains(containers, name) {
				delete(c, "image")
			}
			if env, ok := c["env"].([]any); ok {
				c["env"] = slices.DeleteFunc(env, func(e any) bool {
					name, _ := e.(map[string]any)["name"].(string)
					return modelEnv(name)
				})
			}
		}
		if list != nil {
			_ = unstructured.SetNestedField(u.Object, items, concat(spec, field)...)
		}
	}
	ann, _, _ := unstructured.NestedFieldNoCopy(u.Object, concat(template, "metadata", "annotations")...)
	annotations, _ := ann.(map[string]any)
	for _, name := range models {
		for k := range annotations {
			if strings.HasPrefix(k, modelAnnotationPrefix+name+".") {
				delete(annotations, k)
			}
		}
	}
}

// concat returns a new path of p followed by fields.
func concat(p []string, fields ...string) []string {
	return append(slices.Clip(p), fields...)
}

// replicas returns spec.replicas as text, empty when unset.
func replicas(u *unstructured.Unstructured) string {
	n, ok, err := unstructured.NestedFieldNoCopy(u.Object, "spec", "replicas")
	if !ok || err != nil {
		return ""
	}
	switch v := n.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// podTemplatePath returns where a workload kind keeps its pod template, or
// nil for kinds that have none.
func podTemplatePath(kind string) []string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		return []string{"spec", "template"}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template"}
	}
	return nil
}

// containerImages are the images of a pod template's containers, init
// containers included, by container name, in the template's order.
type containerImages struct {
	order []string
	image map[string]string
}

func images(u *unstructured.Unstructured, template []string) containerImages {
	ci := containerImages{image: map[string]string{}}
	for _, field := range []string{"initContainers", "containers"} {
		list, _, _ := unstructured.NestedFieldNoCopy(u.Object, concat(template, "spec", field)...)
		items, _ := list.([]any)
		for _, item := range items {
			c, _ := item.(map[string]any)
			name, _ := c["name"].(string)
			image, _ := c["image"].(string)
			if _, dup := ci.image[name]; name == "" || dup {
				continue
			}
			ci.order = append(ci.order, name)
			ci.image[name] = image
		}
	}
	return ci
}

// modelVersions returns the versions of the models a pod template serves,
// by model name.
func modelVersions(u *unstructured.Unstructured, template []string) map[string]string {
	ann, _, _ := unstructured.NestedStringMap(u.Object, concat(template, "metadata", "annotations")...)
	out := map[string]string{}
	for k, v := range ann {
		if name, ok := strings.CutPrefix(k, modelAnnotationPrefix); ok {
			if name, ok := strings.CutSuffix(name, modelVersionSuffix); ok {
				out[name] = v
			}
		}
	}
	return out
}
