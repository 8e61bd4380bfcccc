package testbed

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestStoppedAPIServerIsUnreachableAndComesBackWithItsState stops one
// cluster's API server, as the fault tests of tandem do, and checks that the
// other cluster is unaffected and the stopped one returns with its objects.
func TestStoppedAPIServerIsUnreachableAndComesBackWithItsState(t *testing.T) {
	fleet := StartT(t, Options{Names: []string{"cloud", "plant-a"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	clientFor := func(name string) kubernetes.Interface {
		cfg := fleet.Cluster(name).RESTConfig()
		cfg.Timeout = 5 * time.Second
		return kubernetes.NewForConfigOrDie(cfg)
	}
	plant, cloud := clientFor("plant-a"), clientFor("cloud")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "site-info", Namespace: "default"}, Data: map[string]string{"site": "plant-a"}}
	if _, err := plant.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := fleet.Cluster("plant-a").StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := plant.CoreV1().ConfigMaps("default").Get(ctx, "site-info", metav1.GetOptions{}); err == nil {
		t.Fatal("plant-a answered with its API server stopped")
	}
	if _, err := cloud.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("cloud is affected by stopping plant-a: %v", err)
	}

	if err := fleet.Cluster("plant-a").StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := plant.CoreV1().ConfigMaps("default").Get(ctx, "site-info", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got.Data["site"] != "plant-a" {
		t.Errorf("after restart the ConfigMap holds %v, want site=plant-a", got.Data)
	}
}
