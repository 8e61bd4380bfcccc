package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// TestTwoInstancesOnOneFleetKeepToTheirOwnTiers runs two "tandem serve",
// each following a repository of its own, on one cloud and one site. With
// disjoint solutions both converge and neither touches the other's tiers; a
// solution the second also declares is refused there naming both owners,
// with nothing of the first's deleted; run with --take-over, the second
// takes the tier, prunes only what its render lacks, and the first is then
// the one refused.
func TestTwoInstancesOnOneFleetKeepToTheirOwnTiers(t *testing.T) {
	first := newFleetEnvWith(t, []string{"cloud", "plant-a"}, writeTree(t, telemetryRepo), fleetOptions{APIServerOnly: true})
	second := first.otherRepository("billing", writeTree(t, billingRepo))
	firstName, secondName := instanceName(first.repoURL), instanceName(second.repoURL)
	cm := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	const converge = time.Minute

	first.startDaemon()
	first.waitConverged(first.head(), converge)
	first.waitDriftPass(30 * time.Second)
	firstTiers := map[string]string{"cloud": "cloud", "plant-a": "edge"} // cluster → tier of telemetry
	firstParents := map[string]*corev1.Secret{}
	for cluster, tier := range firstTiers {
		firstParents[cluster] = first.parent(cluster, "telemetry", tier)
	}

	t.Run("disjoint solutions: each converges and leaves the other's tiers alone", func(t *testing.T) {
		first.t, second.t = t, t
		second.startDaemon()
		second.waitConverged(second.head(), converge)
		second.waitDriftPass(30 * time.Second)

		for _, d := range []struct {
			env      *fleetEnv
			solution string
		}{{first, "telemetry"}, {second, "billing"}} {
			st, err := d.env.convergedAt(d.env.head())
			if err != nil {
				t.Errorf("instance of %s: %v", d.solution, err)
			}
			if got := solutionsOf(st); !slices.Equal(got, []string{d.solution}) {
				t.Errorf("instance of %s reports solutions %v, want only its own", d.solution, got)
			}
		}
		for cluster, before := range firstParents {
			after := first.parent(cluster, "telemetry", firstTiers[cluster])
			if after.ResourceVersion != before.ResourceVersion {
				t.Errorf("%s: parent %s rewritten while the other instance ran (resourceVersion %s → %s, annotations %v)",
					cluster, after.Name, before.ResourceVersion, after.ResourceVersion, after.Annotations)
			}
			if owner := after.Annotations[applyset.OwnerAnnotation]; owner != firstName {
				t.Errorf("%s: parent %s owned by %q, want %q", cluster, after.Name, owner, firstName)
			}
		}
		for cluster, tier := range map[string]string{"cloud": "cloud", "plant-a": "edge"} {
			if owner := second.parent(cluster, "billing", tier).Annotations[applyset.OwnerAnnotation]; owner != secondName {
				t.Errorf("%s: parent billing.%s owned by %q, want %q", cluster, tier, owner, secondName)
			}
		}
		for _, o := range []struct{ cluster, namespace, name string }{
			{"cloud", "telemetry-cloud", "settings"}, {"cloud", "telemetry-cloud", "retention"},
			{"plant-a", "telemetry-edge", "settings"},
			{"cloud", "billing-cloud", "tariffs"}, {"plant-a", "billing-edge", "meters"},
		} {
			if !first.exists(o.cluster, cm, o.namespace, o.name) {
				t.Errorf("%s: ConfigMap %s/%s missing", o.cluster, o.namespace, o.name)
			}
		}
	})

	t.Run("the same solution in the second repository is refused naming both owners, the rest applied", func(t *testing.T) {
		first.t, second.t = t, t
		writeFiles(t, second.clone, map[string]string{
			"telemetry.yaml": secondTelemetrySolution,
			"tiers/telemetry-cloud/kustomization.yaml": kustomization,
			"tiers/telemetry-cloud/objects.yaml":       secondTelemetryObjects,
		})
		head := second.commitAndPush("Also run telemetry in the cloud")
		second.eventually(converge, "telemetry/cloud refused by the second instance", func() error {
			st, err := second.status()
			if err != nil {
				return err
			}
			ts, ok := targetOf(st, "telemetry", "cloud", "cloud")
			if !ok || !strings.HasSuffix(ts.DesiredRevision, head) || ts.Phase != "Failed" {
				return errorf("telemetry/cloud on cloud: %+v", ts)
			}
			for _, name := range []string{firstName, secondName} {
				if !strings.Contains(ts.Message, `"`+name+`"`) {
					return errorf("message %q does not name instance %s", ts.Message, name)
				}
			}
			for _, ts := range st.Targets {
				if ts.Solution == "billing" && (ts.Phase != "Ready" || !strings.HasSuffix(ts.AppliedRevision, head)) {
					return errorf("billing/%s on %s beside the refused tier: %s at %s: %s", ts.Tier, ts.Cluster, ts.Phase, ts.AppliedRevision, ts.Message)
				}
			}
			return nil
		})
		if !first.exists("cloud", cm, "telemetry-cloud", "retention") {
			t.Error("the first instance's ConfigMap telemetry-cloud/retention was deleted by the refused tier")
		}
		if first.exists("cloud", cm, "telemetry-cloud", "invoices-feed") {
			t.Error("the refused tier applied ConfigMap telemetry-cloud/invoices-feed")
		}
		if got := first.configMapData("cloud", "telemetry-cloud", "settings")["repository"]; got != "telemetry" {
			t.Errorf("ConfigMap telemetry-cloud/settings says repository %q, want the first's %q", got, "telemetry")
		}
		if after := first.parent("cloud", "telemetry", "cloud"); after.ResourceVersion != firstParents["cloud"].ResourceVersion {
			t.Errorf("the refused instance rewrote parent %s: %v", after.Name, after.Annotations)
		}
		if _, err := first.convergedAt(first.head()); err != nil {
			t.Errorf("the first instance after the refusal: %v", err)
		}
	})

	t.Run("--take-over hands the tier over and the first instance is refused", func(t *testing.T) {
		first.t, second.t = t, t
		second.stopDaemon(syscall.SIGTERM)
		second.daemonArgs = append(second.daemonArgs, "--take-over")
		second.startDaemon()
		second.waitConverged(second.head(), converge)

		if log, _ := os.ReadFile(second.logPath); !strings.Contains(string(log), `msg="taking over from another tandem instance" cluster=cloud solution=telemetry tier=cloud`) {
			t.Error(`no "taking over from another tandem instance" line for telemetry/cloud in the second instance's log`)
		}
		if owner := first.parent("cloud", "telemetry", "cloud").Annotations[applyset.OwnerAnnotation]; owner != secondName {
			t.Errorf("parent telemetry.cloud owned by %q after the take-over, want %q", owner, secondName)
		}
		if first.exists("cloud", cm, "telemetry-cloud", "retention") {
			t.Error("ConfigMap telemetry-cloud/retention, which the new owner does not render, was not pruned")
		}
		if !first.exists("cloud", cm, "telemetry-cloud", "invoices-feed") {
			t.Error("ConfigMap telemetry-cloud/invoices-feed of the new owner missing")
		}
		if after := first.parent("plant-a", "telemetry", "edge"); after.Annotations[applyset.OwnerAnnotation] != firstName ||
			!first.exists("plant-a", cm, "telemetry-edge", "settings") {
			t.Errorf("telemetry/edge on plant-a, which the second does not render, changed hands or lost its objects: %v", after.Annotations)
		}

		first.eventually(converge, "the first instance refused on telemetry/cloud", func() error {
			st, err := first.status()
			if err != nil {
				return err
			}
			ts, _ := targetOf(st, "telemetry", "cloud", "cloud")
			if ts.Phase != "Failed" || !strings.Contains(ts.Message, `"`+firstName+`"`) || !strings.Contains(ts.Message, `"`+secondName+`"`) {
				return errorf("telemetry/cloud on cloud: %s: %s", ts.Phase, ts.Message)
			}
			if edge, _ := targetOf(st, "telemetry", "edge", "plant-a"); edge.Phase != "Ready" {
				return errorf("telemetry/edge on plant-a: %s: %s", edge.Phase, edge.Message)
			}
			return nil
		})
		if first.exists("cloud", cm, "telemetry-cloud", "retention") {
			t.Error("the refused first instance applied ConfigMap telemetry-cloud/retention again")
		}
		if got := first.configMapData("cloud", "telemetry-cloud", "settings")["repository"]; got != "billing" {
			t.Errorf("ConfigMap telemetry-cloud/settings says repository %q, want the new owner's %q", got, "billing")
		}
		first.stopDaemon(syscall.SIGTERM)
		second.waitDriftPass(30 * time.Second)
		if _, err := second.convergedAt(second.head()); err != nil {
			t.Errorf("the new owner after the first stopped: %v", err)
		}
	})
}

