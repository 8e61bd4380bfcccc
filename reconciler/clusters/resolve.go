package clusters

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/renderer"
)

// SecretLabel marks a Secret holding the kubeconfig of the cluster named by
// its value.
const SecretLabel = renderer.LabelCluster

// Resolver turns a cluster name into a client configuration. Credentials
// never live in Git: a name is all a render says about a cluster.
type Resolver interface {
	Resolve(ctx context.Context, cluster string) (*rest.Config, error)
}

// ResolverFunc adapts a function to a Resolver.
type ResolverFunc func(ctx context.Context, cluster string) (*rest.Config, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ctx context.Context, cluster string) (*rest.Config, error) {
	return f(ctx, cluster)
}

// KubeconfigResolver resolves a cluster name to the kubeconfig context of
// that name, as kubectl would with --context. It reads the kubeconfig once
// and again only when one of its files changes, so that a fleet's every
// pass does not parse a file naming every site. Use it by pointer.
type KubeconfigResolver struct {
	// Path is the kubeconfig file; empty means kubectl's loading rules
	// (the KUBECONFIG list, merged, then ~/.kube/config).
	Path string

	mu sync.Mutex
	// loaded is the kubeconfig as read when its files were as stamp
	// says.
	loaded *clientcmdapi.Config
	stamp  string
}

// Resolve loads the context named cluster.
func (r *KubeconfigResolver) Resolve(_ context.Context, cluster string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = r.Path
	loaded, err := r.load(rules)
	if err != nil {
		return nil, fmt.Errorf("resolve cluster %s from kubeconfig context: %w", cluster, err)
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*loaded, cluster,
		&clientcmd.ConfigOverrides{CurrentContext: cluster}, rules).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("resolve cluster %s from kubeconfig context: %w", cluster, err)
	}
	return cfg, nil
}

// load returns the kubeconfig the rules load, read anew only when one of
// its files is not as it was.
func (r *KubeconfigResolver) load(rules *clientcmd.ClientConfigLoadingRules) (*clientcmdapi.Config, error) {
	var stamp strings.Builder
	for _, path := range rules.GetLoadingPrecedence() {
		fmt.Fprintf(&stamp, "%s\x00", path)
		if fi, err := os.Stat(path); err == nil {
			fmt.Fprintf(&stamp, "%d %d %v\x00", fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded != nil && r.stamp == stamp.String() {
		return r.loaded, nil
	}
	loaded, err := rules.Load()
	if err != nil {
		return nil, err
	}
	r.loaded, r.stamp = loaded, stamp.String()
	return loaded, nil
}

// SecretResolver resolves a cluster name to the kubeconfig held by the
// Secret labelled SecretLabel=<name>, as tandem does when it runs inside a
// cluster. The kubeconfig is under the key "kubeconfig" or, as Cluster API
// and Flux write it, "value"; its current context is used.
type SecretResolver struct {
	// Client reads Secrets in the cluster tandem runs in.
	Client client.Reader
	// Namespace holds the Secrets; empty means tandem-system.
	Namespace string
}

// Resolve reads the cluster's Secret.
func (r SecretResolver) Resolve(ctx context.Context, cluster string) (*rest.Config, error) {
	ns := r.Namespace
	if ns == "" {
		ns = applyset.Namespace
	}
	var secrets corev1.SecretList
	if err := r.Client.List(ctx, &secrets, client.InNamespace(ns), client.MatchingLabels{SecretLabel: cluster}); err != nil {
		return nil, fmt.Errorf("resolve cluster %s: list Secrets labelled %s=%s in %s: %w", cluster, SecretLabel, cluster, ns, err)
	}
	switch len(secrets.Items) {
	case 0:
		return nil, fmt.Errorf("resolve cluster %s: no Secret labelled %s=%s in %s", cluster, SecretLabel, cluster, ns)
	case 1:
	default:
		return nil, fmt.Errorf("resolve cluster %s: %d Secrets labelled %s=%s in %s, want one", cluster, len(secrets.Items), SecretLabel, cluster, ns)
	}
	s := secrets.Items[0]
	data, ok := s.Data["kubeconfig"]
	if !ok {
		data, ok = s.Data["value"]
	}
	if !ok {
		return nil, fmt.Errorf("resolve cluster %s: Secret %s/%s has no key kubeconfig or value", cluster, ns, s.Name)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("resolve cluster %s: kubeconfig in Secret %s/%s: %w", cluster, ns, s.Name, err)
	}
	return cfg, nil
}
