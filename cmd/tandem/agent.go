package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tandem-gitops/tandem/agent"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/sources"
)

type agentOptions struct {
	site           string
	hub            string
	tokenFile      string
	hubCAFile      string
	hubTimeout     time.Duration
	git            gitFlags
	kubeconfig     string
	context        string
	instance       instanceFlags
	cacheDir       string
	listen         string
	pollInterval   time.Duration
	reportInterval time.Duration
	renderTimeout  time.Duration
	reconcile      reconciler.Options
	logFormat      string
	logLevel       string
}

func newAgentCommand() *cobra.Command {
	o := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent --site NAME --hub URL --token-file FILE --repo URL",
		Short: "Run at a pull-mode site: apply what the hub released to it, offline too, and report back",
		Long: `Run tandem's agent for one pull-mode site (a Site with spec.mode: pull), in or
beside the site's cluster. The hub ("tandem serve") never reaches such a site;
the agent reaches the hub instead, so the site needs no inbound port.

Every --poll-interval the agent asks the hub which revision its rollout has
released to the site (GET /api/v1/sites/NAME/release): waves, soaks, windows
and approvals stay the hub's decisions. The agent renders that revision itself
from its own mirror of the config repository (--repo, with the site's own Git
credentials), with the same renderer, and applies it with the same reconciler
as the hub would: server-side apply, ApplySet inventory, pruning, health and
drift correction. It applies only a render whose digest is the hub's; one that
differs is refused, and the hub is told why.

The agent reports the site's status to the hub (POST /api/v1/sites/NAME/status)
when it changes and every --report-interval. While the hub cannot be reached
the site keeps the last release the agent took, drift is still corrected, and
the report waits until the hub answers. The release taken is stored in the
site's cluster (ConfigMap tandem-system/tandem-agent-NAME), so a restarted
agent runs it again without the hub.

The site's token (--token-file) lets the agent read only its site's release
and write only its site's status; the file is read for every request, so a
rotated token is used at once (docs/agent.md).

Endpoints on --listen: /healthz and /metrics (requests to the site's API
server and to the hub).`,
		Example: `  tandem agent --site plant-berlin --hub https://tandem.example.com \
      --token-file /etc/tandem/token --repo https://git.example.com/iot/config.git

  tandem agent --site plant-c --hub http://127.0.0.1:8080 --token-file token \
      --repo file:///srv/git/config.git --kubeconfig ~/.kube/plant-c --listen 127.0.0.1:8081`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requirePositive(cmd.Flags(), "poll-interval", "report-interval", "git-timeout", "hub-timeout",
				"drift-interval", "health-timeout", "retry-interval", "max-retry-interval", "render-timeout"); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runAgent(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.site, "site", "", "`NAME` of the pull-mode site (metadata.name of its Site)")
	f.StringVar(&o.hub, "hub", "", "`URL` of the hub, the tandem serve the site's rollout is decided by")
	f.StringVar(&o.tokenFile, "token-file", "", "`FILE` holding the site's token for the hub, read for every request")
	f.StringVar(&o.hubCAFile, "hub-ca-file", "", "PEM `FILE` of certificate authorities the hub's https certificate may chain to, in addition to the system's")
	f.DurationVar(&o.hubTimeout, "hub-timeout", 10*time.Second, "bound on one request to the hub")
	o.git.register(f)
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` of the site's cluster (default: in the cluster, the service account; outside, the KUBECONFIG list, then ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "kubeconfig `CONTEXT` of the site's cluster (default: the current context)")
	o.instance.register(f, true)
	f.StringVar(&o.cacheDir, "cache-dir", defaultCacheDir(), "directory for the repository mirror; reused across restarts")
	f.StringVar(&o.listen, "listen", ":8081", "`ADDRESS` for /healthz and /metrics")
	f.DurationVar(&o.pollInterval, "poll-interval", 10*time.Second, "how often to ask the hub for the site's release")
	f.DurationVar(&o.reportInterval, "report-interval", 30*time.Second, "how often to report to the hub when nothing changed; the hub shows a site whose agent was silent for its --agent-timeout as Unknown")
	f.DurationVar(&o.renderTimeout, "render-timeout", 2*time.Minute, "time budget of one revision's render")
	f.DurationVar(&o.reconcile.DriftInterval, "drift-interval", 30*time.Minute, "how often to re-check the site's tiers in full; between re-checks, watches set off a pass within moments of a change by hand")
	f.DurationVar(&o.reconcile.HealthTimeout, "health-timeout", 5*time.Minute, "how long to wait for applied objects to become healthy, unless a tier sets health.timeout")
	f.DurationVar(&o.reconcile.RetryInterval, "retry-interval", 10*time.Second, "first delay after a failed pass; doubles up to --max-retry-interval")
	f.DurationVar(&o.reconcile.MaxRetryInterval, "max-retry-interval", 5*time.Minute, "longest delay between retries of a failing pass")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	for _, name := range []string{"site", "hub", "token-file", "repo"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runAgent(ctx context.Context, o *agentOptions) error {
	log, err := newLogger(os.Stderr, o.logFormat, o.logLevel)
	if err != nil {
		return &usageError{err}
	}
	routeClientLogs(log.Handler())
	if msgs := validation.IsDNS1123Label(o.site); len(msgs) > 0 {
		return &usageError{fmt.Errorf("--site %q: %s", o.site, strings.Join(msgs, "; "))}
	}
	if err := o.git.resolve(); err != nil {
		return &usageError{err}
	}
	if _, err := os.ReadFile(o.tokenFile); err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	hubHTTP, err := o.hubClient()
	if err != nil {
		return err
	}
	cfg, err := o.siteConfig()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for the site's cluster: %w", err)
	}
	if err := os.MkdirAll(o.cacheDir, 0o755); err != nil {
		return fmt.Errorf("create cache directory: %w", err)
	}
	repo, _, err := sources.Follow(ctx, o.git.spec, o.git.ref, sources.Options{CacheDir: o.cacheDir, Logger: log})
	switch {
	case repo == nil:
		return fmt.Errorf("--ref: %w", err)
	case err != nil:
		log.Warn("first fetch of the config repository failed; the agent fetches again for each release", "repo", o.git.spec.URL, "error", err)
	}
	defer repo.Close()
	spec := repo.Spec()

	ropts := o.reconcile
	ropts.Version, ropts.Logger = toolingVersion(), log
	ropts.Instance = o.instance.orDerived(sources.Identity(spec.URL, spec.Ref.String(), ""))
	ropts.TakeOver = o.instance.takeOver
	traffic := clusters.NewTraffic()
	ropts.Traffic = traffic
	// The site's cluster is the only one; the reconciler knows it by the
	// name the release gives it.
	resolver := clusters.ResolverFunc(func(context.Context, string) (*rest.Config, error) { return rest.CopyConfig(cfg), nil })
	hub := &agent.Client{URL: o.hub, TokenFile: o.tokenFile, HTTP: hubHTTP}
	a := agent.New(agent.Config{
		Site: o.site, Hub: hub, Repo: repo, Applier: reconciler.New(resolver, ropts),
		Store: agent.Store{Client: kube, Site: o.site}, Instance: ropts.Instance, Version: version, Logger: log,
		PollInterval: o.pollInterval, ReportInterval: o.reportInterval, RenderTimeout: o.renderTimeout,
	})

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), traffic,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tandem_agent_hub_requests_total", Help: "Requests the agent sent to the hub."},
			func() float64 { sent, _ := hub.Requests(); return float64(sent) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tandem_agent_hub_request_failures_total", Help: "Requests to the hub that got no answer or an error status."},
			func() float64 { _, failed := hub.Requests(); return float64(failed) }))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	listener, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(listener) }()
	log.Info("tandem agent running", "version", version, "site", o.site, "hub", o.hub, "instance", ropts.Instance,
		"repo", spec.URL, "ref", spec.Ref.String(), "listen", listener.Addr().String())

	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	select {
	case err = <-serveErr:
		err = fmt.Errorf("serve HTTP: %w", err)
	case err = <-runErr:
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return errors.Join(err, srv.Shutdown(stopCtx))
}

// hubClient returns the HTTP client for the hub: its own timeout, and the
// --hub-ca-file authorities beside the system's.
func (o *agentOptions) hubClient() (*http.Client, error) {
	client := &http.Client{Timeout: o.hubTimeout}
	if o.hubCAFile == "" {
		return client, nil
	}
	pem, err := os.ReadFile(o.hubCAFile)
	if err != nil {
		return nil, fmt.Errorf("--hub-ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--hub-ca-file %s: no PEM certificate in it", o.hubCAFile)
	}
	client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Proxy: http.ProxyFromEnvironment}
	return client, nil
}

// siteConfig returns the site cluster's configuration: the in-cluster one
// when no kubeconfig is named and the agent runs in a cluster.
func (o *agentOptions) siteConfig() (*rest.Config, error) {
	if o.kubeconfig == "" && o.context == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: o.context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the site's cluster: %w", err)
	}
	return cfg, nil
}
