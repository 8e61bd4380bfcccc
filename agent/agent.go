package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

// Repository is the agent's own mirror of the config repository;
// *sources.Repository is one.
type Repository interface {
	Fetch(ctx context.Context) (sources.Revision, error)
	FS(commit string) (fs.FS, error)
	Spec() sources.Spec
}

// Applier keeps the site's cluster at the target it was last given;
// *reconciler.Reconciler is one.
type Applier interface {
	Run(ctx context.Context, results chan<- reconciler.Result) error
	SetTargets(targets []reconciler.Target)
}

// Config holds what an Agent is wired from.
type Config struct {
	// Site is the pull-mode site the agent runs for.
	Site string
	Hub  *Client
	Repo Repository
	// Applier applies to the site's own cluster.
	Applier Applier
	// Store keeps the last release applied in the site's cluster.
	Store Store
	// Instance is the tandem instance the applier acts as, which must
	// be the hub's for their digests to agree.
	Instance string
	// Version is the agent's tandem version, reported to the hub.
	Version string
	Logger  *slog.Logger
	// PollInterval is how often the agent asks the hub for its release;
	// 10 seconds. ReportInterval is how often it reports when nothing
	// changed, so the hub knows it is there; 30 seconds.
	PollInterval   time.Duration
	ReportInterval time.Duration
	// RenderTimeout bounds one revision's render; 2 minutes.
	RenderTimeout time.Duration
}

// Agent keeps one pull-mode site at what the hub released to it. It asks
// the hub for the site's release, renders the released revisions from its
// own mirror with the same renderer as the hub, and applies them with the
// same reconciler only when what it rendered has the release's digest.
// Whatever the hub's state, it keeps the site at the last release it
// took, drift correction included, and reports the site's results when
// the hub can be reached. One goroutine, Run's loop, owns its state.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	renderer renderer.Renderer

	// current is the release applied, none before the first; stored
	// the digest of the one stored in the cluster.
	current Release
	stored  string
	// abandoned is set once the hub said the site is no pull-mode site.
	abandoned bool
	// refused is why the hub's latest release is not applied, and
	// refusedAt when it was last tried.
	refused    string
	refusedOf  string // the digest of the release refused
	refusedAt  time.Time
	latest     map[reconciler.Key]reconciler.Result
	unreported bool
	// offlineSince is when the hub stopped answering, zero once a report
	// reached it again; cutOff whether its latest request failed.
	offlineSince time.Time
	cutOff       bool
}

// retryRefused is how often a refused release is tried again when the
// hub still names it: a missing commit may since have been fetched.
const retryRefused = time.Minute

// New returns an Agent for cfg.
func New(cfg Config) *Agent {
	cfg.PollInterval = cmp.Or(cfg.PollInterval, 10*time.Second)
	cfg.ReportInterval = cmp.Or(cfg.ReportInterval, 30*time.Second)
	cfg.RenderTimeout = cmp.Or(cfg.RenderTimeout, 2*time.Minute)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Agent{cfg: cfg, log: cfg.Logger.With("site", cfg.Site), latest: map[reconciler.Key]reconciler.Result{}}
}

// Run keeps the site reconciled until ctx ends. It starts from the release
// stored in the cluster, if any, so that a restarted agent runs the right
// revision before it reaches the hub, or without it.
func (a *Agent) Run(ctx context.Context) error {
	results := make(chan reconciler.Result, 64)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.cfg.Applier.Run(ctx, results) })
	g.Go(func() error {
		a.restore(ctx)
		poll := time.NewTimer(0)
		defer poll.Stop()
		heartbeat := time.NewTicker(a.cfg.ReportInterval)
		defer heartbeat.Stop()
		// soon reports a burst of results at once, shortly after its
		// first.
		soon := time.NewTimer(time.Hour)
		soon.Stop()
		defer soon.Stop()
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-poll.C:
				a.poll(ctx)
				poll.Reset(a.cfg.PollInterval)
			case res := <-results:
				a.latest[res.Key] = res
				if !a.unreported {
					a.unreported = true
					soon.Reset(500 * time.Millisecond)
				}
			case <-soon.C:
				a.report(ctx)
			case <-heartbeat.C:
				a.report(ctx)
			}
		}
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// restore applies the release stored in the cluster.
func (a *Agent) restore(ctx context.Context) {
	rel, ok, err := a.cfg.Store.Load(ctx)
	switch {
	case err != nil:
		a.log.Error("cannot read the stored release; waiting for the hub's", "error", err)
		return
	case !ok:
		a.log.Info("no release stored in the cluster yet; waiting for the hub's")
		return
	}
	if err := a.take(ctx, rel); err != nil {
		a.log.Error("stored release not applied; waiting for the hub's", "digest", rel.Digest, "error", err)
		return
	}
	a.stored = rel.Digest
	a.log.Info("applying the stored release", "digest", rel.Digest, "revisions", revisions(rel))
}

