package testbed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// portAttempts bounds how often a cluster's API server is started on
// another port after the one it was given was taken.
const portAttempts = 3

// localCluster is one cluster of a local fleet: an API server and, in full
// mode, the components that make workloads run.
type localCluster struct {
	fleet *localFleet
	name  string
	dir   string
	port  int

	mu        sync.Mutex
	apiserver *process
	others    []*process // controller-manager, scheduler, kwok
}

func (c *localCluster) server() string { return "https://127.0.0.1:" + strconv.Itoa(c.port) }

func (c *localCluster) kubeconfigEntry() kubeconfigEntry {
	return kubeconfigEntry{Name: c.name, Server: c.server(), CA: c.fleet.ca.certPEM, Token: c.fleet.token}
}

func (c *localCluster) start(ctx context.Context) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if _, _, err := c.fleet.ca.writeServing(c.dir); err != nil {
		return fmt.Errorf("write serving certificate: %w", err)
	}
	// Another process can take a free port between freePort and the API
	// server binding it, more often when many clusters start at once; then
	// the API server exits and another port is tried.
	for attempt := 1; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			return err
		}
		c.port = port
		err = c.startAPIServer(ctx)
		if err == nil {
			break
		}
		if attempt == portAttempts || !strings.Contains(TailFile(c.apiserver.logPath, 40), "address already in use") {
			return err
		}
		c.fleet.opts.Logf("cluster %s: port %d was taken, trying another", c.name, port)
	}
	if !c.fleet.opts.Full {
		return nil
	}
	// The components below reach the API server through their own
	// kubeconfig with the admin token.
	kubeconfig := filepath.Join(c.dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, []kubeconfigEntry{c.kubeconfigEntry()}); err != nil {
		return err
	}
	if err := c.startWorkloadComponents(kubeconfig); err != nil {
		return err
	}
	return c.waitSchedulable(ctx)
}

// startAPIServer starts kube-apiserver on the cluster's port and waits until
// /readyz answers. It is also how a stopped API server comes back.
func (c *localCluster) startAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver != nil {
		if done, _ := c.apiserver.exited(); !done {
			return fmt.Errorf("kube-apiserver of %s is already running", c.name)
		}
	}
	f := c.fleet
	args := []string{
		"--etcd-servers=" + f.etcdURL,
		"--etcd-prefix=/" + c.name,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.port),
		"--tls-cert-file=" + filepath.Join(c.dir, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(c.dir, "apiserver.key"),
		"--token-auth-file=" + f.tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f.saKey,
		"--service-account-signing-key-file=" + f.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		// A loopback advertise address is refused; nothing here needs the
		// kubernetes Service endpoints anyway.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
	}
	var env []string
	if f.opts.Lean {
		args, env = append(args, leanAPIServerArgs()...), leanAPIServerEnv
	}
	p, err := startProcessEnv(c.name+"/kube-apiserver", f.bin("kube-apiserver"), args, env,
		filepath.Join(c.dir, "kube-apiserver.log"), false)
	if err != nil {
		return err
	}
	c.apiserver = p
	if err := waitHTTP(ctx, p, c.httpClient(), c.server()+"/readyz", f.token); err != nil {
		return p.failure(err)
	}
	return nil
}

func (c *localCluster) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(c.fleet.ca.cert)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func (c *localCluster) startWorkloadComponents(kubeconfig string) error {
	f := c.fleet
	kwokPort, err := FreePort()
	if err != nil {
		return err
	}
	components := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{
			"--kubeconfig=" + kubeconfig,
			"--leader-elect=false",
			"--secure-port=0",
			"--controllers=*",
			"--use-service-account-credentials=false",
			"--service-account-private-key-file=" + f.saKey,
			"--root-ca-file=" + f.caFile,
		}},
		{"kube-scheduler", []string{
			"--kubeconfig=" + kubeconfig,
			"--leader-elect=false",
			"--secure-port=0",
		}},
		{"kwok", []string{
			"--kubeconfig=" + kubeconfig,
			"--config=" + f.bin("kwok-stages.yaml"),
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
			"--server-address=127.0.0.1:" + strconv.Itoa(kwokPort),
			"--node-ip=127.0.0.1",
			"--cidr=10.244.0.0/16",
		}},
	}
	for _, comp := range components {
		p, err := startProcess(c.name+"/"+comp.name, f.bin(comp.name), comp.args,
			filepath.Join(c.dir, comp.name+".log"), false)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.others = append(c.others, p)
		c.mu.Unlock()
	}
	return nil
}

// stopAPIServer stops only the API server; the other components keep
// running and reconnect when it comes back.
func (c *localCluster) stopAPIServer() error {
	c.mu.Lock()
	p := c.apiserver
	c.mu.Unlock()
	if p == nil {
		return fmt.Errorf("kube-apiserver of %s was never started", c.name)
	}
	return p.stop(stopGrace)
}

// stop stops the cluster's components, the API server last.
func (c *localCluster) stop() error {
	c.mu.Lock()
	procs := append([]*process(nil), c.others...)
	if c.apiserver != nil {
		procs = append(procs, c.apiserver)
	}
	c.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if err := p.stop(stopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", p.name, err))
		}
	}
	return errors.Join(errs...)
}
