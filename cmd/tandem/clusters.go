package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

// clusterFlags say how cluster names resolve to API servers; "serve" and
// "apply" share them.
type clusterFlags struct {
	kubeconfig       string
	fromSecrets      bool
	secretsNamespace string
}

func (c *clusterFlags) register(f *pflag.FlagSet) {
	f.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` whose contexts are named like the clusters (default: the KUBECONFIG list, then ~/.kube/config)")
	f.BoolVar(&c.fromSecrets, "cluster-secrets", false, "resolve clusters by Secrets labelled tandem.dev/cluster=<name> in the cluster tandem runs in")
	f.StringVar(&c.secretsNamespace, "cluster-secrets-namespace", applyset.Namespace, "namespace of the cluster Secrets")
}

func (c *clusterFlags) resolver() (clusters.Resolver, error) {
	if !c.fromSecrets {
		return &clusters.KubeconfigResolver{Path: c.kubeconfig}, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("--cluster-secrets needs to run inside a cluster: %w", err)
	}
	kube, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("client for cluster Secrets: %w", err)
	}
	return clusters.SecretResolver{Client: kube, Namespace: c.secretsNamespace}, nil
}