// poll asks the hub for the site's release and takes it when it is new.
// A hub that does not answer changes nothing: the site keeps running, and
// drift is still corrected, at the release taken last.
func (a *Agent) poll(ctx context.Context) {
	rel, err := a.cfg.Hub.Release(ctx, a.cfg.Site)
	var refusal *StatusError
	switch {
	case errors.As(err, &refusal) && refusal.Code == http.StatusGone:
		a.reachable()
		a.abandon(ctx, refusal)
		return
	case err != nil:
		a.unreachable(err)
		return
	}
	if a.reachable() {
		a.report(ctx)
	}
	a.store(ctx)
	switch {
	case !rel.Released():
		return // nothing released to the site yet; what runs stays
	case rel.Digest == a.current.Digest && a.refused == "":
		return
	case rel.Digest == a.refusedOf && time.Since(a.refusedAt) < retryRefused:
		return
	}
	if err := a.take(ctx, rel); err != nil {
		a.refused, a.refusedOf, a.refusedAt = err.Error(), rel.Digest, time.Now()
		a.log.Error("release refused; the site keeps running what it ran", "digest", rel.Digest, "revisions", revisions(rel), "error", err)
		a.report(ctx)
		return
	}
	a.refused, a.refusedOf = "", ""
	a.log.Info("release taken", "digest", rel.Digest, "revisions", revisions(rel))
	a.store(ctx)
}

// store keeps the release applied in the cluster, when it is not yet.
func (a *Agent) store(ctx context.Context) {
	if !a.current.Released() || a.stored == a.current.Digest {
		return
	}
	if err := a.cfg.Store.Save(ctx, a.current); err != nil {
		a.log.Error("release applied but not stored, tried again on the next poll; a restart without the hub runs the one stored before", "error", err)
		return
	}
	a.stored = a.current.Digest
}

// abandon stops applying anything to the site once the hub says it is no
// pull-mode site, and forgets the stored release, so that a restarted
// agent does not apply it over what the hub may now push. The site's
// objects stay as they are.
func (a *Agent) abandon(ctx context.Context, gone error) {
	if a.abandoned {
		a.log.Debug("the site is still no pull-mode site of the hub's revision", "error", gone)
		return
	}
	a.log.Error("the hub says the site is no pull-mode site: the agent stops applying and forgets its stored release; the site's objects stay as they are", "error", gone)
	a.cfg.Applier.SetTargets(nil)
	a.current, a.refused, a.refusedOf = Release{}, "", ""
	if err := a.cfg.Store.Delete(ctx); err != nil {
		a.log.Error("cannot forget the stored release; a restart would apply it again", "error", err)
		return
	}
	a.stored, a.abandoned = "", true
}

// take renders rel, checks its digest and hands it to the applier.
func (a *Agent) take(ctx context.Context, rel Release) error {
	target, err := a.render(ctx, rel)
	if err != nil {
		return err
	}
	digest, err := reconciler.Digest(target, a.cfg.Instance)
	if err != nil {
		return err
	}
	if digest != rel.Digest {
		msg := fmt.Sprintf("the agent's render of %s for cluster %s has digest %s, the hub's %s: the two would disagree about what the site runs",
			revisions(rel), rel.Cluster, digest, rel.Digest)
		if rel.Instance != a.cfg.Instance {
			msg += fmt.Sprintf("; the agent acts as tandem instance %q and the hub as %q: follow the hub's repository and ref, or pass --instance %s",
				a.cfg.Instance, rel.Instance, rel.Instance)
		} else {
			msg += "; are the agent and the hub the same tandem version?"
		}
		return errors.New(msg)
	}
	a.current, a.abandoned = rel, false
	a.cfg.Applier.SetTargets([]reconciler.Target{target})
	return nil
}

