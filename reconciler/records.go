package reconciler

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/renderer"
)

// Record is what a cluster itself says about a (solution, tier): the
// ApplySet parent tandem keeps there, read back. It outlives the daemon, so
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
	Phase   Phase
	Message string
	Since   time.Time
	// GroupKinds are the kinds its members may have.
	GroupKinds []schema.GroupKind
	// Namespaces are the namespaces its members are in, besides
	// tandem-system.
	Namespaces []string
}

// ReadRecords reads the ApplySet parents of the cluster cfg reaches.
func ReadRecords(ctx context.Context, cfg *rest.Config) ([]Record, error) {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("read ApplySet parents: %w", err)
	}
	var list corev1.SecretList
	if err := c.List(ctx, &list, client.InNamespace(Namespace), client.HasLabels{IDLabel, renderer.LabelSolution}); err != nil {
		return nil, fmt.Errorf("list ApplySet parents in %s: %w", Namespace, err)
	}
	records := make([]Record, 0, len(list.Items))
	for _, s := range list.Items {
		records = append(records, recordOf(&s))
	}
	return records, nil
}

func recordOf(s *corev1.Secret) Record {
	since, _ := time.Parse(time.RFC3339, s.Annotations[SinceAnnotation])
	return Record{
		Solution:   s.Labels[renderer.LabelSolution],
		Tier:       s.Labels[renderer.LabelTier],
		ID:         s.Labels[IDLabel],
		Tooling:    s.Annotations[ToolingAnnotation],
		Owner:      s.Annotations[OwnerAnnotation],
		Revision:   s.Annotations[RevisionAnnotation],
		Phase:      Phase(s.Annotations[PhaseAnnotation]),
		Message:    s.Annotations[MessageAnnotation],
		Since:      since,
		GroupKinds: parseGroupKinds(s.Annotations[GroupKindsAnnotation]),
		Namespaces: parseList(s.Annotations[NamespacesAnnotation]),
	}
}
