package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

// Daemon follows one config repository and keeps every cluster it targets
// reconciled.
type Daemon struct {
	repo       *sources.Repository
	poller     *sources.Poller
	reconciler *reconciler.Reconciler
	log        *slog.Logger
	status     *statusStore
	metrics    *metrics
}

// Config holds what a Daemon is wired from.
type Config struct {
	// Repository is the config repository's mirror; Poller polls it.
	Repository *sources.Repository
	Poller     *sources.Poller
	// Logger receives the daemon's logs; slog.Default() when nil.
	Logger *slog.Logger
}

// New returns a Daemon for cfg. The reconciler is built by newReconciler
// with an Observe hook that feeds the daemon's status and metrics, so that
// every pass of every tier is seen.
func New(cfg Config, newReconciler func(observe func(reconciler.Result)) *reconciler.Reconciler) *Daemon {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	d := &Daemon{
		repo:    cfg.Repository,
		poller:  cfg.Poller,
		log:     log,
		status:  newStatusStore(),
		metrics: newMetrics(cfg.Poller),
	}
	d.reconciler = newReconciler(d.observe)
	return d
}

// Run follows the repository until ctx ends, then waits for the poller and
// the reconciler to stop.
func (d *Daemon) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.poller.Run(ctx) })
	g.Go(func() error { return d.reconciler.Run(ctx) })
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case rev := <-d.poller.Revisions():
				d.follow(ctx, rev)
			}
		}
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// follow renders a new revision and hands it to the reconciler. A revision
// that does not render changes nothing on any cluster.
func (d *Daemon) follow(ctx context.Context, rev sources.Revision) {
	log := d.log.With("revision", rev.String())
	log.Info("new revision", "subject", rev.Subject)
	began := time.Now()
	res, err := d.render(ctx, rev)
	d.metrics.observeRender(time.Since(began), err)
	if err != nil {
		log.Error("revision does not render; the last good revision stays applied", "error", err)
		d.status.renderFailed(rev, err)
		return
	}
	for _, w := range res.Warnings {
		log.Warn("render warning", "warning", w)
	}
	targets := reconciler.TargetsFor(res, rev.String())
	d.status.rendered(rev, res, targets)
	log.Info("revision rendered", "targets", len(res.Targets), "clusters", len(targets),
		"duration", time.Since(began).Round(time.Millisecond))
	d.reconciler.SetTargets(targets)
}

func (d *Daemon) render(ctx context.Context, rev sources.Revision) (*renderer.Result, error) {
	fsys, err := d.repo.FS(rev.Commit)
	if err != nil {
		return nil, fmt.Errorf("read revision %s: %w", rev, err)
	}
	res, err := renderer.Render(ctx, fsys, renderer.Options{})
	if err != nil {
		return nil, fmt.Errorf("render revision %s: %w", rev, err)
	}
	return res, nil
}

// observe receives every reconcile result.
func (d *Daemon) observe(res reconciler.Result) {
	d.status.observe(res)
	d.metrics.observe(res)
}

// Status returns what the daemon knows now.
func (d *Daemon) Status() Status {
	return d.status.snapshot(d.poller.Status(), d.poller.Spec())
}
