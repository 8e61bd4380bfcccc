package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNewRevisionDoesNotWaitBehindABrokenSite runs "tandem serve", with its
// default health timeout, on a cloud and three edge sites that run
// workloads, one of which is pinned to a node pool it does not have, so its
// gateway never becomes Available. A scale change then reaches every site,
// the broken one included, at once, and so does the commit that fixes it:
// neither waits for the health check of the pass before it to time out.
func TestNewRevisionDoesNotWaitBehindABrokenSite(t *testing.T) {
	e := newBenchFleet(t, benchRepo{sites: 3, workload: true}, fleetOptions{
		DaemonArgs: []string{"--health-timeout", "5m", "--log-format", "json"}, // the default timeout
	})
	const broken = "site-02"
	// Far below the health timeout: a pass that waited it out fails these.
	const promptly = time.Minute

	e.startDaemon()
	e.waitConverged(e.head(), 3*time.Minute)

	writeFiles(t, e.clone, map[string]string{
		"sites/" + broken + "/edge/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../../tiers/edge\npatches:\n- path: gateway-pool.yaml\n",
		"sites/" + broken + "/edge/gateway-pool.yaml":  gatewayPool,
	})
	e.edit("sites/"+broken+".yaml", func(s string) string { return s + "  overlay: sites/" + broken + "\n" })
	pinned := e.commitAndPush("Pin " + broken + "'s gateway to the GPU pool")
	e.eventually(promptly, broken+" Progressing, its gateway never Available", func() error {
		st, err := e.convergedAt(pinned, broken)
		if err != nil {
			return err
		}
		ts, _ := targetOf(st, "bench", "edge", broken)
		if !strings.HasSuffix(ts.DesiredRevision, pinned) || ts.Phase != "Progressing" {
			return errorf("edge on %s at %s: %s: %s", broken, ts.DesiredRevision, ts.Phase, ts.Message)
		}
		return nil
	})

	e.edit("tandem.yaml", func(s string) string { return strings.Replace(s, "scale: 1", "scale: 2", 1) })
	scaled := e.commitAndPush("Scale bench to 2")
	pushed := time.Now()
	e.eventually(promptly, "every cluster's gateway at 2 replicas", func() error {
		for cluster := range e.clients {
			namespace := "bench-edge"
			if cluster == "cloud" {
				namespace = "bench-cloud"
			}
			if got := e.replicas(cluster, "Deployment", namespace, "gateway"); got != 2 {
				return errorf("%s: gateway at %d replicas", cluster, got)
			}
		}
		return nil
	})
	t.Logf("every gateway at 2 replicas %s after the push", time.Since(pushed).Round(time.Millisecond))
	e.waitConverged(scaled, promptly, broken)
	if _, ok := e.logged("reconcile abandoned", map[string]string{
		"cluster": broken, "tier": "edge", "reason": "superseded by a newer target",
	}); !ok {
		t.Errorf("no \"reconcile abandoned\" line for the edge tier on %s in the log", broken)
	}

	if err := os.RemoveAll(filepath.Join(e.clone, "sites", broken)); err != nil {
		t.Fatal(err)
	}
	e.edit("sites/"+broken+".yaml", func(s string) string { return strings.Replace(s, "  overlay: sites/"+broken+"\n", "", 1) })
	fixed := e.commitAndPush("Run " + broken + "'s gateway on any node again")
	pushed = time.Now()
	e.waitConverged(fixed, promptly)
	t.Logf("every site Ready at the fix %s after the push", time.Since(pushed).Round(time.Millisecond))
	e.assertMatchesRender(e.expected())
}

// gatewayPool pins the gateway to nodes no cluster of the fleet has.
const gatewayPool = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway
  namespace: bench-edge
spec:
  template:
    spec:
      nodeSelector:
        node-pool: gpu
`
