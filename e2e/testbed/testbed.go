package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ProviderEnv selects the provider: "local" (the default) or "kind".
const ProviderEnv = "TANDEM_E2E_PROVIDER"

// BinDirEnv names the directory holding the control-plane binaries built by
// "make controlplane"; by default bin/controlplane at the repository root.
const BinDirEnv = "TANDEM_CONTROLPLANE_BIN"

// Options says which clusters to start and how.
type Options struct {
	// Names of the clusters; each becomes a kubeconfig context.
	Names []string
	// Full adds what makes workloads run: kube-controller-manager,
	// kube-scheduler and kwok with a fake Node per cluster.
	Full bool
	// Lean starts each API server small (see leanAPIServerArgs): only the
	// API groups tandem and its benchmarks use, no watch cache, fewer
	// admission plugins, one Go thread and a soft memory limit. Enough for
	// objects that are healthy once stored; not for Full clusters.
	Lean bool
	// Parallel bounds how many clusters start at once; zero starts all
	// at once. Hundreds of API servers starting together on 2 cores would
	// each take longer than any start timeout.
	Parallel int
	// Dir holds the fleet's state, kubeconfig and logs. It must exist.
	Dir string
	// BinDir holds the control-plane binaries; empty means BinDirEnv, then
	// bin/controlplane at the repository root.
	BinDir string
	// StartTimeout bounds the start of each cluster; zero means 2 minutes.
	StartTimeout time.Duration
	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any)
}

func (o *Options) validate() error {
	if len(o.Names) == 0 {
		return errors.New("no cluster names given")
	}
	for i, n := range o.Names {
		if errs := validClusterName(n); errs != "" {
			return fmt.Errorf("cluster name %q: %s", n, errs)
		}
		if slices.Contains(o.Names[:i], n) {
			return fmt.Errorf("cluster name %q given twice", n)
		}
	}
	if o.Dir == "" {
		return errors.New("no state directory given")
	}
	if o.Lean && o.Full {
		return errors.New("lean API servers serve too few API groups for full clusters")
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

// validClusterName accepts DNS-1123 labels, which every provider can use as a
// process, container and context name.
func validClusterName(n string) string {
	if len(n) == 0 || len(n) > 40 {
		return "must be 1 to 40 characters"
	}
	for i, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r == '-' && i > 0 && i < len(n)-1:
		default:
			return "must consist of lower-case letters, digits and inner dashes"
		}
	}
	return ""
}

// Fleet is a set of running clusters.
type Fleet struct {
	// Kubeconfig is the path of a kubeconfig with one context per cluster,
	// named like the cluster, the first cluster being the current context.
	Kubeconfig string
	clusters   []*Cluster
	stop       func() error
}

// Cluster is one running cluster of a fleet.
type Cluster struct {
	Name string
	// Server is the API server URL.
	Server string
	config *rest.Config
	// apiServer stops and restarts the API server; nil where the provider
	// cannot do that.
	apiServer interface {
		stopAPIServer() error
		startAPIServer(ctx context.Context) error
	}
}

// Clusters returns the fleet's clusters in the order they were named.
func (f *Fleet) Clusters() []*Cluster { return f.clusters }

// Cluster returns the named cluster, or nil.
func (f *Fleet) Cluster(name string) *Cluster {
	for _, c := range f.clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Stop stops every cluster and every process the fleet started.
func (f *Fleet) Stop() error { return f.stop() }

// RESTConfig returns a fresh client configuration for the cluster.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// StopAPIServer stops the cluster's API server, making the cluster
// unreachable while its state is kept.
func (c *Cluster) StopAPIServer() error {
	if c.apiServer == nil {
		return fmt.Errorf("cluster %s: this provider cannot stop an API server", c.Name)
	}
	return c.apiServer.stopAPIServer()
}

// StartAPIServer starts a stopped API server again on the same address and
// waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if c.apiServer == nil {
		return fmt.Errorf("cluster %s: this provider cannot start an API server", c.Name)
	}
	return c.apiServer.startAPIServer(ctx)
}

// Start starts a fleet with the provider chosen by ProviderEnv.
func Start(ctx context.Context, opts Options) (*Fleet, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("start clusters: %w", err)
	}
	switch p := os.Getenv(ProviderEnv); p {
	case "", "local":
		return startLocal(ctx, opts)
	case "kind":
		return startKind(ctx, opts)
	default:
		return nil, fmt.Errorf("start clusters: unknown provider %s=%q: want local or kind", ProviderEnv, p)
	}
}

// loadClusters reads the fleet kubeconfig back into client configurations,
// so every provider hands out exactly what a kubeconfig user gets.
func loadClusters(kubeconfig string, names []string) ([]*Cluster, error) {
	var clusters []*Cluster
	for _, name := range names {
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: name},
		).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("load context %s from %s: %w", name, kubeconfig, err)
		}
		clusters = append(clusters, &Cluster{Name: name, Server: cfg.Host, config: cfg})
	}
	return clusters, nil
}

// repoBinDir finds bin/controlplane at the root of the tandem repository
// containing the working directory.
func repoBinDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "e2e", "controlplane", "go.mod")); err == nil {
			return filepath.Join(dir, "bin", "controlplane"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no control-plane binaries: set %s or run inside the tandem repository", BinDirEnv)
		}
		dir = parent
	}
}
