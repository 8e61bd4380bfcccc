package diff_test

import (
	"errors"
	"testing"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
)

// fromYAML decodes an object.
func fromYAML(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// planned is a change of a plan.
func planned(action ssa.Action, live, want *unstructured.Unstructured) reconciler.Change {
	u := want
	if u == nil {
		u = live
	}
	return reconciler.Change{
		ChangeSetEntry: ssa.ChangeSetEntry{ObjMetadata: object.UnstructuredToObjMetadata(u), Subject: u.GetName(), Action: action},
		Live:           live,
		Planned:        want,
	}
}

const liveIngest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ingest
  namespace: factory-cloud
  uid: 6f1c6f0e-6a43-4d0c-9d55-0d8a3b0c7a10
  resourceVersion: "4711"
  generation: 3
  creationTimestamp: "2026-01-02T03:04:05Z"
  annotations:
    deployment.kubernetes.io/revision: "1"
  labels:
    applyset.kubernetes.io/part-of: applyset-abc-v1
  managedFields:
  - manager: tandem
    operation: Apply
spec:
  progressDeadlineSeconds: 600
  replicas: 6
  selector:
    matchLabels: {app: ingest}
  strategy:
    type: RollingUpdate
  template:
    metadata:
      labels: {app: ingest}
    spec:
      containers:
      - name: ingest
        image: ghcr.io/smart-factory/ingest:1.8.0
        terminationMessagePath: /dev/termination-log
status:
  readyReplicas: 6
`

func TestLiveReportMatchesGoldenFiles(t *testing.T) {
	ingest := fromYAML(t, liveIngest)
	scaled := ingest.DeepCopy()
	_ = unstructured.SetNestedField(scaled.Object, int64(10), "spec", "replicas")
	_ = unstructured.SetNestedField(scaled.Object, int64(4), "metadata", "generation")
	settings := fromYAML(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: factory-cloud, labels: {applyset.kubernetes.io/part-of: applyset-abc-v1}}, data: {mode: cloud}}`)
	legacy := fromYAML(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: legacy, namespace: factory-cloud, uid: x, resourceVersion: "12", labels: {applyset.kubernetes.io/part-of: applyset-abc-v1}}, data: {old: "true"}}`)
	calibration := fromYAML(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: calibration, namespace: factory-edge, annotations: {tandem.dev/prune: disabled}, labels: {applyset.kubernetes.io/part-of: applyset-def-v1}}, data: {offset: "0.2"}}`)
	kept := calibration.DeepCopy()
	kept.SetLabels(nil)
	ns := fromYAML(t, `{apiVersion: v1, kind: Namespace, metadata: {name: factory-edge, labels: {applyset.kubernetes.io/part-of: applyset-def-v1}}}`)

	head := diff.Revision{Name: "main (1a2b3c4)", Result: &renderer.Result{Targets: []renderer.Target{
		{Solution: "smart-factory", Tier: "cloud", Cluster: "cloud"},
		{Solution: "smart-factory", Tier: "edge", Cluster: "plant-a", Site: "plant-a"},
		{Solution: "smart-factory", Tier: "edge", Cluster: "plant-b", Site: "plant-b"},
		{Solution: "smart-factory", Tier: "edge", Cluster: "plant-c", Site: "plant-c"},
		{Solution: "smart-factory", Tier: "platform-edge", Cluster: "plant-c", Site: "plant-c"},
	}}}
	unreachable := errors.New(`cluster plant-c: list ApplySet parents in tandem-system: Get "https://127.0.0.1:1/api/v1/namespaces/tandem-system/secrets": dial tcp 127.0.0.1:1: connect: connection refused`)
	plans := []reconciler.Plan{
		{Key: reconciler.Key{Cluster: "cloud", Solution: "smart-factory", Tier: "cloud"}, Changes: []reconciler.Change{
			planned(ssa.CreatedAction, nil, settings),
			planned(ssa.DeletedAction, legacy, nil),
			planned(ssa.ConfiguredAction, ingest, scaled),
		}},
		{Key: reconciler.Key{Cluster: "plant-a", Solution: "smart-factory", Tier: "edge"}, Changes: []reconciler.Change{
			planned(ssa.UnchangedAction, ns, nil),
			planned(ssa.SkippedAction, calibration, kept),
		}},
		{Key: reconciler.Key{Cluster: "plant-b", Solution: "smart-factory", Tier: "edge"}, Changes: []reconciler.Change{
			planned(ssa.CreatedAction, nil, ns),
		}},
		{Key: reconciler.Key{Cluster: "plant-c", Solution: "smart-factory", Tier: "edge"}, Err: unreachable, Unreachable: true},
		{Key: reconciler.Key{Cluster: "plant-c", Solution: "smart-factory", Tier: "platform-edge"}, Err: unreachable, Unreachable: true},
	}

	r, err := diff.Live(head, plans)
	if err != nil {
		t.Fatal(err)
	}
	if a, rm, c := r.Count(); a != 2 || rm != 1 || c != 2 {
		t.Errorf("count %d added, %d removed, %d changed; want 2, 1, 2", a, rm, c)
	}
	if len(r.Failures) != 1 || r.Failures[0].Tier != "" {
		t.Errorf("failures %+v, want one for cluster plant-c", r.Failures)
	}
	goldenReport(t, "live", r)
}
