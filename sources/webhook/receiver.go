package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"

	"github.com/tandem-gitops/tandem/sources"
)

// DefaultMaxBodyBytes bounds a delivery's body when Options sets no limit.
// Push payloads listing many commits stay well below it.
const DefaultMaxBodyBytes = 4 << 20

// Target is a repository a Receiver can trigger; *sources.Poller is one.
type Target interface {
	// Spec says which repository and ref the target follows.
	Spec() sources.Spec
	// Trigger asks for a fetch now; it must not block.
	Trigger()
}

// Options configures a Receiver.
type Options struct {
	// Secret authenticates deliveries: the HMAC key for GitHub, Gitea,
	// Forgejo and generic senders, the token for GitLab. Required. Use one
	// Receiver, on its own path, per secret.
	Secret []byte
	// MaxBodyBytes bounds a delivery's body; DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
	// Logger receives one line per delivery; slog.Default() when nil.
	Logger *slog.Logger
}

// Receiver is an http.Handler that triggers the targets a push concerns.
type Receiver struct {
	secret  []byte
	maxBody int64
	log     *slog.Logger
	targets []target
}

// target is a Target with its repository key and ref precomputed.
type target struct {
	Target
	repo string
	ref  string // full ref name; empty for a pinned commit, which never moves
}

// NewReceiver returns a receiver triggering targets.
func NewReceiver(opts Options, targets ...Target) (*Receiver, error) {
	if len(opts.Secret) == 0 {
		return nil, errors.New("webhook receiver: a secret is required")
	}
	r := &Receiver{secret: opts.Secret, maxBody: opts.MaxBodyBytes, log: opts.Logger}
	if r.maxBody <= 0 {
		r.maxBody = DefaultMaxBodyBytes
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	for _, t := range targets {
		spec := t.Spec()
		key := repoKey(spec.URL)
		if key == "" {
			return nil, fmt.Errorf("webhook receiver: cannot identify the repository of URL %q", spec.URL)
		}
		tt := target{Target: t, repo: key}
		if spec.Ref.Commit == "" {
			tt.ref = spec.Ref.String()
		}
		r.targets = append(r.targets, tt)
	}
	return r, nil
}

// delivery is what a receiver learnt from one request and what it did
// about it: the request's one log line and its response.
type delivery struct {
	provider, event, id string
	repo, ref           string
	status              int
	// reason says why nothing was triggered; empty when a target was.
	reason    string
	triggered int
}

// ServeHTTP authenticates a delivery and triggers the targets following the
// pushed repository and ref. See the package documentation for responses.
// Every delivery is logged in exactly one line, before it is answered.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	d := r.handle(w, req)
	r.logDelivery(req.Context(), d, req.RemoteAddr)
	switch d.status {
	case http.StatusAccepted:
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, "triggered %d\n", d.triggered)
	case http.StatusOK:
		fmt.Fprintf(w, "ignored: %s\n", d.reason)
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
		fallthrough
	default:
		http.Error(w, d.reason, d.status)
	}
}

// handle authenticates and reads a delivery and triggers what it concerns.
// The body is parsed only once the delivery is authenticated.
func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) delivery {
	p, signed := detect(req.Header)
	d := delivery{provider: p.name, event: p.event(req.Header)}
	if p.deliveryHeader != "" {
		d.id = req.Header.Get(p.deliveryHeader)
	}
	answer := func(status int, reason string) delivery {
		d.status, d.reason = status, reason
		return d
	}
	if req.Method != http.MethodPost {
		return answer(http.StatusMethodNotAllowed, "only POST is accepted")
	}
	if !signed {
		return answer(http.StatusUnauthorized, "missing "+p.credential())
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.maxBody))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return answer(http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", r.maxBody))
		}
		return answer(http.StatusBadRequest, "cannot read body: "+err.Error())
	}
	if !p.verify(r.secret, body, req.Header.Get(p.header)) {
		return answer(http.StatusUnauthorized, "bad "+p.credential())
	}

	ev, perr := p.parse(body)
	d.repo, d.ref = ev.repo(), ev.ref
	if !p.isPush(d.event) {
		// Only named for the log: what is not a push never triggers.
		return answer(http.StatusOK, "not a push event")
	}
	if perr == nil {
		perr = p.check(ev)
	}
	if perr != nil {
		return answer(http.StatusBadRequest, "malformed push payload: "+perr.Error())
	}
	n, reason := r.trigger(ev)
	if n == 0 {
		return answer(http.StatusOK, reason)
	}
	d.status, d.triggered = http.StatusAccepted, n
	return d
}

// logDelivery writes a delivery's one line: at info when it was
// acknowledged, triggered or not; at warn when it was refused.
func (r *Receiver) logDelivery(ctx context.Context, d delivery, remote string) {
	attrs := []slog.Attr{
		slog.String("provider", d.provider),
		slog.String("event", d.event),
	}
	if d.id != "" {
		attrs = append(attrs, slog.String("delivery", d.id))
	}
	attrs = append(attrs,
		slog.String("repo", d.repo),
		slog.String("ref", d.ref),
		slog.Int("status", d.status),
	)
	level, msg := slog.LevelInfo, "webhook delivery ignored"
	switch {
	case d.status == http.StatusAccepted:
		msg = "push received; fetching now"
		attrs = append(attrs, slog.Int("targets", d.triggered))
	case d.status != http.StatusOK:
		level, msg = slog.LevelWarn, "webhook delivery refused"
		attrs = append(attrs, slog.String("reason", d.reason))
	default:
		attrs = append(attrs, slog.String("reason", d.reason))
	}
	attrs = append(attrs, slog.String("remote", remote))
	r.log.LogAttrs(ctx, level, msg, attrs...)
}

// trigger wakes every target following one of the push's repository URLs
// and its ref, and returns how many it woke, or why it woke none.
func (r *Receiver) trigger(ev push) (int, string) {
	keys := make([]string, 0, len(ev.repos))
	for _, u := range ev.repos {
		if k := repoKey(u); k != "" {
			keys = append(keys, k)
		}
	}
	n, sameRepo := 0, false
	for _, t := range r.targets {
		if !slices.Contains(keys, t.repo) {
			continue
		}
		sameRepo = true
		if t.ref == "" || (ev.ref != "" && ev.ref != t.ref) {
			continue
		}
		t.Trigger()
		n++
	}
	switch {
	case n > 0:
		return n, ""
	case sameRepo:
		return 0, "no target follows this ref"
	default:
		return 0, "no target follows this repository"
	}
}