// instanceName is the instance a daemon following repoURL at main is, by
// default: the repository's host and path, and the branch.
func instanceName(repoURL string) string {
	return strings.TrimSuffix(strings.TrimPrefix(repoURL, "http://"), ".git") + "@main"
}

// parent returns the ApplySet parent of a (solution, tier) on a cluster.
func (e *fleetEnv) parent(cluster, solution, tier string) *corev1.Secret {
	e.t.Helper()
	s := &corev1.Secret{}
	key := client.ObjectKey{Namespace: applyset.Namespace, Name: applyset.ParentName(solution, tier)}
	if err := e.clients[cluster].Get(context.Background(), key, s); err != nil {
		e.t.Fatalf("cluster %s: get ApplySet parent %s: %v", cluster, key, err)
	}
	return s
}

// configMapData returns the data of a live ConfigMap.
func (e *fleetEnv) configMapData(cluster, namespace, name string) map[string]string {
	e.t.Helper()
	c := &corev1.ConfigMap{}
	if err := e.clients[cluster].Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, c); err != nil {
		e.t.Fatalf("cluster %s: get ConfigMap %s/%s: %v", cluster, namespace, name, err)
	}
	return c.Data
}

func solutionsOf(st daemon.Status) []string {
	var names []string
	for _, ts := range st.Targets {
		if !slices.Contains(names, ts.Solution) {
			names = append(names, ts.Solution)
		}
	}
	slices.Sort(names)
	return names
}

const kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- objects.yaml\n"

const plantA = `apiVersion: tandem.dev/v1alpha1
kind: Site
metadata:
  name: plant-a
  labels: {tier: edge}
spec:
  cluster: plant-a
`

// telemetryRepo is the first instance's repository: solution telemetry,
// whose cloud tier holds a ConfigMap, retention, that only it renders.
var telemetryRepo = map[string]string{
	"tandem.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata:
  name: telemetry
spec:
  scale: 1
  tiers:
  - name: cloud
    path: tiers/cloud
    namespace: telemetry-cloud
    targets: {clusters: [cloud]}
  - name: edge
    path: tiers/edge
    namespace: telemetry-edge
    targets: {sites: {matchLabels: {tier: edge}}}
`,
	"sites/plant-a.yaml":             plantA,
	"tiers/cloud/kustomization.yaml": kustomization,
	"tiers/cloud/objects.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: telemetry-cloud
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  repository: telemetry
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: retention
data:
  days: "30"
`,
	"tiers/edge/kustomization.yaml": kustomization,
	"tiers/edge/objects.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: telemetry-edge
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  repository: telemetry
`,
}

// billingRepo is the second instance's repository: solution billing, in
// namespaces of its own.
var billingRepo = map[string]string{
	"tandem.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata:
  name: billing
spec:
  scale: 1
  tiers:
  - name: cloud
    path: tiers/billing-cloud
    namespace: billing-cloud
    targets: {clusters: [cloud]}
  - name: edge
    path: tiers/billing-edge
    namespace: billing-edge
    targets: {sites: {matchLabels: {tier: edge}}}
`,
	"sites/plant-a.yaml":                     plantA,
	"tiers/billing-cloud/kustomization.yaml": kustomization,
	"tiers/billing-cloud/objects.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: billing-cloud
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: tariffs
data:
  currency: EUR
`,
	"tiers/billing-edge/kustomization.yaml": kustomization,
	"tiers/billing-edge/objects.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: billing-edge
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: meters
data:
  interval: 15m
`,
}

// secondTelemetrySolution is the second repository's telemetry: its cloud
// tier only, rendering settings differently, without retention, with
// invoices-feed.
const secondTelemetrySolution = `apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata:
  name: telemetry
spec:
  scale: 1
  tiers:
  - name: cloud
    path: tiers/telemetry-cloud
    namespace: telemetry-cloud
    targets: {clusters: [cloud]}
`

const secondTelemetryObjects = `apiVersion: v1
kind: Namespace
metadata:
  name: telemetry-cloud
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  repository: billing
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: invoices-feed
data:
  topic: invoices
`
