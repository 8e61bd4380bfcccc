package sources

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// DefaultInterval is how often a [Poller] fetches when the spec names no
// interval.
const DefaultInterval = time.Minute

// DefaultTimeout bounds one fetch or push when the spec names no timeout.
const DefaultTimeout = time.Minute

// Spec describes a Git remote and the ref tandem follows in it.
type Spec struct {
	// URL of the remote: https://, http://, ssh://, scp-like
	// user@host:path, or file://.
	URL string
	// Ref selects the branch, tag or commit to follow.
	Ref Ref
	// Interval between polls; DefaultInterval when zero.
	Interval time.Duration
	// Timeout bounds one fetch or push; DefaultTimeout when zero.
	Timeout time.Duration
	// Auth holds where the credentials are, never the credentials.
	Auth Auth
	// CAFile is a PEM bundle of certificate authorities an https remote's
	// certificate may chain to, in addition to the system's; for Git servers
	// with a private CA, common on premises.
	CAFile string
}

// Ref selects what to follow in a repository. Exactly one field is set.
type Ref struct {
	// Branch follows the head of a branch, e.g. "main".
	Branch string
	// Tag follows a tag, e.g. "v1.2.0"; a moved tag is a new revision.
	Tag string
	// Commit pins a full 40-character commit SHA.
	Commit string
}

var commitSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// String returns the full ref name ("refs/heads/main", "refs/tags/v1") or,
// for a pinned commit, its SHA.
func (r Ref) String() string {
	switch {
	case r.Branch != "":
		return plumbing.NewBranchReferenceName(r.Branch).String()
	case r.Tag != "":
		return plumbing.NewTagReferenceName(r.Tag).String()
	default:
		return r.Commit
	}
}

func (r Ref) validate() error {
	set := 0
	for _, v := range []string{r.Branch, r.Tag, r.Commit} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return errors.New("ref: exactly one of branch, tag or commit must be set")
	}
	if r.Commit != "" && !commitSHA.MatchString(r.Commit) {
		return fmt.Errorf("ref: commit %q is not a full lower-case 40-character SHA", r.Commit)
	}
	if r.Commit == "" {
		if err := plumbing.ReferenceName(r.String()).Validate(); err != nil {
			return fmt.Errorf("ref %s: %w", r, err)
		}
	}
	return nil
}

// Validate reports the first problem with the spec, naming the field.
func (s Spec) Validate() error {
	if s.URL == "" {
		return errors.New("url: must be set")
	}
	if embedsPassword(s.URL) {
		return fmt.Errorf("repository %s: url: must not embed credentials; use auth.passwordFile or auth.passwordEnv", redactURL(s.URL))
	}
	if err := s.Ref.validate(); err != nil {
		return fmt.Errorf("repository %s: %w", redactURL(s.URL), err)
	}
	if s.Interval < 0 || s.Timeout < 0 {
		return fmt.Errorf("repository %s: interval and timeout must not be negative", redactURL(s.URL))
	}
	if s.CAFile != "" && !strings.HasPrefix(s.URL, "https://") {
		return fmt.Errorf("repository %s: caFile applies only to https remotes", redactURL(s.URL))
	}
	if err := s.Auth.validate(s.URL); err != nil {
		return fmt.Errorf("repository %s: %w", redactURL(s.URL), err)
	}
	return nil
}

// caBundle reads CAFile, if set.
func (s Spec) caBundle() ([]byte, error) {
	if s.CAFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	return b, nil
}

func (s Spec) interval() time.Duration {
	if s.Interval == 0 {
		return DefaultInterval
	}
	return s.Interval
}

func (s Spec) timeout() time.Duration {
	if s.Timeout == 0 {
		return DefaultTimeout
	}
	return s.Timeout
}

// redactURL removes user information from http(s) URLs, where a token may
// stand in for the user name, so the URL can be logged. Other URLs carry at
// most a user name (Validate refuses embedded passwords).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		u.User = nil
	}
	return u.Redacted()
}

// embedsPassword reports whether a URL carries a password.
func embedsPassword(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return false
	}
	_, set := u.User.Password()
	return set || ((u.Scheme == "http" || u.Scheme == "https") && u.User.Username() != "")
}

// ParseRef reads a ref as a person writes it: refs/tags/NAME is a tag, a
// full 40-character commit SHA pins that commit, and anything else, with or
// without refs/heads/, is a branch.
func ParseRef(ref string) (Ref, error) {
	switch {
	case ref == "":
		return Ref{}, errors.New("empty ref: want a branch, refs/tags/NAME or a commit SHA")
	case strings.HasPrefix(ref, "refs/tags/"):
		return Ref{Tag: strings.TrimPrefix(ref, "refs/tags/")}, nil
	case commitSHA.MatchString(ref):
		return Ref{Commit: ref}, nil
	case strings.HasPrefix(ref, "refs/") && !strings.HasPrefix(ref, "refs/heads/"):
		return Ref{}, fmt.Errorf("ref %q: want a branch, refs/tags/NAME or a commit SHA", ref)
	default:
		return Ref{Branch: strings.TrimPrefix(ref, "refs/heads/")}, nil
	}
}
