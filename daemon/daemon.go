package daemon

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

// Source hands the daemon each new revision of the config repository and
// says how fetching it goes; *sources.Poller is one.
type Source interface {
	// Run fetches until ctx ends.
	Run(ctx context.Context) error
	// Revisions delivers each revision the followed ref moves to.
	Revisions() <-chan sources.Revision
	Status() sources.Status
	Spec() sources.Spec
}

// Trees opens the files of a commit; *sources.Repository is one.
type Trees interface {
	FS(commit string) (fs.FS, error)
}

// Applier keeps every cluster at the targets it was last given, sending
// every result on results as it happens; *reconciler.Reconciler is one.
type Applier interface {
	Run(ctx context.Context, results chan<- reconciler.Result) error
	SetTargets(targets []reconciler.Target)
}

// Placer is an Applier that shares the fleet with other replicas, each
// reconciling the clusters of the shards it holds; *shard.Applier is one.
type Placer interface {
	// Identity names this replica.
	Identity() string
	// Placement returns the shard of cluster and the replica holding
	// it, "" while none does.
	Placement(cluster string) (shard int, owner string)
}

// Daemon follows one config repository and keeps every cluster it targets
// reconciled. One goroutine, Run's loop, owns its state: it renders each
// revision, hands the rollout's targets to the applier and reads back every
// result. Readers get the status the loop last published.
type Daemon struct {
	source  Source
	trees   Trees
	applier Applier
	log     *slog.Logger
	metrics *metrics
	// renderTimeout is the time budget of one revision's render.
	renderTimeout time.Duration
	// marker names the commit being rendered; interrupted is the commit
	// the previous process was rendering when it stopped, if any.
	marker      renderMarker
	interrupted string
	tokens      Tokens

	// now is the daemon's clock; actions are the rollout actions asked
	// for through the API, for the loop to carry out.
	now     func() time.Time
	actions chan action
	// hub holds the releases of pull sites and takes their agents'
	// reports, which reach the loop on reports.
	hub          *hub
	reports      chan report
	agentTimeout time.Duration

	// Owned by the loop. renderer renders each revision reusing what the
	// one before shares with it; its results are shared, never changed.
	renderer renderer.Renderer
	status   *statusStore
	rollout  *rollout
	current  []reconciler.Target // what the applier was last given

	// published is the loop's latest status, for Status to read.
	published atomic.Pointer[Status]
}

// Config holds what a Daemon is wired from.
type Config struct {
	// Source delivers the config repository's revisions, and Trees opens
	// them: a sources.Poller and the sources.Repository it polls.
	Source Source
	Trees  Trees
	// Applier applies the targets: a reconciler.Reconciler.
	Applier Applier
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
	// Tokens authenticate the rollout actions of the API (approve, resume,
	// abort); without any, the API takes no action.
	Tokens Tokens
	// Now is the daemon's clock, for soaks and deadlines; time.Now when
	// nil.
	Now func() time.Time
	// Collectors are served on /metrics beside the daemon's own metrics:
	// the applier's, as a clusters.Traffic.
	Collectors []prometheus.Collector
	// Instance names the tandem instance that owns what the daemon
	// applies, as the applier records it; pull sites' agents apply under
	// it too.
	Instance string
	// AgentTokens authenticate the agents of pull sites (spec.mode:
	// pull); without them, the agent API is disabled.
	AgentTokens AgentTokens
	// AgentTimeout is how long a pull site's agent may stay silent before
	// its site's status is no longer what the agent last reported;
	// DefaultAgentTimeout when zero.
	AgentTimeout time.Duration
}

// DefaultRenderTimeout is the time budget of one revision's render when
// Config.RenderTimeout is zero.
const DefaultRenderTimeout = 2 * time.Minute

// New returns a Daemon for cfg.
func New(cfg Config) *Daemon {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	hub := newHub(cfg.Instance, cfg.AgentTokens, log)
	d := &Daemon{
		source:        cfg.Source,
		trees:         cfg.Trees,
		applier:       cfg.Applier,
		log:           log,
		status:        newStatusStore(),
		metrics:       newMetrics(cfg.Source, append([]prometheus.Collector{hub}, cfg.Collectors...)...),
		renderTimeout: cmp.Or(cfg.RenderTimeout, DefaultRenderTimeout),
		marker:        newRenderMarker(cfg.StateDir, cfg.Source.Spec()),
		now:           cfg.Now,
		actions:       make(chan action),
		tokens:        cfg.Tokens,
		hub:           hub,
		reports:       make(chan report),
		agentTimeout:  cmp.Or(cfg.AgentTimeout, DefaultAgentTimeout),
	}
	if d.now == nil {
		d.now = time.Now
	}
	d.publish()
	return d
}

