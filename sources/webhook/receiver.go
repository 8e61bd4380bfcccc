package webhook

import (
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

// ServeHTTP authenticates a delivery and triggers the targets following the
// pushed repository and ref. See the package documentation for responses.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "only POST is accepted", http.StatusMethodNotAllowed)
		return
	}
	p, ok := detect(req.Header)
	if !ok {
		r.log.Warn("webhook delivery without a signature", "remote", req.RemoteAddr)
		http.Error(w, "missing signature", http.StatusUnauthorized)
		return
	}
	log := r.log.With("provider", p.name, "remote", req.RemoteAddr)
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.maxBody))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			log.Warn("webhook delivery too large", "limit", r.maxBody)
			http.Error(w, fmt.Sprintf("body exceeds %d bytes", r.maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if !p.verify(r.secret, body, req.Header.Get(p.header)) {
		log.Warn("webhook delivery with a bad signature")
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if p.eventHeader != "" {
		if event := req.Header.Get(p.eventHeader); !slices.Contains(p.pushEvents, event) {
			log.Debug("ignoring webhook event", "event", event)
			fmt.Fprintf(w, "ignored: %q is not a push event\n", event)
			return
		}
	}
	ev, err := p.parse(body)
	if err != nil {
		log.Warn("malformed webhook payload", "error", err)
		http.Error(w, "malformed push payload: "+err.Error(), http.StatusBadRequest)
		return
	}

	triggered := r.trigger(ev)
	log = log.With("repo", ev.repo(), "ref", ev.ref)
	if triggered == 0 {
		log.Debug("ignoring push to an unwatched repository or ref")
		fmt.Fprintln(w, "ignored: no target follows this repository and ref")
		return
	}
	log.Info("push received; fetching now", "targets", triggered)
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "triggered %d\n", triggered)
}

// trigger wakes every target following one of the push's repository URLs
// and its ref, and returns how many it woke.
func (r *Receiver) trigger(ev push) int {
	keys := make([]string, 0, len(ev.repos))
	for _, u := range ev.repos {
		if k := repoKey(u); k != "" {
			keys = append(keys, k)
		}
	}
	n := 0
	for _, t := range r.targets {
		if t.ref == "" || !slices.Contains(keys, t.repo) || (ev.ref != "" && ev.ref != t.ref) {
			continue
		}
		t.Trigger()
		n++
	}
	return n
}
