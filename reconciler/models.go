package reconciler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Model annotations are the renderer's on a serving workload's pod
// template, model.tandem.dev/<model>.version; the pods inherit them, so a
// pod says which version of each model it was started with.
const (
	modelAnnotationPrefix = "model.tandem.dev/"
	modelVersionSuffix    = ".version"
)

// ModelServing is what one workload of a tier serves of one model on a
// cluster, read from its pods at the end of a pass.
type ModelServing struct {
	Model string `json:"model"`
	// Workload names the serving workload, Kind/namespace/name.
	Workload string `json:"workload"`
	// Versions counts the workload's pods by the version of the model
	// they were started with, the most available first. Pods of every
	// revision of the workload count, the old ReplicaSets' as the new
	// one's: what a site serves mid-rollout is both.
	Versions []VersionCount `json:"versions"`
	// Error says why the pods could not be read; Versions is empty then.
	Error string `json:"error,omitempty"`
}

// VersionCount counts the pods that run one version of a model: all of
// them, and those available (Ready) to serve. A pod started before the
// model was declared has no version.
type VersionCount struct {
	Version   string `json:"version"`
	Pods      int    `json:"pods"`
	Available int    `json:"available"`
}

// String says what the workload serves as a person reads it:
// "defect-detector 1.4.0 on 2/3 available pods, 1.5.0 on 1/3".
func (m ModelServing) String() string {
	if m.Error != "" {
		return m.Model + ": " + m.Error
	}
	return m.Model + " " + m.Serving()
}

// Serving is String without the model's name, for a table with a column
// of its own for it: "1.4.0 on 2/3 available pods, 1.5.0 on 1/3". A
// version's pods that are not available are counted apart.
func (m ModelServing) Serving() string {
	if m.Error != "" {
		return m.Error
	}
	if len(m.Versions) == 0 {
		return "on no pods"
	}
	available := 0
	for _, v := range m.Versions {
		available += v.Available
	}
	parts := make([]string, len(m.Versions))
	for i, v := range m.Versions {
		parts[i] = fmt.Sprintf("%s on %d/%d", cmp.Or(v.Version, "<none>"), v.Available, available)
		if i == 0 {
			parts[i] += " available pods"
		}
		if down := v.Pods - v.Available; down > 0 {
			parts[i] += fmt.Sprintf(" (+%d not available)", down)
		}
	}
	return strings.Join(parts, ", ")
}

// servingWorkload is a workload a tier renders that serves a model.
type servingWorkload struct {
	obj    *unstructured.Unstructured
	models []string
}

// servingWorkloads returns the workloads among objs whose pod template
// names the version of a model, and the models each serves, sorted. A tier
// that serves no model has none, and costs a pass nothing more.
func servingWorkloads(objs []*unstructured.Unstructured) []servingWorkload {
	var out []servingWorkload
	for _, obj := range objs {
		annotations, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "template", "metadata", "annotations")
		var models []string
		for k := range annotations {
			if name, ok := strings.CutPrefix(k, modelAnnotationPrefix); ok {
				if name, ok := strings.CutSuffix(name, modelVersionSuffix); ok && name != "" {
					models = append(models, name)
				}
			}
		}
		if len(models) > 0 {
			slices.Sort(models)
			out = append(out, servingWorkload{obj: obj, models: models})
		}
	}
	return out
}

// podSelector returns the selector of a workload's pods: spec.selector, a
// label selector or, for a ReplicationController, a map of labels.
func podSelector(obj *unstructured.Unstructured) (labels.Selector, error) {
	raw, ok, _ := unstructured.NestedMap(obj.Object, "spec", "selector")
	if !ok || len(raw) == 0 {
		return nil, fmt.Errorf("%s has no spec.selector", utils.FmtUnstructured(obj))
	}
	if obj.GetKind() == "ReplicationController" {
		set, _, err := unstructured.NestedStringMap(obj.Object, "spec", "selector")
		if err != nil {
			return nil, fmt.Errorf("%s spec.selector: %w", utils.FmtUnstructured(obj), err)
		}
		return labels.SelectorFromSet(set), nil
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
		return nil, fmt.Errorf("%s spec.selector: %w", utils.FmtUnstructured(obj), err)
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, fmt.Errorf("%s spec.selector: %w", utils.FmtUnstructured(obj), err)
	}
	return sel, nil
}

// countVersions counts pods by the version of model they were started
// with, the most available first, then by version. Pods being deleted do
// not count: they serve no longer, or not for long.
func countVersions(model string, pods []corev1.Pod) []VersionCount {
	key := modelAnnotationPrefix + model + modelVersionSuffix
	var out []VersionCount
	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp != nil {
			continue
		}
		version := pod.Annotations[key]
		j := slices.IndexFunc(out, func(v VersionCount) bool { return v.Version == version })
		if j < 0 {
			j = len(out)
			out = append(out, VersionCount{Version: version})
		}
		out[j].Pods++
		if podReady(pod) {
			out[j].Available++
		}
	}
	slices.SortFunc(out, func(a, b VersionCount) int {
		return cmp.Or(cmp.Compare(b.Available, a.Available), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// podReady reports whether a pod's Ready condition is true: it serves.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// observeModels reads, for each workload of the tier that serves a model,
// the versions its pods run: one list of the workload's pods, holding a
// slot. A list that fails is reported in its models' Error and fails
// nothing: the pass applied what it was to apply all the same.
func (p *tierPass) observeModels(ctx, waitCtx context.Context) {
	workloads := servingWorkloads(p.set.Objects)
	if len(workloads) == 0 {
		return
	}
	if err := p.slot.take(waitCtx); err != nil {
		return
	}
	defer p.slot.give()
	for _, w := range workloads {
		pods, err := p.listPods(ctx, w.obj)
		subject := utils.FmtObjMetadata(p.cluster.Key(w.obj))
		for _, model := range w.models {
			ms := ModelServing{Model: model, Workload: subject}
			if err != nil {
				ms.Error = err.Error()
			} else {
				ms.Versions = countVersions(model, pods)
			}
			p.result.Models = append(p.result.Models, ms)
		}
		if err != nil {
			p.log.Warn("cannot read the models served", "workload", subject, "error", err)
		}
	}
}

// listPods lists the pods of a workload, in its namespace by its selector.
func (p *tierPass) listPods(ctx context.Context, obj *unstructured.Unstructured) ([]corev1.Pod, error) {
	sel, err := podSelector(obj)
	if err != nil {
		return nil, err
	}
	var list corev1.PodList
	if err := p.cluster.Client().List(ctx, &list, client.InNamespace(p.cluster.Key(obj).Namespace),
		client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("list the pods of %s: %w", utils.FmtUnstructured(obj), err)
	}
	return list.Items, nil
}
