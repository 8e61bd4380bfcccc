package applyset

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/renderer"
)

// Record is what a cluster itself says about a (solution, tier): the
// ApplySet parent tandem keeps there, as a value. It outlives the daemon, so
// "tandem status" needs nothing but a kubeconfig.
type Record struct {
	Solution string
	Tier     string
	// ID is the ApplySet id its members are labelled with.
	ID string
	// Tooling names the tandem version that last wrote it, and Owner the
	// tandem instance that owns it.
	Tooling string
	Owner   string
	// Revision is the revision last applied in full.
	Revision string
	// Phase and Message are the outcome of the last reconcile, in phase
	// since Since.
	Phase   string
	Message string
	Since   time.Time
	// GroupKinds are the kinds its members may have.
	GroupKinds []schema.GroupKind
	// Namespaces are the namespaces its members are in, besides
	// tandem-system.
	Namespaces []string
}

// ListParents lists the ApplySet parents tandem keeps on a cluster. It
// lists them unstructured, as every other request of a pass is sent, for
// a connection's client to need nothing of its own for Secrets.
func ListParents(ctx context.Context, c client.Reader) ([]corev1.Secret, error) {
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("v1")
	list.SetKind(parentGroupKind.Kind + "List")
	if err := c.List(ctx, list, client.InNamespace(Namespace), client.HasLabels{IDLabel, renderer.LabelSolution}); err != nil {
		return nil, fmt.Errorf("list ApplySet parents in %s: %w", Namespace, err)
	}
	parents := make([]corev1.Secret, len(list.Items))
	for i := range list.Items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &parents[i]); err != nil {
			return nil, fmt.Errorf("read ApplySet parent Secret/%s/%s: %w", Namespace, list.Items[i].GetName(), err)
		}
	}
	return parents, nil
}

// ReadRecords reads the ApplySet parents of the cluster cfg reaches.
func ReadRecords(ctx context.Context, cfg *rest.Config) ([]Record, error) {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("read ApplySet parents: %w", err)
	}
	parents, err := ListParents(ctx, c)
	if err != nil {
		return nil, err
	}
	records := make([]Record, 0, len(parents))
	for i := range parents {
		records = append(records, Read(&parents[i]))
	}
	return records, nil
}

// Read decodes an ApplySet parent.
func Read(s *corev1.Secret) Record {
	since, _ := time.Parse(time.RFC3339, s.Annotations[SinceAnnotation])
	return Record{
		Solution:   s.Labels[renderer.LabelSolution],
		Tier:       s.Labels[renderer.LabelTier],
		ID:         s.Labels[IDLabel],
		Tooling:    s.Annotations[ToolingAnnotation],
		Owner:      s.Annotations[OwnerAnnotation],
		Revision:   s.Annotations[RevisionAnnotation],
		Phase:      s.Annotations[PhaseAnnotation],
		Message:    s.Annotations[MessageAnnotation],
		Since:      since,
		GroupKinds: parseGroupKinds(s.Annotations[GroupKindsAnnotation]),
		Namespaces: parseList(s.Annotations[NamespacesAnnotation]),
	}
}

// Name is the name of the record's parent.
func (r Record) Name() string { return ParentName(r.Solution, r.Tier) }

// Labels returns the labels of the record's parent.
func (r Record) Labels() map[string]string {
	return map[string]string{IDLabel: r.ID, renderer.LabelSolution: r.Solution, renderer.LabelTier: r.Tier}
}

// Annotations returns the annotations of the record's parent: the tooling
// and owner always, the others when they are set.
func (r Record) Annotations() map[string]string {
	a := map[string]string{ToolingAnnotation: r.Tooling, OwnerAnnotation: r.Owner}
	set := func(key, value string) {
		if value != "" {
			a[key] = value
		}
	}
	set(GroupKindsAnnotation, formatGroupKinds(r.GroupKinds))
	set(NamespacesAnnotation, formatNamespaces(r.Namespaces))
	set(RevisionAnnotation, r.Revision)
	set(PhaseAnnotation, r.Phase)
	set(MessageAnnotation, r.Message)
	if !r.Since.IsZero() {
		a[SinceAnnotation] = r.Since.UTC().Format(time.RFC3339)
	}
	return a
}

// Object returns the record's parent as the Secret to server-side apply.
func (r Record) Object() *unstructured.Unstructured {
	parent := Parent(r.Name())
	parent.SetLabels(r.Labels())
	parent.SetAnnotations(r.Annotations())
	return parent
}

// Parent returns the parent named name, the Secret in Namespace, with
// nothing but its identity: what a request about it needs.
func Parent(name string) *unstructured.Unstructured {
	parent := &unstructured.Unstructured{}
	parent.SetAPIVersion("v1")
	parent.SetKind(parentGroupKind.Kind)
	parent.SetNamespace(Namespace)
	parent.SetName(name)
	return parent
}

// Inventory returns the group-kinds and namespaces of a set of objects, as
// a parent records them.
func Inventory(objs map[object.ObjMetadata]*unstructured.Unstructured) ([]schema.GroupKind, []string) {
	gks := make(map[schema.GroupKind]bool)
	namespaces := make(map[string]bool)
	for key := range objs {
		gks[key.GroupKind] = true
		if key.Namespace != "" {
			namespaces[key.Namespace] = true
		}
	}
	return slices.Collect(maps.Keys(gks)), slices.Sorted(maps.Keys(namespaces))
}
