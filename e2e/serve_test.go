package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/daemon"
)

// TestServeConvergesTheFleetFromGit runs "tandem serve" as a process against
// a cloud and three edge clusters, with the fixture solution in a Git
// repository served over HTTP, and walks through what platform engineers and
// on-call do to it: scale, remove an app, revert, push a broken object or a
// broken descriptor, change a cluster behind tandem's back, lose a site, and
// kill the daemon mid-apply.
func TestServeConvergesTheFleetFromGit(t *testing.T) {
	e := newFleetEnv(t, []string{"cloud", "plant-a", "plant-b", "plant-c"}, "../fixtures/smart-factory")
	e.startDaemon()

	const converge = 2 * time.Minute
	initial := e.head()

	t.Run("first commit converges every cluster", func(t *testing.T) {
		e.t = t
		e.waitConverged(initial, converge)
		e.assertMatchesRender(e.expected())
	})

	t.Run("an unchanged revision applied again changes nothing", func(t *testing.T) {
		e.t = t
		// A drift pass after the converging one, on every target.
		st := e.waitDriftPass(30 * time.Second)
		for _, ts := range st.Targets {
			c := ts.Changes
			if c.Created+c.Configured+c.Deleted != 0 || ts.Corrected != 0 {
				t.Errorf("%s: second pass changed objects: %+v, corrected %d", idOf(ts), c, ts.Corrected)
			}
		}
	})

	var scaled string
	t.Run("scale 3 to 5: cloud and every edge site follow", func(t *testing.T) {
		e.t = t
		before := e.replicas("plant-b", "Deployment", "factory-edge", "inference")
		e.edit("tandem.yaml", func(s string) string { return strings.Replace(s, "scale: 3", "scale: 5", 1) })
		scaled = e.commitAndPush("Scale smart-factory to 5")
		e.waitConverged(scaled, converge)
		e.assertMatchesRender(e.expected())
		if got := e.replicas("cloud", "Deployment", "factory-cloud", "ingest"); got != 5 {
			t.Errorf("cloud ingest replicas = %d, want 5 (perScale 1 × scale 5)", got)
		}
		if after := e.replicas("plant-b", "Deployment", "factory-edge", "inference"); after <= before {
			t.Errorf("plant-b inference replicas %d → %d, want more", before, after)
		}
	})

	var removed string
	t.Run("removing an app prunes it from every site", func(t *testing.T) {
		e.t = t
		e.edit("tiers/edge/kustomization.yaml", func(s string) string { return strings.Replace(s, "- local-buffer.yaml\n", "", 1) })
		removed = e.commitAndPush("Remove the local buffer from the edge")
		e.waitConverged(removed, converge)
		e.assertMatchesRender(e.expected())
		for _, site := range []string{"plant-a", "plant-b", "plant-c"} {
			if e.exists(site, schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, "factory-edge", "local-buffer") {
				t.Errorf("%s: StatefulSet local-buffer not pruned", site)
			}
		}
	})

	t.Run("git revert of each brings everything back", func(t *testing.T) {
		e.t = t
		e.gitRun("-C", e.clone, "revert", "--no-edit", "HEAD")
		e.gitRun("-C", e.clone, "revert", "--no-edit", "HEAD~2")
		e.gitRun("-C", e.clone, "push", "--quiet", "origin", "main")
		reverted := e.head()
		e.waitConverged(reverted, converge)
		e.assertMatchesRender(e.expected())
		if got := e.replicas("cloud", "Deployment", "factory-cloud", "ingest"); got != 3 {
			t.Errorf("cloud ingest replicas = %d after the revert, want 3 again", got)
		}
		if !e.exists("plant-a", schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, "factory-edge", "local-buffer") {
			t.Error("plant-a: local-buffer did not come back")
		}
	})

	t.Run("an object the API server rejects, then the fix: exactly the desired objects", func(t *testing.T) {
		e.t = t
		e.writeFile("tiers/cloud/dashboard.yaml", dashboard("70000"))
		e.edit("tiers/cloud/kustomization.yaml", func(s string) string {
			return strings.Replace(s, "- model-registry.yaml\n", "- model-registry.yaml\n- dashboard.yaml\n", 1)
		})
		bad := e.commitAndPush("Add a dashboard")
		e.eventually(converge, "the cloud tier fails naming the rejected object", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			for _, ts := range st.Targets {
				if ts.Cluster == "cloud" && ts.Tier == "cloud" && strings.HasSuffix(ts.DesiredRevision, bad) {
					if ts.Phase == "Failed" && strings.Contains(ts.Message, "Service/factory-cloud/dashboard") {
						return nil
					}
					return errorf("cloud tier %s: %s", ts.Phase, ts.Message)
				}
			}
			return errorf("no cloud tier at %s yet", bad[:8])
		})
		e.writeFile("tiers/cloud/dashboard.yaml", dashboard("8080"))
		fixed := e.commitAndPush("Fix the dashboard port")
		e.waitConverged(fixed, converge)
		e.assertMatchesRender(e.expected())
	})

	t.Run("a workload scaled by hand is corrected by the next drift pass", func(t *testing.T) {
		e.t = t
		want := e.replicas("plant-a", "Deployment", "factory-edge", "inference")
		e.scaleByHand("plant-a", "factory-edge", "inference", want+3)
		e.eventually(30*time.Second, "inference back at its rendered replicas", func() error {
			if got := e.replicas("plant-a", "Deployment", "factory-edge", "inference"); got != want {
				return errorf("plant-a inference at %d replicas, want %d", got, want)
			}
			return nil
		})
		e.eventually(30*time.Second, "the correction counted", func() error {
			families, err := e.metrics()
			if err != nil {
				return err
			}
			if v, _ := metricValue(families, "tandem_objects_corrected_total", map[string]string{"cluster": "plant-a"}); v < 1 {
				return errorf("tandem_objects_corrected_total{cluster=plant-a} = %v, want ≥ 1", v)
			}
			return nil
		})
	})

	t.Run("metrics show phases, revisions, changes and drift", func(t *testing.T) {
		e.t = t
		head := e.head()
		families, err := e.metrics()
		if err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			name   string
			labels map[string]string
			ok     func(float64) bool
			want   string
		}{
			{"tandem_target_phase", map[string]string{"cluster": "cloud", "tier": "cloud", "phase": "Ready"}, eq(1), "1"},
			{"tandem_target_phase", map[string]string{"cluster": "plant-c", "tier": "edge", "phase": "Failed"}, eq(0), "0"},
			{"tandem_applied_revision_info", map[string]string{"cluster": "plant-a", "tier": "edge", "revision": "refs/heads/main@sha1:" + head}, eq(1), "1"},
			{"tandem_reconcile_duration_seconds", map[string]string{"cluster": "plant-b", "tier": "edge", "phase": "Ready"}, atLeast(1), "≥ 1 pass"},
			{"tandem_objects_total", map[string]string{"cluster": "plant-a", "action": "created"}, atLeast(1), "≥ 1"},
			{"tandem_objects_total", map[string]string{"cluster": "plant-a", "action": "deleted"}, atLeast(1), "≥ 1 (the pruned local buffer)"},
			{"tandem_git_fetch_consecutive_failures", map[string]string{"url": e.repoURL}, eq(0), "0"},
			{"tandem_git_revision_info", map[string]string{"revision": head}, eq(1), "1"},
			{"tandem_render_failures_total", nil, eq(0), "0"},
		}
		for _, c := range checks {
			v, found := metricValue(families, c.name, c.labels)
			if !found || !c.ok(v) {
				t.Errorf("%s%v = %v (found %v), want %s", c.name, c.labels, v, found, c.want)
			}
		}
	})

	t.Run("a site that is down does not hold back the others and catches up", func(t *testing.T) {
		e.t = t
		site := e.fleet.Cluster("plant-b")
		if err := site.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		e.edit("tandem.yaml", func(s string) string { return strings.Replace(s, "scale: 3", "scale: 4", 1) })
		head := e.commitAndPush("Scale smart-factory to 4")
		e.waitConverged(head, converge, "plant-b")
		e.eventually(converge, "plant-b Unreachable", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			for _, ts := range st.Targets {
				if ts.Cluster == "plant-b" && ts.Phase != "Unreachable" {
					return errorf("plant-b %s/%s is %s", ts.Solution, ts.Tier, ts.Phase)
				}
			}
			return nil
		})
		if err := site.StartAPIServer(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.waitConverged(head, converge)
		e.assertMatchesRender(e.expected())
	})

	t.Run("a rollout halts at an unreachable canary and resumes when it is back", func(t *testing.T) {
		e.t = t
		before := e.head()
		canary := e.fleet.Cluster("plant-a")
		if err := canary.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		e.edit("tandem.yaml", func(s string) string { return strings.Replace(s, "scale: 4", "scale: 6", 1) })
		head := e.commitAndPush("Scale smart-factory to 6")
		var halted daemon.Status
		e.eventually(converge, "the rollout halted at the canary", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			ro, ok := rolloutOf(st, "smart-factory")
			if len(st.Rollouts) != 1 || !ok || !strings.HasSuffix(ro.Revision, head) || !strings.Contains(ro.Halted, "plant-a Unreachable") {
				return errorf("rollouts %+v", st.Rollouts)
			}
			for _, ts := range st.Targets {
				if ts.Cluster == "cloud" && (ts.Phase != "Ready" || !strings.HasSuffix(ts.AppliedRevision, head)) {
					return errorf("cloud, in the canary's wave, is %s at %s", ts.Phase, ts.AppliedRevision)
				}
			}
			halted = st
			return nil
		})
		// The canary's tiers tried again after the halt: the daemon had
		// its chance to release the next wave, and held it back.
		st := e.waitPassedAgain(lastPasses(halted, func(id targetID) bool { return id.cluster == "plant-a" }), 30*time.Second)
		for _, ts := range st.Targets {
			if (ts.Cluster == "plant-b" || ts.Cluster == "plant-c") && !strings.HasSuffix(ts.DesiredRevision, before) {
				t.Errorf("%s on %s was given %s while the canary is down", ts.Tier, ts.Cluster, ts.DesiredRevision)
			}
		}
		if got := e.replicas("plant-b", "Deployment", "factory-edge", "inference"); got == e.expectedReplicas("plant-b", "inference") {
			t.Errorf("plant-b inference already at the new revision's %d replicas", got)
		}
		if err := canary.StartAPIServer(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.waitConverged(head, converge)
		e.assertMatchesRender(e.expected())
		e.edit("tandem.yaml", func(s string) string { return strings.Replace(s, "scale: 6", "scale: 4", 1) })
		e.waitConverged(e.commitAndPush("Scale smart-factory back to 4"), converge)
	})

	t.Run("a commit that does not render applies nothing and names the file", func(t *testing.T) {
		e.t = t
		good := e.head()
		e.edit("tandem.yaml", func(s string) string { return strings.Replace(s, "scale: 4", "scale: 6\n  colour: blue", 1) })
		broken := e.commitAndPush("Break the descriptor")
		e.waitRefused(broken, good, "tandem.yaml")
		if got := e.replicas("cloud", "Deployment", "factory-cloud", "ingest"); got != 4 {
			t.Errorf("cloud ingest replicas = %d, want 4 from the last good revision", got)
		}
		e.gitRun("-C", e.clone, "revert", "--no-edit", "HEAD")
		e.gitRun("-C", e.clone, "push", "--quiet", "origin", "main")
		e.waitConverged(e.head(), converge)
	})

	t.Run("a removed site keeps its objects unless the solution allows an empty render", func(t *testing.T) {
		e.t = t
		if err := os.Remove(filepath.Join(e.clone, "sites", "plant-c.yaml")); err != nil {
			t.Fatal(err)
		}
		e.commitAndPush("Decommission plant-c")
		e.eventually(converge, "plant-c's removal refused", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			for _, ts := range st.Targets {
				if ts.Cluster == "plant-c" && ts.Removed && ts.Phase == "Failed" && strings.Contains(ts.Message, "allowEmpty") {
					return nil
				}
			}
			return errorf("no refused removal of plant-c in %+v", st.Targets)
		})
		if !e.exists("plant-c", schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "factory-edge", "inference") {
			t.Fatal("plant-c's inference was pruned without spec.allowEmpty")
		}
		e.gitRun("-C", e.clone, "revert", "--no-edit", "HEAD")
		e.gitRun("-C", e.clone, "push", "--quiet", "origin", "main")
		st := e.waitConverged(e.head(), converge)
		e.assertMatchesRender(e.expected())
		onPlantC := 0
		for _, ts := range st.Targets {
			if ts.Cluster == "plant-c" && !ts.Removed {
				onPlantC++
			}
		}
		if onPlantC != 2 {
			t.Errorf("%d tiers of plant-c in the status after the revert, want 2", onPlantC)
		}
	})

	t.Run("a daemon killed mid-apply converges after restart without duplicates", func(t *testing.T) {
		e.t = t
		e.edit("tandem.yaml", func(s string) string { return strings.Replace(s, "scale: 4", "scale: 7", 1) })
		head := e.commitAndPush("Scale smart-factory to 7")
		e.eventually(30*time.Second, "the daemon working on the new revision", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			if !strings.HasSuffix(st.Render.LastGoodRevision, head) {
				return errorf("not rendered yet")
			}
			return nil
		})
		e.stopDaemon(syscall.SIGKILL)
		e.startDaemon()
		e.waitConverged(head, converge)
		e.assertMatchesRender(e.expected())
	})
}

