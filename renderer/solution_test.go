package renderer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/renderer"
)

func TestReplicasPreviewsANewScaleWithoutBuilding(t *testing.T) {
	res := render(t, smartFactory(t, 0))
	sol := res.Solutions[0]
	got, err := sol.Replicas(10, res.Sites)
	if err != nil {
		t.Fatal(err)
	}
	// ingest = 10; inference = ceil(10 × 0.5 × weight) capped at 6;
	// gateway = ceil(inference × 0.5) capped at 3.
	want := []renderer.WorkloadReplicas{
		{Tier: "cloud", Workload: "ingest", Cluster: "cloud", Replicas: 10},
		{Tier: "cloud", Workload: "mqtt-broker", Cluster: "cloud", Replicas: 5},
		{Tier: "edge", Workload: "inference", Cluster: "plant-a", Site: "plant-a", Replicas: 5},
		{Tier: "edge", Workload: "protocol-gateway", Cluster: "plant-a", Site: "plant-a", Replicas: 3},
		{Tier: "edge", Workload: "inference", Cluster: "plant-b", Site: "plant-b", Replicas: 6},
		{Tier: "edge", Workload: "protocol-gateway", Cluster: "plant-b", Site: "plant-b", Replicas: 3},
		{Tier: "edge", Workload: "inference", Cluster: "plant-c", Site: "plant-c", Replicas: 3},
		{Tier: "edge", Workload: "protocol-gateway", Cluster: "plant-c", Site: "plant-c", Replicas: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Replicas(10) (-want +got):\n%s", diff)
	}
	if _, err := sol.Replicas(-1, res.Sites); err == nil {
		t.Error("Replicas(-1) succeeded; want an error")
	}
}

func TestWavePutsCanariesFirst(t *testing.T) {
	res := render(t, smartFactory(t, 0))
	sol := res.Solutions[0]
	got := map[string]int{}
	for _, s := range res.Sites {
		got[s.Name] = sol.Wave(s)
	}
	if diff := cmp.Diff(map[string]int{"plant-a": 0, "plant-b": 1, "plant-c": 1}, got); diff != "" {
		t.Errorf("waves (-want +got):\n%s", diff)
	}
}

func TestRenderRefusesSymlinksOutOfADirectoryRepository(t *testing.T) {
	outside := t.TempDir()
	repo := t.TempDir()
	files := map[string]string{
		"tandem.yaml": "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: s}\nspec:\n  scale: 1\n  tiers:\n  - {name: t, path: tier, targets: {clusters: [c]}}\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "kustomization.yaml"), []byte("resources: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(repo, "tier")); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	_, err := renderer.Render(context.Background(), os.DirFS(repo), renderer.Options{})
	if err == nil || !strings.Contains(err.Error(), "tandem.yaml:7: spec.tiers[0].path") || !strings.Contains(err.Error(), "points outside the repository") {
		t.Errorf("Render error = %v; want the tier path refused", err)
	}
}

func TestOverMaxNamesTheRuleWhoseMaxAScaleWouldPass(t *testing.T) {
	cfg, err := renderer.Load(context.Background(), fixtures.SmartFactory())
	if err != nil {
		t.Fatal(err)
	}
	sol := cfg.Solutions[0]
	if err := sol.OverMax(5, cfg.Sites); err != nil {
		t.Errorf("scale 5 is within every rule: %v", err)
	}
	err = sol.OverMax(100, cfg.Sites)
	if err == nil || !strings.Contains(err.Error(), "tandem.yaml:") || !strings.Contains(err.Error(), ".max: scale 100 asks cloud/ingest for 100 replicas at cloud, over its max of 12") {
		t.Errorf("scale 100: %v, want the ingest rule's max named", err)
	}
}
