package e2e

import (
	"testing"
	"time"
)

// TestServeCorrectsAHandScaleOnTheWatch runs "tandem serve" with a drift
// interval of an hour on one site: a Deployment scaled by hand there is put
// back within seconds, which only the watch of the site's ApplySet
// explains, and the status and metrics count it corrected.
func TestServeCorrectsAHandScaleOnTheWatch(t *testing.T) {
	e := newFleetEnvWith(t, []string{"plant-a"}, writeTree(t, lineRepo), fleetOptions{
		APIServerOnly: true,
		DaemonArgs:    []string{"--drift-interval", "1h"},
	})
	e.startDaemon()
	e.waitConverged(e.head(), time.Minute)

	want := e.replicas("plant-a", "Deployment", "line", "inference")
	scaled := time.Now()
	e.scaleByHand("plant-a", "line", "inference", want+3)
	e.eventually(15*time.Second, "inference back at its rendered replicas", func() error {
		if got := e.replicas("plant-a", "Deployment", "line", "inference"); got != want {
			return errorf("plant-a inference at %d replicas, want %d", got, want)
		}
		return nil
	})
	t.Logf("scaled by hand, put back %s later; drift interval 1h", time.Since(scaled).Round(10*time.Millisecond))

	e.eventually(10*time.Second, "the correction counted in the status and metrics", func() error {
		st, err := e.status()
		if err != nil {
			return err
		}
		ts, ok := targetOf(st, "line", "edge", "plant-a")
		if !ok || ts.Corrected != 1 {
			return errorf("status of line/edge on plant-a: corrected %d, want 1", ts.Corrected)
		}
		families, err := e.metrics()
		if err != nil {
			return err
		}
		if v, _ := metricValue(families, "tandem_objects_corrected_total", map[string]string{"cluster": "plant-a"}); v != 1 {
			return errorf("tandem_objects_corrected_total{cluster=plant-a} = %v, want 1", v)
		}
		return nil
	})
}

// lineRepo is a solution of one edge tier: a namespace and a Deployment
// whose health is not waited for, so an API server alone runs it.
var lineRepo = map[string]string{
	"tandem.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata:
  name: line
spec:
  scale: 1
  tiers:
  - name: edge
    path: tiers/edge
    namespace: line
    targets: {sites: {matchLabels: {tier: edge}}}
    health: {wait: false}
`,
	"sites/plant-a.yaml":            plantA,
	"tiers/edge/kustomization.yaml": kustomization,
	"tiers/edge/objects.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: line
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: inference
spec:
  replicas: 2
  selector:
    matchLabels: {app: inference}
  template:
    metadata:
      labels: {app: inference}
    spec:
      containers:
      - name: inference
        image: registry.example/inference:1.0
`,
}
