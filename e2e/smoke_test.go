package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	ssautil "github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

const smokeManifests = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: inference, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: inference}}
  template:
    metadata: {labels: {app: inference}}
    spec:
      containers:
      - name: inference
        image: registry.example/inference:1.4.0
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: inference, namespace: default}
spec:
  selector: {app: inference}
  ports: [{port: 80, targetPort: 8080}]
`

// TestSmokeApplyToThreeFullClusters applies a Deployment and a Service with
// server-side apply to a cloud and two edge clusters and waits until the
// Deployment's replicas are Available on each.
func TestSmokeApplyToThreeFullClusters(t *testing.T) {
	fleet := testbed.StartT(t, testbed.Options{Names: []string{"cloud", "plant-a", "plant-b"}, Full: true})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var g errgroup.Group
	for _, c := range fleet.Clusters() {
		g.Go(func() error {
			if err := smokeCluster(ctx, c.RESTConfig()); err != nil {
				return fmt.Errorf("cluster %s: %w", c.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func smokeCluster(ctx context.Context, cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	info, err := dc.ServerVersion()
	if err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	if info.GitVersion != "v1.37.2" {
		return fmt.Errorf("server reports version %q, want v1.37.2", info.GitVersion)
	}

	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return err
	}
	kube, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		return err
	}
	rm := ssa.NewResourceManager(kube, polling.NewStatusPoller(kube, mapper, polling.Options{}),
		ssa.Owner{Field: "tandem", Group: "tandem.dev"})

	objects, err := ssautil.ReadObjects(strings.NewReader(smokeManifests))
	if err != nil {
		return err
	}
	changes, err := rm.ApplyAllStaged(ctx, objects, ssa.DefaultApplyOptions())
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	for _, e := range changes.Entries {
		if e.Action != ssa.CreatedAction {
			return fmt.Errorf("%s: action %s on a fresh cluster, want created", e.Subject, e.Action)
		}
	}
	if err := rm.WaitForSetWithContext(ctx, changes.ToObjMetadataSet(),
		ssa.WaitOptions{Interval: time.Second, Timeout: 2 * time.Minute}); err != nil {
		return fmt.Errorf("wait: %w", err)
	}

	for _, want := range objects {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(want.GroupVersionKind())
		if err := kube.Get(ctx, client.ObjectKeyFromObject(want), live); err != nil {
			return err
		}
		managers := make([]string, 0, len(live.GetManagedFields()))
		for _, f := range live.GetManagedFields() {
			managers = append(managers, f.Manager)
		}
		if !slices.Contains(managers, "tandem") {
			return fmt.Errorf("%s/%s managed by %v, want tandem among them", want.GetKind(), want.GetName(), managers)
		}
		if want.GetKind() == "Deployment" {
			available, _, _ := unstructured.NestedInt64(live.Object, "status", "availableReplicas")
			if available != 2 {
				return fmt.Errorf("deployment %s: %d replicas available, want 2", want.GetName(), available)
			}
		}
	}
	return nil
}
