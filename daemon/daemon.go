package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	// progress wakes the loop when a pass ended, to release the next wave.
	progress chan struct{}
	// renderTimeout is the time budget of one revision's render.
	renderTimeout time.Duration
	// marker names the commit being rendered; interrupted is the commit
	// the previous process was rendering when it stopped, if any.
	marker      renderMarker
	interrupted string

	mu      sync.Mutex
	rollout *rollout
	current []reconciler.Target // what the reconciler was last given
}

// Config holds what a Daemon is wired from.
type Config struct {
	// Repository is the config repository's mirror; Poller polls it.
	Repository *sources.Repository
	Poller     *sources.Poller
	// Logger receives the daemon's logs; slog.Default() when nil.
	Logger *slog.Logger
	// RenderTimeout is the time budget of one revision's render;
	// DefaultRenderTimeout when zero.
	RenderTimeout time.Duration
	// StateDir, when set, is a directory kept across restarts (serve's
	// cache directory) where the daemon notes the commit it is rendering,
	// so that a process killed while rendering a commit, out of memory
	// say, does not render it again on its next start, to be killed again.
	StateDir string
}

// DefaultRenderTimeout is the time budget of one revision's render when
// Config.RenderTimeout is zero.
const DefaultRenderTimeout = 2 * time.Minute

// New returns a Daemon for cfg. The reconciler is built by newReconciler
// with an Observe hook that feeds the daemon's status and metrics, so that
// every pass of every tier is seen.
func New(cfg Config, newReconciler func(observe func(reconciler.Result)) *reconciler.Reconciler) *Daemon {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	timeout := cfg.RenderTimeout
	if timeout == 0 {
		timeout = DefaultRenderTimeout
	}
	d := &Daemon{
		repo:          cfg.Repository,
		poller:        cfg.Poller,
		log:           log,
		status:        newStatusStore(),
		metrics:       newMetrics(cfg.Poller),
		progress:      make(chan struct{}, 1),
		renderTimeout: timeout,
		marker:        newRenderMarker(cfg.StateDir, cfg.Repository.Spec()),
	}
	d.reconciler = newReconciler(d.observe)
	return d
}

// Run follows the repository until ctx ends, then waits for the poller and
// the reconciler to stop.
func (d *Daemon) Run(ctx context.Context) error {
	commit, err := d.marker.read()
	if err != nil {
		d.log.Error("cannot read which commit the previous process was rendering", "error", err)
	}
	if commit != "" {
		d.interrupted = commit
		d.log.Error("the previous process stopped while rendering a commit; it is not rendered again, push a new commit", "commit", commit)
	}
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
			case <-d.progress:
				d.advance()
			}
		}
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// follow renders a new revision and hands it to the reconciler. A revision
// that does not render changes nothing on any cluster, and neither does the
// commit the previous process was rendering when it died, which is not
// rendered again. The poller has logged the revision as new when it
// fetched it.
func (d *Daemon) follow(ctx context.Context, rev sources.Revision) {
	log := d.log.With("revision", rev.String())
	if rev.Commit == d.interrupted {
		err := fmt.Errorf("the previous process stopped while rendering commit %s; it is not rendered again — push a new commit", rev.Commit)
		log.Error("revision not rendered; the last good revision stays applied", "error", err)
		d.status.renderFailed(rev, err)
		d.metrics.renderFailures.Inc()
		return
	}
	if err := d.marker.write(rev.Commit); err != nil {
		log.Warn("cannot note the commit being rendered; if rendering it kills the process, the next start renders it again", "error", err)
	}
	began := time.Now()
	res, err := d.render(ctx, rev)
	if err := d.marker.remove(); err != nil {
		log.Warn("cannot remove the note of the commit rendered; the next start will not render it", "error", err)
	}
	d.metrics.observeRender(time.Since(began), err)
	if err != nil {
		log.Error("revision does not render; the last good revision stays applied", "error", err)
		d.status.renderFailed(rev, err)
		return
	}
	for _, w := range res.Warnings {
		log.Warn("render warning", "warning", w)
	}
	d.status.rendered(rev, res)
	log.Info("revision rendered", "targets", len(res.Targets), "duration", time.Since(began).Round(time.Millisecond))
	d.mu.Lock()
	d.rollout = newRollout(res, rev.String(), d.current)
	d.mu.Unlock()
	d.release()
	d.advance()
}

// advance releases the next wave of the rollout once the waves before it
// are Ready.
func (d *Daemon) advance() {
	d.mu.Lock()
	advanced := d.rollout != nil && d.rollout.advance(d.status.readyAt)
	d.mu.Unlock()
	if advanced {
		d.release()
	}
}

// release hands the rollout's current targets to the reconciler.
func (d *Daemon) release() {
	d.mu.Lock()
	targets := d.rollout.targets()
	d.current = targets
	for sol, n := range d.rollout.waves {
		d.log.Info("rollout released", "solution", sol, "revision", d.rollout.revision,
			"wave", d.rollout.released[sol]+1, "waves", n)
	}
	d.mu.Unlock()
	for _, k := range d.status.setTargets(targets) {
		d.metrics.forget(k)
	}
	d.reconciler.SetTargets(targets)
}

func (d *Daemon) render(ctx context.Context, rev sources.Revision) (*renderer.Result, error) {
	fsys, err := d.repo.FS(rev.Commit)
	if err != nil {
		return nil, fmt.Errorf("read revision %s: %w", rev, err)
	}
	res, err := renderer.Render(ctx, fsys, renderer.Options{Timeout: d.renderTimeout})
	if err != nil {
		return nil, fmt.Errorf("render revision %s: %w", rev, err)
	}
	return res, nil
}

// renderMarker is a file naming the commit a daemon is rendering. A
// process killed while rendering leaves it behind, and the next one reads
// it. The zero renderMarker notes nothing.
type renderMarker struct{ path string }

// newRenderMarker returns the marker in dir for spec's repository and ref,
// which share dir with other mirrors.
func newRenderMarker(dir string, spec sources.Spec) renderMarker {
	if dir == "" {
		return renderMarker{}
	}
	sum := sha256.Sum256([]byte(spec.URL + "\x00" + spec.Ref.String()))
	return renderMarker{path: filepath.Join(dir, "rendering-"+hex.EncodeToString(sum[:6]))}
}

// read returns the commit the marker names, or "" when there is none.
func (m renderMarker) read() (string, error) {
	if m.path == "" {
		return "", nil
	}
	data, err := os.ReadFile(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(data)), err
}

func (m renderMarker) write(commit string) error {
	if m.path == "" {
		return nil
	}
	return os.WriteFile(m.path, []byte(commit+"\n"), 0o644)
}

func (m renderMarker) remove() error {
	if m.path == "" {
		return nil
	}
	if err := os.Remove(m.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// observe receives every reconcile result, from the reconciler's
// goroutines.
func (d *Daemon) observe(res reconciler.Result) {
	d.status.observe(res)
	d.metrics.observe(res)
	if !res.Finished.IsZero() {
		select {
		case d.progress <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// Status returns what the daemon knows now.
func (d *Daemon) Status() Status {
	st := d.status.snapshot(d.poller.Status(), d.poller.Spec())
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rollout != nil {
		st.Rollouts = d.rollout.status(d.status.phaseAt(d.rollout.revision))
	}
	return st
}
