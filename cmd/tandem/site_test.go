package main

import (
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

func TestSiteCapacityAddsUpTheAllocatableOfTheNodesThatRunWorkloads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes control plane")
	}
	fleet := testbed.StartT(t, testbed.Options{Names: []string{"plant-x"}})
	client, err := kubernetes.NewForConfig(fleet.Cluster("plant-x").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	node := func(name string, allocatable corev1.ResourceList, change func(*corev1.Node)) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		change(n)
		created, err := client.CoreV1().Nodes().Create(t.Context(), n, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Capacity, created.Status.Allocatable = allocatable, allocatable
		if _, err := client.CoreV1().Nodes().UpdateStatus(t.Context(), created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	worker := corev1.ResourceList{"cpu": resource.MustParse("3800m"), "memory": resource.MustParse("7Gi"), "pods": resource.MustParse("110"),
		"hugepages-2Mi": resource.MustParse("0"), "nvidia.com/gpu": resource.MustParse("1")}
	none := func(*corev1.Node) {}
	node("line-1", worker, none)
	node("line-2", worker, none)
	node("spare", worker, func(n *corev1.Node) { n.Spec.Unschedulable = true })
	node("control", worker, func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
	})

	stdout, _, err := run(t, "site", "capacity", "--context", "plant-x", "--kubeconfig", fleet.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`at \S+:`).ReplaceAllString(stdout, "at TIME:")
	want := `  # Measured from context plant-x at TIME: the allocatable of 2 node(s).
  # Not counted: control (taint node-role.kubernetes.io/control-plane:NoSchedule), spare (cordoned).
  # A snapshot: measure again when the site's machines change.
  capacity:
    cpu: 7600m
    memory: 14Gi
    nvidia.com/gpu: "2"
    pods: "220"
  nodes: 2
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("site capacity (-want +got):\n%s", diff)
	}
	if stdout, _, err = run(t, "site", "capacity", "--context", "plant-x", "--kubeconfig", fleet.Kubeconfig, "--all-nodes"); err != nil || !regexp.MustCompile(`(?m)^    cpu: 15200m$`).MatchString(stdout) {
		t.Errorf("site capacity --all-nodes: %v\n%s\nwant every node's cpu, 15200m", err, stdout)
	}
	if _, _, err := run(t, "site", "capacity", "--context", "plant-y", "--kubeconfig", fleet.Kubeconfig); exitCode(err) != exitFailure {
		t.Errorf("an unknown context: exit %d, %v; want 1", exitCode(err), err)
	}
}
