package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/daemon/console"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/sources"
	"github.com/tandem-gitops/tandem/sources/webhook"
)

type serveOptions struct {
	git               gitFlags
	interval          time.Duration
	cacheDir          string
	listen            string
	pprofListen       string
	webhookSecretFile string
	apiTokenFile      string
	agentTokens       string
	agentTimeout      time.Duration
	clusters          clusterFlags
	instance          instanceFlags
	leader            leaderFlags
	shards            shardFlags
	reconcile         reconciler.Options
	logFormat         string
	logLevel          string
	shutdownTimeout   time.Duration
	renderTimeout     time.Duration
	console           consoleFlags
}

func newServeCommand() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve --repo URL",
		Short: "Run the daemon: follow a config repository and keep every cluster reconciled",
		Long: `Run tandem as a daemon. It fetches the config repository on an interval and
whenever a push webhook arrives, renders each new revision whole, and keeps
every cluster the revision targets reconciled: server-side apply, pruning,
health checks, and drift correction on an interval. A revision that does not
render is reported (status and logs name the file and field) and applies
nothing; the last good revision stays in place.

Clusters are named in the config repository and resolved outside it: by
kubeconfig context (--kubeconfig, or the KUBECONFIG list), or with
--cluster-secrets by Secrets labelled tandem.dev/cluster=<name> in the cluster
tandem runs in.

Endpoints on --listen: /healthz, /readyz, /metrics, /api/v1/status and, with
--webhook-secret-file, the push webhook at /hooks/git.

Sites with spec.mode: pull are never reached from here: their agents ("tandem
agent") fetch what the rollout released to them and report back through
/api/v1/sites/NAME/{release,status}, enabled by --agent-tokens, each site's
token good for its own site only (docs/agent.md). With --console-users,
the operations console at /console/ (on --console-listen, when given): where
operations staff see the fleet and change a solution's scale factor, which
becomes a Git commit (docs/console.md).

Drift is seen by watches: a change by hand (kubectl scale, edit, label,
delete) to an object tandem applied sets off a pass that puts it back within
moments, and an object changed back after every correction is corrected later
each time. Every --drift-interval a full re-check lists and compares every
tier all the same (docs/operations.md, "How drift is seen").

With --leader-elect several replicas can run: the one holding the Lease
reconciles, the others stand by, and a leader that loses the Lease exits to
be restarted as a candidate.

With --shards N the replicas share the work instead: the sites are split into
N shards by a stable hash of their cluster names (tiers on named clusters, the
cloud, go with shard 0), each shard is a Lease <lease>-shard-<i>, and a replica
reconciles the sites of the shards it holds. A shard whose holder died or
stopped is taken by another replica as soon as its Lease expires or is
released; a replica holding k shards waits k lease durations before it takes
one never held since it started, so that replicas starting together share
them. Rollout waves see every site: each replica reads the ApplySet parents
of the sites other replicas hold (docs/operations.md, "Sharding").`,
		Example: `  tandem serve --repo https://git.example.com/iot/config.git --ref main \
      --kubeconfig ~/.kube/fleet --webhook-secret-file /etc/tandem/webhook-secret

  tandem serve --repo file:///srv/git/config.git --listen 127.0.0.1:8080 --drift-interval 1m

  tandem serve --repo https://git.example.com/iot/config.git --cluster-secrets --shards 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requirePositive(cmd.Flags(), positiveFlags...); err != nil {
				return err
			}
			if err := o.shards.check(cmd.Flags().Changed("shards"), &o.leader); err != nil {
				return &usageError{err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, o)
		},
	}
	f := cmd.Flags()
	o.git.register(f)
	f.DurationVar(&o.interval, "interval", sources.DefaultInterval, "how often to fetch the config repository")
	f.StringVar(&o.cacheDir, "cache-dir", defaultCacheDir(), "directory for the repository mirror and the note of the commit being rendered; reused across restarts")
	f.StringVar(&o.listen, "listen", ":8080", "`ADDRESS` for the health, metrics, status and webhook endpoints")
	f.StringVar(&o.pprofListen, "pprof-listen", "", "`ADDRESS` for Go's profiles at /debug/pprof/ (heap, CPU, goroutines), on a listener of their own; off unless set, and best kept on localhost")
	f.StringVar(&o.webhookSecretFile, "webhook-secret-file", "", "`FILE` holding the push webhook secret; enables /hooks/git")
	f.StringVar(&o.apiTokenFile, "api-token-file", "", "`FILE` of name:token lines whose bearer tokens may approve, resume and abort rollouts (tandem rollout)")
	f.StringVar(&o.agentTokens, "agent-tokens", "", "`PATH` of the pull-mode sites' agent tokens: a file of site:token lines, or a directory with a file per site holding its token (a mounted Secret); enables the agent API, re-read when it changes")
	f.DurationVar(&o.agentTimeout, "agent-timeout", daemon.DefaultAgentTimeout, "how long a pull site's agent may stay silent before its site's status is Unknown")
	o.clusters.register(f)
	o.instance.register(f, true)
	o.leader.register(f)
	o.shards.register(f)
	f.IntVar(&o.reconcile.Concurrency, "concurrency", 16, "cluster reads and writes at once (connecting, applying or pruning a tier); waiting for health takes none")
	f.DurationVar(&o.reconcile.DriftInterval, "drift-interval", 30*time.Minute, "how often to re-check every tier in full (list, compare, re-apply what drifted); between re-checks, watches set off a pass within moments of a change by hand")
	f.DurationVar(&o.reconcile.HealthTimeout, "health-timeout", 5*time.Minute, "how long to wait for applied objects to become healthy, unless a tier sets health.timeout")
	f.DurationVar(&o.reconcile.RetryInterval, "retry-interval", 10*time.Second, "first delay after a failed pass of a cluster; doubles up to --max-retry-interval")
	f.DurationVar(&o.reconcile.MaxRetryInterval, "max-retry-interval", 5*time.Minute, "longest delay between retries of a failing cluster")
	f.DurationVar(&o.renderTimeout, "render-timeout", daemon.DefaultRenderTimeout, "time budget of one revision's render; a render over it fails that revision")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long stopping may take on SIGTERM; passes in flight are abandoned and converge on the next start")
	o.console.register(f)
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.MarkFlagRequired("repo")
	return cmd
}

// positiveFlags are the counts and durations of serve that must be positive.
var positiveFlags = []string{"concurrency", "shards", "interval", "git-timeout", "drift-interval", "health-timeout",
	"retry-interval", "max-retry-interval", "shutdown-timeout", "render-timeout", "agent-timeout",
	"leader-elect-lease-duration", "leader-elect-renew-deadline", "leader-elect-retry-period", "shard-observe-interval"}

func defaultCacheDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "tandem")
	}
	return filepath.Join(os.TempDir(), "tandem-cache")
}

func serve(ctx context.Context, o *serveOptions) error {
	log, err := newLogger(os.Stderr, o.logFormat, o.logLevel)
	if err != nil {
		return &usageError{err}
	}
	routeClientLogs(log.Handler())
	o.git.spec.Interval = o.interval
	if err := o.git.resolve(); err != nil {
		return &usageError{err}
	}
	spec := o.git.spec
	resolver, err := o.clusters.resolver()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.cacheDir, 0o755); err != nil {
		return fmt.Errorf("create cache directory: %w", err)
	}
	// --ref names a branch, or a tag when the remote has no such branch.
	repo, _, err := sources.Follow(ctx, spec, o.git.ref, sources.Options{CacheDir: o.cacheDir, Logger: log})
	switch {
	case repo == nil:
		return fmt.Errorf("--ref: %w", err)
	case err != nil:
		log.Warn("first fetch of the config repository failed; retrying", "repo", spec.URL, "error", err)
	}
	defer repo.Close()
	spec = repo.Spec()
	poller := sources.NewPoller(repo, sources.PollerOptions{})

	var hook http.Handler
	if o.webhookSecretFile != "" {
		secret, err := os.ReadFile(o.webhookSecretFile)
		if err != nil {
			return fmt.Errorf("read webhook secret: %w", err)
		}
		if hook, err = webhook.NewReceiver(webhook.Options{Secret: []byte(strings.TrimSpace(string(secret))), Logger: log}, poller); err != nil {
			return err
		}
	}

	ropts := o.reconcile
	ropts.Version, ropts.Logger = toolingVersion(), log
	ropts.Instance = o.instance.orDerived(sources.Identity(spec.URL, spec.Ref.String(), ""))
	ropts.TakeOver = o.instance.takeOver
	traffic := clusters.NewTraffic()
	ropts.Traffic = traffic
	var tokens daemon.Tokens
	if o.apiTokenFile != "" {
		if tokens, err = daemon.ReadTokens(o.apiTokenFile); err != nil {
			return err
		}
	}
	var agentTokens daemon.AgentTokens
	if o.agentTokens != "" {
		files, err := daemon.ReadTokenFiles(o.agentTokens)
		if err != nil {
			return fmt.Errorf("--agent-tokens: %w", err)
		}
		agentTokens = files
	}
	applier, err := o.shards.applier(ctx, reconciler.New(resolver, ropts), resolver, &o.leader, o.clusters.kubeconfig, ropts.Instance, log)
	if err != nil {
		return err
	}
	d := daemon.New(daemon.Config{Source: poller, Trees: repo, Applier: applier,
		Logger: log, RenderTimeout: o.renderTimeout, StateDir: o.cacheDir, Tokens: tokens,
		Instance: ropts.Instance, AgentTokens: agentTokens, AgentTimeout: o.agentTimeout,
		Collectors: []prometheus.Collector{traffic}})

	handler := d.Handler(hook)
	consoleHandler, err := o.console.handler(repo, d, poller, log)
	if err != nil {
		return err
	}
	var servers []*http.Server
	serveErr := make(chan error, 2)
	listen := func(addr string, h http.Handler) (net.Addr, error) {
		listener, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() { serveErr <- srv.Serve(listener) }()
		return listener.Addr(), nil
	}
	if consoleHandler != nil && o.console.listen == "" {
		mux := http.NewServeMux()
		mux.Handle(console.Prefix, consoleHandler)
		mux.Handle("/", handler)
		handler = mux
	}
	addr, err := listen(o.listen, handler)
	if err != nil {
		return err
	}
	if consoleHandler != nil && o.console.listen != "" {
		mux := http.NewServeMux()
		mux.Handle(console.Prefix, consoleHandler)
		mux.Handle("GET /{$}", http.RedirectHandler(console.Prefix, http.StatusFound))
		consoleAddr, err := listen(o.console.listen, mux)
		if err != nil {
			return err
		}
		log.Info("console serving", "listen", consoleAddr.String())
	}
	if o.pprofListen != "" {
		pprofAddr, err := listen(o.pprofListen, profiles())
		if err != nil {
			return err
		}
		log.Info("profiles serving", "listen", pprofAddr.String(), "path", "/debug/pprof/")
	}
	log.Info("tandem serving", "version", version, "instance", ropts.Instance, "repo", spec.URL, "ref", spec.Ref.String(),
		"listen", addr.String(), "webhook", hook != nil, "console", consoleHandler != nil)

	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	runErr := make(chan error, 1)
	go func() { runErr <- o.leader.run(runCtx, o.clusters.kubeconfig, log, d.Run) }()

	select {
	case err = <-serveErr:
		err = fmt.Errorf("serve HTTP: %w", err)
	case err = <-runErr:
	case <-ctx.Done():
		log.Info("shutting down", "timeout", o.shutdownTimeout)
	}
	// In-flight passes are abandoned at once and get the shutdown timeout to
	// wind down; what they cut short converges on the next start, since
	// applying twice is applying once.
	stopCtx, cancelStop := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancelStop()
	cancelRun()
	select {
	case runErr := <-runErr:
		err = errors.Join(err, runErr)
	case <-stopCtx.Done():
		err = errors.Join(err, errors.New("in-flight reconciles did not stop within the shutdown timeout"))
	}
	for _, srv := range servers {
		if shutErr := srv.Shutdown(stopCtx); shutErr != nil {
			err = errors.Join(err, shutErr)
		}
	}
	return err
}

// newLogger returns a slog logger writing format at level.
func newLogger(w *os.File, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
