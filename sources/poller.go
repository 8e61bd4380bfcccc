package sources

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Default backoff after failed fetches; see PollerOptions.
const (
	DefaultMinBackoff = 2 * time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// PollerOptions configures a Poller.
type PollerOptions struct {
	// MinBackoff is the wait after the first failed fetch; it doubles with
	// each consecutive failure up to MaxBackoff. Defaults to
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// Status is what a Poller knows about its source, and since when.
type Status struct {
	// Revision is the last good revision: the last one fetched, or the
	// mirror's when the remote has been unreachable since start. Zero when
	// there is none.
	Revision Revision
	// Rewritten reports that Revision does not descend from the revision
	// before it: history was rewritten by a force-push, or a tag moved.
	Rewritten bool
	// LastAttempt and LastSuccess are when the last fetch started and when
	// the last successful one ended.
	LastAttempt, LastSuccess time.Time
	// LastError is the last fetch's error, nil when it succeeded.
	LastError error
	// ConsecutiveFailures counts failed fetches since the last success.
	ConsecutiveFailures int
	// NextAttempt is when the next fetch is due, unless triggered earlier.
	NextAttempt time.Time
}

// Poller fetches a repository on its spec's interval and when triggered, and
// emits a revision whenever the resolved commit changes.
type Poller struct {
	repo       *Repository
	minBackoff time.Duration
	maxBackoff time.Duration

	trigger   chan struct{} // capacity 1: triggers coalesce
	revisions chan Revision // capacity 1: an unread revision is replaced by a newer one

	mu     sync.Mutex
	status Status
}

// NewPoller returns a poller for repo. Call Run to start it.
func NewPoller(repo *Repository, opts PollerOptions) *Poller {
	p := &Poller{
		repo:       repo,
		minBackoff: opts.MinBackoff,
		maxBackoff: opts.MaxBackoff,
		trigger:    make(chan struct{}, 1),
		revisions:  make(chan Revision, 1),
	}
	if p.minBackoff <= 0 {
		p.minBackoff = DefaultMinBackoff
	}
	if p.maxBackoff <= 0 {
		p.maxBackoff = DefaultMaxBackoff
	}
	return p
}

// Spec returns the spec of the polled repository.
func (p *Poller) Spec() Spec { return p.repo.Spec() }

// Revisions delivers each new revision. A consumer that falls behind
// receives only the latest: revisions it had not read yet are dropped.
func (p *Poller) Revisions() <-chan Revision { return p.revisions }

// Trigger asks for a fetch now, even during a backoff. It never blocks;
// triggers arriving during a fetch cause one more fetch after it.
func (p *Poller) Trigger() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Status returns a snapshot of what the poller knows.
func (p *Poller) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// Run fetches immediately, then on the spec's interval, after a backoff
// when fetches fail, and whenever triggered, until ctx is done. It starts no
// goroutines and returns ctx's error. Call it once.
func (p *Poller) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-p.trigger:
			timer.Stop()
		}
		next := p.poll(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		timer.Reset(next)
	}
}

// poll fetches once, records the outcome, emits a changed revision, and
// returns how long to wait before the next fetch. The mirror is read before
// the status lock is taken, so Status never waits for a history walk.
func (p *Poller) poll(ctx context.Context) time.Duration {
	start := time.Now()
	rev, err := p.repo.Fetch(ctx)
	if err != nil && ctx.Err() != nil {
		return 0 // stopping: not a failure of the remote
	}
	p.mu.Lock()
	previous, failures := p.status.Revision, p.status.ConsecutiveFailures
	p.mu.Unlock()
	log := p.repo.log

	if err != nil {
		failures++
		wait := backoff(failures, p.minBackoff, p.maxBackoff)
		var mirrored Revision
		if previous.IsZero() {
			// Remote unreachable since start: serve what the mirror has.
			if m, rerr := p.repo.Resolve(); rerr == nil {
				mirrored = m
				log.Warn("using the mirrored revision until the remote answers", "revision", m.String(), "error", err)
			}
		}
		p.mu.Lock()
		st := &p.status
		st.LastAttempt, st.LastError, st.ConsecutiveFailures = start, err, failures
		st.NextAttempt = time.Now().Add(wait)
		if !mirrored.IsZero() {
			st.Revision = mirrored
		}
		kept := st.Revision
		p.mu.Unlock()
		if !mirrored.IsZero() {
			p.emit(mirrored)
		}
		msg := "fetch failed; keeping the last good revision"
		if errors.Is(err, ErrRefNotFound) {
			msg = "ref no longer exists on the remote; keeping the last good revision"
		}
		log.Error(msg, "revision", kept.String(), "failures", failures, "retryIn", wait, "error", err)
		return wait
	}

	changed := rev.Commit != previous.Commit
	rewritten := false
	if changed && !previous.IsZero() {
		descends, aerr := p.repo.isAncestor(previous.Commit, rev.Commit)
		if aerr != nil {
			log.Warn("cannot tell whether history was rewritten", "revision", rev.String(), "error", aerr)
		}
		rewritten = aerr == nil && !descends
	}
	wait := p.repo.spec.interval()
	p.mu.Lock()
	st := &p.status
	st.LastAttempt, st.LastSuccess, st.LastError, st.ConsecutiveFailures = start, time.Now(), nil, 0
	st.NextAttempt = time.Now().Add(wait)
	if changed {
		st.Revision, st.Rewritten = rev, rewritten
	}
	p.mu.Unlock()
	if !changed {
		return wait
	}
	if rewritten {
		log.Warn("history rewritten: the new revision does not descend from the previous one",
			"revision", rev.String(), "previous", previous.Commit)
	} else {
		log.Info("new revision", "revision", rev.String(), "subject", rev.Subject)
	}
	p.emit(rev)
	return wait
}

// emit delivers rev, replacing an unread older revision. Only poll calls
// it, so after the drain the send cannot block.
func (p *Poller) emit(rev Revision) {
	select {
	case <-p.revisions:
	default:
	}
	p.revisions <- rev
}

// backoff returns the wait after the given number of consecutive failures:
// first, doubling with each failure up to limit, with ±10% jitter so that
// many pollers of one remote spread out.
func backoff(failures int, first, limit time.Duration) time.Duration {
	d := first
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return time.Duration(float64(min(d, limit)) * (0.9 + 0.2*rand.Float64()))
}
