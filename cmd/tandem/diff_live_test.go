package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/e2e/testbed"
)

var clusterIP = regexp.MustCompile(`10\.96\.\d+\.\d+`)

// TestDiffLiveComparesTheHeadWithTheClusters compares revisions of the
// fixture with two live clusters, step by step: before and after they run
// it, and for a pull request that scales out and drops an app.
func TestDiffLiveComparesTheHeadWithTheClusters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Kubernetes control planes")
	}
	fleet := testbed.StartT(t, testbed.Options{Names: []string{"cloud", "plant-a"}, Full: true})
	repo := configRepo(t)
	pullRequest(t, repo, "scale-out", scaleOut,
		[3]string{"tiers/cloud/kustomization.yaml", "- model-registry.yaml\n", ""})
	live := func(t *testing.T, wantCode int, args ...string) string {
		t.Helper()
		args = append([]string{"diff", "--live", "--repo", repo, "--kubeconfig", fleet.Kubeconfig,
			"--cluster", "cloud", "--cluster", "plant-a", "--color", "never", "--exit-code"}, args...)
		out, stderr, err := run(t, args...)
		code := exitOK
		if err != nil {
			code = exitCode(err)
		}
		if code != wantCode {
			t.Fatalf("tandem %s exited %d (%v), want %d\n%s\n%s", strings.Join(args, " "), code, err, wantCode, stderr, out)
		}
		return out
	}

	step(t, "on empty clusters every tier is added", func(t *testing.T) {
		out := live(t, 1, "--head", "main")
		for _, want := range []string{
			"tandem diff live → main (",
			"2 of 2 clusters change: 24 objects added.",
			"cloud tier, cluster cloud:\n    tier added (13 objects)",
			"platform-edge tier, site plant-a:\n    tier added (4 objects)",
			"edge tier, site plant-a:\n    tier added (7 objects)",
			"+ Deployment/factory-edge/inference (edge tier) added",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output does not say %q", want)
			}
		}
	})

	step(t, "once applied, nothing changes", func(t *testing.T) {
		if out, stderr, err := run(t, "apply", repo, "--revision", "main", "--kubeconfig", fleet.Kubeconfig,
			"--cluster", "cloud", "--cluster", "plant-a", "--timeout", "2m"); err != nil {
			t.Fatalf("apply: %v\n%s\n%s", err, stderr, out)
		}
		out := live(t, 0, "--head", "main")
		if want := "No changes.\n"; !strings.HasSuffix(out, want) {
			t.Errorf("output does not end in %q:\n%s", want, out)
		}
	})

	step(t, "a container added by hand is drift, and apply removes it", func(t *testing.T) {
		d := &appsv1.Deployment{}
		d.Namespace, d.Name = "factory-edge", "inference"
		sidecar := `{"spec":{"template":{"spec":{"containers":[{"name":"debug","image":"busybox:1.36","securityContext":{"privileged":true}}]}}}}`
		if err := kubeClient(t, fleet, "plant-a").Patch(t.Context(), d, client.RawPatch(types.StrategicMergePatchType, []byte(sidecar)),
			client.FieldOwner("kubectl-patch")); err != nil {
			t.Fatal(err)
		}
		out := live(t, 1, "--head", "main")
		for _, want := range []string{
			"1 of 2 clusters change: 1 object changed.",
			"~ Deployment/factory-edge/inference (edge tier) changed",
			"-      - image: busybox:1.36",
			"-        name: debug",
			"-          privileged: true",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output does not say %q:\n%s", want, out)
			}
		}
		applied, stderr, err := run(t, "apply", repo, "--revision", "main", "--kubeconfig", fleet.Kubeconfig,
			"--cluster", "cloud", "--cluster", "plant-a", "--timeout", "2m")
		if err != nil {
			t.Fatalf("apply: %v\n%s\n%s", err, stderr, applied)
		}
		if want := `Deployment/factory-edge/inference drift: .spec.template.spec.containers[name="debug"] added by kubectl-patch, removed`; !strings.Contains(stderr, want) {
			t.Errorf("apply progress does not say %q:\n%s", want, stderr)
		}
		if out := live(t, 0, "--head", "main"); !strings.HasSuffix(out, "No changes.\n") {
			t.Errorf("after apply, output does not end in No changes:\n%s", out)
		}
	})

	step(t, "a pull request shows its replicas and pruned objects", func(t *testing.T) {
		// The API server allocates the pruned Service's cluster IP.
		out := clusterIP.ReplaceAllString(live(t, 1, "--head", "scale-out"), "10.96.0.1")
		golden(t, "diff-live-scale-out.txt", out)

		var report diff.Report
		if err := json.Unmarshal([]byte(live(t, 1, "--head", "scale-out", "-o", "json")), &report); err != nil {
			t.Fatal(err)
		}
		if a, rm, c := report.Count(); a != 0 || rm != 3 || c != 4 {
			t.Errorf("JSON counts %d added, %d removed, %d changed; want 0, 3, 4", a, rm, c)
		}
		var d appsv1.Deployment
		if err := kubeClient(t, fleet, "cloud").Get(t.Context(), client.ObjectKey{Namespace: "factory-cloud", Name: "ingest"}, &d); err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 3 {
			t.Errorf("Deployment/factory-cloud/ingest has %d replicas after a diff, want 3", *d.Spec.Replicas)
		}
	})

	step(t, "an unreachable cluster is reported and the others compared", func(t *testing.T) {
		if err := fleet.Cluster("plant-a").StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		out := live(t, 2, "--head", "scale-out")
		for _, want := range []string{
			"1 of 2 clusters change: 2 objects changed, 3 removed. 1 of 2 clusters could not be compared.",
			"Not compared\n  cluster plant-a: list ApplySet parents in tandem-system: ",
			"ingest replicas 3 → 5",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output does not say %q:\n%s", want, out)
			}
		}
	})
}
