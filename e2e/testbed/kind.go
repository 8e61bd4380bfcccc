package testbed

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/cluster"
)

// KindNodeImageEnv overrides kind's default node image.
const KindNodeImageEnv = "TANDEM_KIND_NODE_IMAGE"

// startKind creates one kind cluster per name. kind clusters always run
// workloads, so Full changes nothing here.
func startKind(ctx context.Context, opts Options) (*Fleet, error) {
	if err := DockerUsable(ctx); err != nil {
		return nil, fmt.Errorf("kind provider: %w", err)
	}
	// kind pulls a node image it does not find; nothing may be pulled
	// here, so the image must be in the engine already.
	image := cmp.Or(os.Getenv(KindNodeImageEnv), defaults.Image)
	if err := exec.CommandContext(ctx, "docker", "image", "inspect", image).Run(); err != nil {
		return nil, fmt.Errorf("kind provider: node image %s is not in the Docker engine, and no image is pulled: build a node image and name it in %s", image, KindNodeImageEnv)
	}
	provider := cluster.NewProvider(cluster.ProviderWithDocker())
	createOpts := []cluster.CreateOption{
		cluster.CreateWithWaitForReady(opts.StartTimeout),
		cluster.CreateWithKubeconfigPath(filepath.Join(opts.Dir, "kind-kubeconfig")),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
		cluster.CreateWithNodeImage(image),
	}

	var mu sync.Mutex
	var created []string
	deleteAll := func() error {
		mu.Lock()
		defer mu.Unlock()
		var errs []error
		for _, name := range created {
			if err := provider.Delete(name, ""); err != nil {
				errs = append(errs, fmt.Errorf("delete kind cluster %s: %w", name, err))
			}
		}
		return errors.Join(errs...)
	}

	entries := make([]kubeconfigEntry, len(opts.Names))
	var g errgroup.Group
	for i, name := range opts.Names {
		g.Go(func() error {
			began := time.Now()
			if err := provider.Create(name, createOpts...); err != nil {
				if strings.Contains(err.Error(), "unable to apply caps: operation not permitted") {
					// Seen on VMs that withhold a capability from every
					// process: kind always runs its nodes --privileged.
					return fmt.Errorf("create kind cluster %s: this Docker engine cannot run privileged containers, which kind's nodes are (%w)", name, err)
				}
				return fmt.Errorf("create kind cluster %s: %w", name, err)
			}
			mu.Lock()
			created = append(created, name)
			mu.Unlock()
			e, err := kindEntry(provider, name)
			if err != nil {
				return err
			}
			entries[i] = e
			opts.Logf("kind cluster %s ready on %s (%s)", name, e.Server, time.Since(began).Round(time.Millisecond))
			return nil
		})
	}
	fail := func(err error) (*Fleet, error) {
		return nil, errors.Join(fmt.Errorf("kind provider: %w", err), deleteAll())
	}
	if err := g.Wait(); err != nil {
		return fail(err)
	}
	kubeconfig := filepath.Join(opts.Dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, entries); err != nil {
		return fail(err)
	}
	clusters, err := loadClusters(kubeconfig, opts.Names)
	if err != nil {
		return fail(err)
	}
	return &Fleet{Kubeconfig: kubeconfig, clusters: clusters, stop: deleteAll}, nil
}

// kindEntry renames kind's "kind-<name>" context to the plain cluster name
// tandem resolves.
func kindEntry(provider *cluster.Provider, name string) (kubeconfigEntry, error) {
	raw, err := provider.KubeConfig(name, false)
	if err != nil {
		return kubeconfigEntry{}, fmt.Errorf("kubeconfig of kind cluster %s: %w", name, err)
	}
	cfg, err := clientcmd.Load([]byte(raw))
	if err != nil {
		return kubeconfigEntry{}, fmt.Errorf("parse kubeconfig of kind cluster %s: %w", name, err)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok || cfg.Clusters[ctx.Cluster] == nil || cfg.AuthInfos[ctx.AuthInfo] == nil {
		return kubeconfigEntry{}, fmt.Errorf("kubeconfig of kind cluster %s has no usable current context", name)
	}
	c, u := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	return kubeconfigEntry{
		Name: name, Server: c.Server, CA: c.CertificateAuthorityData,
		Token: u.Token, Cert: u.ClientCertificateData, Key: u.ClientKeyData,
	}, nil
}

// DockerUsable explains in one line why Docker cannot run containers here
// (for kind clusters or tandem's image), if it cannot.
func DockerUsable(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return errors.New("needs Docker, but no docker command is on PATH")
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(strings.SplitN(strings.TrimSpace(stderr.String()), "\n", 2)[0])
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("needs a running Docker engine, but \"docker info\" failed: %s", msg)
	}
	return nil
}
