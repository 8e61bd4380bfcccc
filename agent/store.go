package agent

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// storeKey is the key of the ConfigMap's data holding the release.
const storeKey = "release.json"

// Store keeps the last release an agent applied in its own cluster, in
// the ConfigMap tandem-agent-<site> of namespace tandem-system, so that an
// agent restarted while the hub cannot be reached runs it again.
type Store struct {
	Client kubernetes.Interface
	Site   string
}

func (s Store) name() string { return "tandem-agent-" + s.Site }

// Load returns the stored release; false when none is stored.
func (s Store) Load(ctx context.Context) (Release, bool, error) {
	cm, err := s.Client.CoreV1().ConfigMaps(applyset.Namespace).Get(ctx, s.name(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return Release{}, false, nil
	case err != nil:
		return Release{}, false, fmt.Errorf("read the stored release from ConfigMap %s/%s: %w", applyset.Namespace, s.name(), err)
	}
	var rel Release
	if err := json.Unmarshal([]byte(cm.Data[storeKey]), &rel); err != nil {
		return Release{}, false, fmt.Errorf("ConfigMap %s/%s: data %s: %w", applyset.Namespace, s.name(), storeKey, err)
	}
	if rel.Site != s.Site {
		return Release{}, false, fmt.Errorf("ConfigMap %s/%s holds a release of site %q, not of %s", applyset.Namespace, s.name(), rel.Site, s.Site)
	}
	return rel, true, nil
}

// Delete forgets the stored release, if any.
func (s Store) Delete(ctx context.Context) error {
	err := s.Client.CoreV1().ConfigMaps(applyset.Namespace).Delete(ctx, s.name(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the stored release, ConfigMap %s/%s: %w", applyset.Namespace, s.name(), err)
	}
	return nil
}

// Save stores rel, creating the namespace when the cluster has none yet.
func (s Store) Save(ctx context.Context, rel Release) error {
	data, err := json.Marshal(rel)
	if err != nil {
		return fmt.Errorf("encode release: %w", err)
	}
	opts := metav1.ApplyOptions{FieldManager: "tandem-agent", Force: true}
	if _, err := s.Client.CoreV1().Namespaces().Apply(ctx, corev1apply.Namespace(applyset.Namespace), opts); err != nil && !apierrors.IsForbidden(err) {
		return fmt.Errorf("create namespace %s for the stored release: %w", applyset.Namespace, err)
	}
	cm := corev1apply.ConfigMap(s.name(), applyset.Namespace).
		WithLabels(map[string]string{"app.kubernetes.io/managed-by": "tandem-agent", "tandem.dev/site": s.Site}).
		WithData(map[string]string{storeKey: string(data)})
	if _, err := s.Client.CoreV1().ConfigMaps(applyset.Namespace).Apply(ctx, cm, opts); err != nil {
		return fmt.Errorf("store the release in ConfigMap %s/%s: %w", applyset.Namespace, s.name(), err)
	}
	return nil
}