// expectedReplicas renders the clone and returns a Deployment's replicas on
// a cluster.
func (e *fleetEnv) expectedReplicas(cluster, name string) int64 {
	e.t.Helper()
	for _, t := range e.expected().Targets {
		if t.Cluster != cluster {
			continue
		}
		for _, o := range t.Objects {
			if o.GetKind() == "Deployment" && o.GetName() == name {
				n, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
				return n
			}
		}
	}
	e.t.Fatalf("no Deployment %s rendered for %s", name, cluster)
	return 0
}

func eq(want float64) func(float64) bool     { return func(v float64) bool { return v == want } }
func atLeast(min float64) func(float64) bool { return func(v float64) bool { return v >= min } }

func dashboard(port string) string {
	return `apiVersion: v1
kind: Service
metadata:
  name: dashboard
spec:
  selector: {app.kubernetes.io/name: dashboard}
  ports:
  - {name: http, port: ` + port + `}
`
}

func (e *fleetEnv) writeFile(path, content string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.clone, path), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// scaleByHand sets a Deployment's replicas through the scale subresource
// under another field manager, as "kubectl scale" does.
func (e *fleetEnv) scaleByHand(cluster, namespace, name string, replicas int64) {
	e.t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: int32(replicas)}}
	if err := e.clients[cluster].SubResource("scale").Update(context.Background(), d,
		client.WithSubResourceBody(scale), client.FieldOwner("kubectl")); err != nil {
		e.t.Fatalf("cluster %s: scale deployment %s/%s: %v", cluster, namespace, name, err)
	}
}