// render renders the revisions of rel and returns the site's target: each
// released tier as its revision renders it for the site's cluster.
func (a *Agent) render(ctx context.Context, rel Release) (reconciler.Target, error) {
	target := reconciler.Target{Cluster: rel.Cluster, AllowEmpty: rel.AllowEmpty}
	byRevision := map[string][]ReleasedTier{}
	for _, t := range rel.Tiers {
		byRevision[t.Revision] = append(byRevision[t.Revision], t)
	}
	for _, revision := range slices.Sorted(maps.Keys(byRevision)) {
		fsys, err := a.tree(ctx, revision)
		if err != nil {
			return target, err
		}
		res, err := a.renderer.Render(ctx, fsys, renderer.Options{Timeout: a.cfg.RenderTimeout})
		if err != nil {
			return target, fmt.Errorf("render revision %s: %w", revision, err)
		}
		var rendered map[[2]string]reconciler.TierSet
		for _, t := range reconciler.TargetsFor(res, revision) {
			if t.Cluster == rel.Cluster {
				rendered = map[[2]string]reconciler.TierSet{}
				for _, ts := range t.Tiers {
					rendered[[2]string{ts.Solution, ts.Tier}] = ts
				}
			}
		}
		for _, t := range byRevision[revision] {
			ts, ok := rendered[[2]string{t.Solution, t.Tier}]
			if !ok {
				return target, fmt.Errorf("revision %s renders no tier %s of solution %s for cluster %s, which the hub released", revision, t.Tier, t.Solution, rel.Cluster)
			}
			target.Tiers = append(target.Tiers, ts)
		}
	}
	slices.SortFunc(target.Tiers, func(x, y reconciler.TierSet) int {
		return reconciler.KeyOf(rel.Cluster, x).Compare(reconciler.KeyOf(rel.Cluster, y))
	})
	return target, nil
}

// tree opens the commit a revision names in the agent's mirror, fetching
// first when the mirror does not have it yet.
func (a *Agent) tree(ctx context.Context, revision string) (fs.FS, error) {
	commit, ok := sources.CommitOf(revision)
	if !ok {
		return nil, fmt.Errorf("the hub released revision %q, which names no commit", revision)
	}
	if fsys, err := a.cfg.Repo.FS(commit); err == nil {
		return fsys, nil
	}
	if _, err := a.cfg.Repo.Fetch(ctx); err != nil {
		return nil, fmt.Errorf("fetch the config repository for revision %s: %w", revision, err)
	}
	fsys, err := a.cfg.Repo.FS(commit)
	if err != nil {
		spec := a.cfg.Repo.Spec()
		return nil, fmt.Errorf("revision %s: commit %s is not on %s of %s, which the agent follows: %w", revision, commit, spec.Ref, spec.URL, err)
	}
	return fsys, nil
}

// report sends the hub the latest result of every tier. A report that
// does not reach the hub is sent again, with what happened since, once
// the hub answers.
func (a *Agent) report(ctx context.Context) {
	rep := Report{Version: a.cfg.Version, Digest: a.current.Digest, Refused: a.refused, Time: time.Now()}
	if !a.offlineSince.IsZero() {
		rep.Offline = time.Since(a.offlineSince)
	}
	for _, k := range slices.SortedFunc(maps.Keys(a.latest), reconciler.Key.Compare) {
		rep.Results = append(rep.Results, a.latest[k])
	}
	if err := a.cfg.Hub.Report(ctx, a.cfg.Site, rep); err != nil {
		a.unreachable(err)
		return
	}
	a.reachable()
	a.unreported, a.offlineSince = false, time.Time{}
}

// unreachable notes that the hub did not answer, or refused the agent,
// logging it once.
func (a *Agent) unreachable(err error) {
	if !a.cutOff {
		a.cutOff = true
		if a.offlineSince.IsZero() {
			a.offlineSince = time.Now()
		}
		if refusal := (*StatusError)(nil); errors.As(err, &refusal) && refusal.Code/100 == 4 {
			a.log.Error("the hub refuses the agent's requests; the site keeps its release and drift is corrected", "error", err)
			return
		}
		a.log.Warn("the hub does not answer; the site keeps its release and drift is corrected", "error", err)
		return
	}
	a.log.Debug("the hub still does not answer", "error", err, "since", a.offlineSince)
}

// reachable notes that the hub answered, and reports whether it had not
// before. The time the agent was cut off runs until a report reaches the
// hub, which is told how long it was.
func (a *Agent) reachable() bool {
	if !a.cutOff {
		return false
	}
	a.cutOff = false
	a.log.Info("the hub answers again", "after", time.Since(a.offlineSince).Round(time.Millisecond))
	return true
}

// revisions names the revisions of a release.
func revisions(rel Release) []string {
	var out []string
	for _, t := range rel.Tiers {
		if !slices.Contains(out, t.Revision) {
			out = append(out, t.Revision)
		}
	}
	return out
}
