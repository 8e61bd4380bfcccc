package reconciler

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

func TestUnreachableClusterDoesNotBlockOthers(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	r := New(fleetResolver(f, nil), testOptions(t))
	targets := func(rev string) []Target {
		var ts []Target
		for _, name := range []string{"cloud", "plant-a"} {
			ts = append(ts, Target{Cluster: name, Tiers: []TierSet{{Solution: "reach", Tier: "all", Revision: rev,
				Objects: []*unstructured.Unstructured{namespace("reach"), configMap("reach", "rev", map[string]any{"rev": rev})}}}})
		}
		return ts
	}
	for _, res := range r.Apply(ctx, targets("rev-1"), nil) {
		requirePhase(t, res, PhaseReady)
	}

	plant := f.Cluster("plant-a")
	if err := plant.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := plant.StartAPIServer(context.Background()); err != nil {
				t.Errorf("restart plant-a: %v", err)
			}
		}
	})

	sent := make(chan Result, 16)
	results := r.Apply(ctx, targets("rev-2"), sent)
	requirePhase(t, results[0], PhaseReady) // cloud
	requirePhase(t, results[1], PhaseUnreachable)
	if results[1].Message == "" {
		t.Error("the Unreachable result does not say why")
	}
	close(sent)
	unreachable := 0
	for res := range sent {
		if res.Cluster == "plant-a" && res.Phase == PhaseUnreachable {
			unreachable++
		}
	}
	if unreachable != 1 {
		t.Errorf("%d Unreachable results of plant-a sent, want 1", unreachable)
	}

	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := plant.StartAPIServer(startCtx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	results = r.Apply(ctx, targets("rev-2"), nil)
	requirePhase(t, results[1], PhaseReady)
	if c := results[1].Counts(); c.Configured != 1 {
		t.Errorf("plant-a after restart: %+v, want the ConfigMap configured\n%s", c, results[1].ChangeSet)
	}
}

func TestSecretResolverReadsKubeconfigFromLabelledSecret(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	cloud := kubeClient(t, f, "cloud")
	// A kubeconfig of plant-a alone, as a per-cluster Secret holds it.
	cfg := f.Cluster("plant-a").RESTConfig()
	kubeconfig := []byte(`apiVersion: v1
kind: Config
clusters:
- name: plant-a
  cluster:
    server: ` + cfg.Host + `
    certificate-authority-data: ` + b64(cfg.CAData) + `
users:
- name: admin
  user:
    token: ` + cfg.BearerToken + `
contexts:
- name: plant-a
  context: {cluster: plant-a, user: admin}
current-context: plant-a
`)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "resolver-test"}}
	if err := cloud.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "plant-a-kubeconfig", Labels: map[string]string{clusters.SecretLabel: "plant-a"}},
		Data:       map[string][]byte{"value": kubeconfig},
	}
	if err := cloud.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}

	resolver := clusters.SecretResolver{Client: cloud, Namespace: ns.Name}
	got, err := resolver.Resolve(ctx, "plant-a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Host != cfg.Host {
		t.Errorf("resolved %s, want %s", got.Host, cfg.Host)
	}
	if _, err := resolver.Resolve(ctx, "plant-b"); err == nil {
		t.Error("resolved a cluster without a Secret")
	}
	r := New(resolver, testOptions(t))
	res := onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{{Solution: "resolved", Tier: "edge", Revision: "rev-1",
		Objects: []*unstructured.Unstructured{namespace("resolved")}}}}}, nil))
	requirePhase(t, res, PhaseReady)
}

func TestKubeconfigResolverUsesContextOfClusterName(t *testing.T) {
	f := testFleet(t)
	for _, name := range []string{"cloud", "plant-a"} {
		cfg, err := (&clusters.KubeconfigResolver{Path: f.Kubeconfig}).Resolve(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Host != f.Cluster(name).Server {
			t.Errorf("%s resolved to %s, want %s", name, cfg.Host, f.Cluster(name).Server)
		}
	}
	if _, err := (&clusters.KubeconfigResolver{Path: f.Kubeconfig}).Resolve(context.Background(), "nowhere"); err == nil {
		t.Error("resolved a context that does not exist")
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
