package sources

import (
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// Revision identifies one commit of a source: what the renderer builds and
// what status and logs name.
type Revision struct {
	// URL of the remote, without credentials.
	URL string
	// Ref is the full ref name followed ("refs/heads/main",
	// "refs/tags/v1.2.0") or, for a pinned commit, the commit SHA.
	Ref string
	// Commit is the full SHA of the commit.
	Commit string
	// AuthorTime is when the commit was authored.
	AuthorTime time.Time
	// Subject is the first line of the commit message.
	Subject string
}

// String returns the ref and commit in Flux's notation,
// "refs/heads/main@sha1:0123abcd…", or just "sha1:…" for a pinned commit.
func (r Revision) String() string {
	if r.Ref == "" || r.Ref == r.Commit {
		return "sha1:" + r.Commit
	}
	return r.Ref + "@sha1:" + r.Commit
}

// IsZero reports whether r names no commit.
func (r Revision) IsZero() bool { return r.Commit == "" }

func newRevision(url, ref string, c *object.Commit) Revision {
	subject, _, _ := strings.Cut(strings.TrimLeft(c.Message, "\n"), "\n")
	return Revision{
		URL:        url,
		Ref:        ref,
		Commit:     c.Hash.String(),
		AuthorTime: c.Author.When,
		Subject:    strings.TrimSpace(subject),
	}
}