// Run follows the repository until ctx ends, then waits for the source and
// the applier to stop.
func (d *Daemon) Run(ctx context.Context) error {
	commit, err := d.marker.read()
	if err != nil {
		d.log.Error("cannot read which commit the previous process was rendering", "error", err)
	}
	if commit != "" {
		d.interrupted = commit
		d.log.Error("the previous process stopped while rendering a commit; it is not rendered again, push a new commit", "commit", commit)
	}
	results := make(chan reconciler.Result, 64)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.source.Run(ctx) })
	g.Go(func() error { return d.applier.Run(ctx, results) })
	g.Go(func() error {
		wake := time.NewTimer(time.Hour)
		defer wake.Stop()
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case rev := <-d.source.Revisions():
				d.follow(ctx, rev)
			case res := <-results:
				d.observe(res)
			case a := <-d.actions:
				a.done <- d.act(a)
			case rep := <-d.reports:
				for _, res := range fresh(rep, d.status.awaits) {
					d.observe(res)
				}
			case <-wake.C:
				d.advance()
			}
			d.publish()
			// A soak that ends or a deadline that passes moves the
			// rollout with nothing else happening.
			wake.Reset(time.Hour)
			if d.rollout != nil {
				if t := d.rollout.nextWake(d.now()); !t.IsZero() {
					wake.Reset(max(t.Sub(d.now()), 0))
				}
			}
		}
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// follow renders a new revision and hands it to the applier. A revision
// that does not render changes nothing on any cluster, and neither does the
// commit the previous process was rendering when it died, which is not
// rendered again. The source has logged the revision as new when it
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
	d.hub.setSites(res.Sites)
	log.Info("revision rendered", "targets", len(res.Targets), "duration", time.Since(began).Round(time.Millisecond))
	d.rollout = newRollout(res, rev.String(), d.current, d.now())
	d.release()
	d.advance()
}

// observe takes in a result of the applier or of a pull site's agent:
// status, metrics, and the rollout, which may release its next wave.
func (d *Daemon) observe(res reconciler.Result) {
	d.status.observe(res)
	d.metrics.observe(res)
	if d.rollout != nil {
		d.rollout.observe(res)
	}
	if !res.Finished.IsZero() {
		d.advance()
	}
}

// advance releases the next wave of the rollout once the waves before it
// are Ready.
func (d *Daemon) advance() {
	if d.rollout != nil && d.rollout.advance(d.now()) {
		d.release()
	}
}

// release hands the rollout's current targets to the applier.
func (d *Daemon) release() {
	targets := d.rollout.targets()
	d.current = targets
	for _, st := range d.rollout.status(d.now()) {
		d.log.Info("rollout released", "solution", st.Solution, "revision", st.Revision,
			"wave", st.Wave, "waves", st.Waves, "sites", fmt.Sprintf("%d of %d", st.Updated, st.Sites))
	}
	for _, k := range d.status.setTargets(targets) {
		d.metrics.forget(k)
	}
	d.applier.SetTargets(d.hub.split(targets))
}

func (d *Daemon) render(ctx context.Context, rev sources.Revision) (*renderer.Result, error) {
	fsys, err := d.trees.FS(rev.Commit)
	if err != nil {
		return nil, fmt.Errorf("read revision %s: %w", rev, err)
	}
	res, err := d.renderer.Render(ctx, fsys, renderer.Options{Timeout: d.renderTimeout})
	if err != nil {
		return nil, fmt.Errorf("render revision %s: %w", rev, err)
	}
	return res, nil
}

// publish makes what the loop knows now the status readers get.
func (d *Daemon) publish() {
	st := d.status.snapshot()
	if d.rollout != nil {
		st.Rollouts = d.rollout.status(d.now())
	}
	d.published.Store(&st)
}

// Status returns what the daemon knows now: the loop's latest status and
// the source's fetch state.
func (d *Daemon) Status() Status {
	st := *d.published.Load()
	st.Source = sourceStatus(d.source.Status(), d.source.Spec())
	st.Targets = slices.Clone(st.Targets)
	p, placed := d.applier.(Placer)
	if placed {
		st.Replica = p.Identity()
	}
	now := d.now()
	for i := range st.Targets {
		t := &st.Targets[i]
		if a := d.hub.agentStatus(t.Cluster); a != nil {
			t.Mode, t.Agent = string(renderer.ModePull), a
			t.fromAgent(now, d.agentTimeout)
			continue
		}
		if placed {
			shard, owner := p.Placement(t.Cluster)
			t.Shard, t.Owner = &shard, owner
		}
	}
	return st
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
