package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// stopGrace is how long a component gets to exit after SIGTERM.
const stopGrace = 10 * time.Second

// localFleet runs upstream control-plane binaries as local processes.
type localFleet struct {
	opts    Options
	binDir  string
	token   string
	ca      *authority
	saKey   string
	caFile  string
	tokens  string
	etcd    *process
	etcdURL string

	mu       sync.Mutex
	clusters []*localCluster
}

func startLocal(ctx context.Context, opts Options) (*Fleet, error) {
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = repoBinDir(); err != nil {
			return nil, err
		}
	}
	f := &localFleet{opts: opts, binDir: binDir}
	fleet, err := f.start(ctx)
	if err != nil {
		if stopErr := f.stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("start local clusters: %w", err)
	}
	return fleet, nil
}

func (f *localFleet) bin(name string) string { return filepath.Join(f.binDir, name) }

func (f *localFleet) start(ctx context.Context) (*Fleet, error) {
	if err := f.checkBinaries(); err != nil {
		return nil, err
	}
	if err := f.writeCredentials(); err != nil {
		return nil, err
	}
	started := time.Now()
	if err := f.startEtcd(ctx); err != nil {
		return nil, err
	}
	f.opts.Logf("etcd ready on %s (%s)", f.etcdURL, time.Since(started).Round(time.Millisecond))

	g, gctx := errgroup.WithContext(ctx)
	if f.opts.Parallel > 0 {
		g.SetLimit(f.opts.Parallel)
	}
	var ready atomic.Int32
	for _, name := range f.opts.Names {
		c := &localCluster{fleet: f, name: name, dir: filepath.Join(f.opts.Dir, name)}
		f.mu.Lock()
		f.clusters = append(f.clusters, c)
		f.mu.Unlock()
		g.Go(func() error {
			began := time.Now()
			ctx, cancel := context.WithTimeout(gctx, f.opts.StartTimeout)
			defer cancel()
			if err := c.start(ctx); err != nil {
				return fmt.Errorf("cluster %s: %w", name, err)
			}
			f.opts.Logf("cluster %s ready on %s (%s; %d of %d after %s)", name, c.server(),
				time.Since(began).Round(time.Millisecond), ready.Add(1), len(f.opts.Names), time.Since(started).Round(time.Second))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	kubeconfig := filepath.Join(f.opts.Dir, "kubeconfig")
	entries := make([]kubeconfigEntry, len(f.clusters))
	for i, c := range f.clusters {
		entries[i] = c.kubeconfigEntry()
	}
	if err := writeKubeconfig(kubeconfig, entries); err != nil {
		return nil, err
	}
	clusters, err := loadClusters(kubeconfig, f.opts.Names)
	if err != nil {
		return nil, err
	}
	for i, c := range clusters {
		c.apiServer = f.clusters[i]
	}
	return &Fleet{Kubeconfig: kubeconfig, clusters: clusters, stop: f.stop}, nil
}

func (f *localFleet) checkBinaries() error {
	need := []string{"etcd", "kube-apiserver"}
	if f.opts.Full {
		need = append(need, "kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml")
	}
	for _, n := range need {
		if _, err := os.Stat(f.bin(n)); err != nil {
			return fmt.Errorf("control-plane binary %s missing in %s: run \"make controlplane\" first", n, f.binDir)
		}
	}
	return nil
}

// writeCredentials writes what every cluster shares: the CA, the admin token
// (a member of system:masters) and the service-account signing key.
func (f *localFleet) writeCredentials() error {
	var err error
	if f.ca, err = newAuthority(); err != nil {
		return fmt.Errorf("create certificate authority: %w", err)
	}
	f.caFile = filepath.Join(f.opts.Dir, "ca.crt")
	if err := os.WriteFile(f.caFile, f.ca.certPEM, 0o644); err != nil {
		return err
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	f.token = hex.EncodeToString(raw)
	f.tokens = filepath.Join(f.opts.Dir, "tokens.csv")
	if err := os.WriteFile(f.tokens, []byte(f.token+`,admin,admin-uid,"system:masters"`+"\n"), 0o600); err != nil {
		return err
	}
	f.saKey = filepath.Join(f.opts.Dir, "service-account.key")
	if err := writeServiceAccountKey(f.saKey); err != nil {
		return fmt.Errorf("create service-account key: %w", err)
	}
	return nil
}

// startEtcd starts the one etcd every API server of the fleet shares, each
// under its own key prefix.
func (f *localFleet) startEtcd(ctx context.Context) error {
	client, err := FreePort()
	if err != nil {
		return err
	}
	peer, err := FreePort()
	if err != nil {
		return err
	}
	f.etcdURL = "http://127.0.0.1:" + strconv.Itoa(client)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	p, err := startProcess("etcd", f.bin("etcd"), []string{
		"--name=testbed",
		"--data-dir=" + filepath.Join(f.opts.Dir, "etcd"),
		"--listen-client-urls=" + f.etcdURL,
		"--advertise-client-urls=" + f.etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=testbed=" + peerURL,
		"--unsafe-no-fsync",
		"--quota-backend-bytes=4294967296",
		"--log-level=warn",
	}, filepath.Join(f.opts.Dir, "etcd.log"), false)
	if err != nil {
		return err
	}
	f.etcd = p
	ctx, cancel := context.WithTimeout(ctx, f.opts.StartTimeout)
	defer cancel()
	if err := waitHTTP(ctx, p, http.DefaultClient, f.etcdURL+"/health", ""); err != nil {
		return p.failure(err)
	}
	return nil
}

// stop stops every cluster, then etcd, and reports what would not stop.
func (f *localFleet) stop() error {
	f.mu.Lock()
	clusters := f.clusters
	f.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(clusters)+1)
	for i, c := range clusters {
		wg.Go(func() { errs[i] = c.stop() })
	}
	wg.Wait()
	if f.etcd != nil {
		errs[len(clusters)] = f.etcd.stop(stopGrace)
	}
	return errors.Join(errs...)
}

// FreePort asks the kernel for a free port on 127.0.0.1. Another process
// may take it before the caller binds it; callers that can, retry.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers 200, the process exits or ctx ends.
func waitHTTP(ctx context.Context, p *process, client *http.Client, url, token string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if done, err := p.exited(); done {
			return fmt.Errorf("exited before it was ready: %v", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}