// waitRefused waits for the status to say that revision refused does not
// render, saying says, and checks that a pass after it leaves every target
// at good.
func (e *fleetEnv) waitRefused(refused, good, says string) {
	e.t.Helper()
	e.eventually(30*time.Second, "the render error in the status", func() error {
		st, err := e.status()
		if err != nil {
			return err
		}
		if !strings.HasSuffix(st.Render.Revision, refused) || !strings.Contains(st.Render.Error, says) {
			return errorf("render status %+v", st.Render)
		}
		return nil
	})
	// A pass after the refused render shows what the daemon applies now.
	st := e.waitDriftPass(30 * time.Second)
	for _, ts := range st.Targets {
		if !strings.HasSuffix(ts.DesiredRevision, good) || !strings.HasSuffix(ts.AppliedRevision, good) {
			e.t.Errorf("%s/%s on %s moved to %s / %s after %s, which does not render", ts.Solution, ts.Tier, ts.Cluster, ts.DesiredRevision, ts.AppliedRevision, refused)
		}
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func (e *fleetEnv) exists(cluster string, gvk schema.GroupVersionKind, namespace, name string) bool {
	e.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := e.clients[cluster].Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, u)
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatalf("cluster %s: get %s %s/%s: %v", cluster, gvk.Kind, namespace, name, err)
	}
	return err == nil
}
