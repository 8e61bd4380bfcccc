package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

func newSiteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "site",
		Short: "Work with the clusters behind Site descriptors",
	}
	cmd.AddCommand(newSiteCapacityCommand())
	return cmd
}

func newSiteCapacityCommand() *cobra.Command {
	var (
		context    string
		kubeconfig string
		allNodes   bool
	)
	cmd := &cobra.Command{
		Use:   "capacity --context NAME",
		Short: "Print a Site's spec.capacity as measured from its cluster",
		Long: `Print the spec.nodes and spec.capacity of a Site descriptor, measured from the
cluster of kubeconfig context NAME: the sum of its nodes' status.allocatable,
what the scheduler can place pods on, indented to paste under the spec: of
the Site's file.

It is a snapshot, not a live check: tandem compares every revision with what
the Site file says, so measure again when the site's machines change.

Nodes that cannot run workloads are left out and named in a comment:
cordoned nodes, and nodes with a NoSchedule or NoExecute taint, such as a
control-plane node; --all-nodes counts them too. The taints the node
controller sets while a node is not ready or under pressure
(node.kubernetes.io/...) say how a node is now, not what it is for, and do
not leave it out.

Exit status: 0 measured, 1 the cluster could not be read, 2 usage error.`,
		Example: `  tandem site capacity --context plant-a
  tandem site capacity --context plant-a --kubeconfig ~/.kube/plants >> sites/plant-a.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if context == "" {
				return &usageError{fmt.Errorf("--context is required: name the kubeconfig context of the site's cluster")}
			}
			nodes, err := listNodes(cmd.Context(), kubeconfig, context)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			m := measureCapacity(nodes, allNodes)
			if m.counted == 0 {
				return &exitError{code: exitFailure, err: fmt.Errorf("context %s: no node can run workloads (%s); --all-nodes counts them anyway", context, strings.Join(m.skipped, ", "))}
			}
			return writeCapacity(cmd.OutOrStdout(), context, time.Now(), m)
		},
	}
	f := cmd.Flags()
	f.StringVar(&context, "context", "", "kubeconfig context `NAME` of the site's cluster")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig `FILE` (default: the KUBECONFIG list, then ~/.kube/config)")
	f.BoolVar(&allNodes, "all-nodes", false, "count cordoned and NoSchedule-tainted nodes too")
	return cmd
}

func listNodes(ctx context.Context, kubeconfig, name string) ([]corev1.Node, error) {
	cfg, err := (&clusters.KubeconfigResolver{Path: kubeconfig}).Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("context %s: %w", name, err)
	}
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("context %s: list nodes: %w", name, err)
	}
	return list.Items, nil
}

// measured is the capacity of a cluster's nodes.
type measured struct {
	capacity corev1.ResourceList
	counted  int
	skipped  []string // "name (why)"
}

// measureCapacity adds up the allocatable of the nodes that can run
// workloads, or of all of them. Resources a node has none of, such as
// unused huge pages, are left out.
func measureCapacity(nodes []corev1.Node, all bool) measured {
	m := measured{capacity: corev1.ResourceList{}}
	slices.SortFunc(nodes, func(a, b corev1.Node) int { return cmp.Compare(a.Name, b.Name) })
	for _, n := range nodes {
		if why := unschedulable(n); why != "" && !all {
			m.skipped = append(m.skipped, n.Name+" ("+why+")")
			continue
		}
		m.counted++
		for name, q := range n.Status.Allocatable {
			if q.Sign() <= 0 {
				continue
			}
			sum := m.capacity[name]
			sum.Add(q)
			m.capacity[name] = sum
		}
	}
	return m
}

// unschedulable says why a node runs no workloads, or "".
func unschedulable(n corev1.Node) string {
	if n.Spec.Unschedulable {
		return "cordoned"
	}
	for _, t := range n.Spec.Taints {
		// The node controller's taints (not-ready, unreachable, memory
		// pressure, …) say how a node is now, not what it is for.
		if strings.HasPrefix(t.Key, "node.kubernetes.io/") {
			continue
		}
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return "taint " + t.ToString()
		}
	}
	return ""
}

// writeCapacity prints m as the fields of a Site's spec, indented to paste
// under it, headed by where and when it was measured.
func writeCapacity(w io.Writer, context string, at time.Time, m measured) error {
	capacity := map[string]string{}
	for name, q := range m.capacity {
		capacity[string(name)] = q.String()
	}
	data, err := yaml.Marshal(map[string]any{"nodes": m.counted, "capacity": capacity})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  # Measured from context %s at %s: the allocatable of %d node(s).\n", context, at.UTC().Format(time.RFC3339), m.counted)
	if len(m.skipped) > 0 {
		fmt.Fprintf(w, "  # Not counted: %s.\n", strings.Join(m.skipped, ", "))
	}
	fmt.Fprintln(w, "  # A snapshot: measure again when the site's machines change.")
	for _, line := range strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n") {
		if _, err := io.WriteString(w, "  "+line); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, "\n")
	return err
}
