package sources

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Revision identifies what the renderer builds and what status, logs, diff
// headings and ApplySet annotations name: one commit of a source or, for
// files read as they are on disk, a directory and the digest of its render.
type Revision struct {
	// URL of the remote, without credentials.
	URL string
	// Ref is the full ref name followed ("refs/heads/main",
	// "refs/tags/v1.2.0") or, for a pinned commit, the commit SHA.
	Ref string
	// Commit is the full SHA of the commit; empty for a directory.
	Commit string
	// AuthorTime is when the commit was authored.
	AuthorTime time.Time
	// Subject is the first line of the commit message.
	Subject string

	// Dir is the absolute path of a directory read as it is on disk, which
	// has no commit.
	Dir string
	// Digest stands in for a directory's commit, "sha256:<hex>": the
	// caller sets it to the digest of what the files render to, so that
	// two reads of the same content are the same revision and an edit is
	// a new one.
	Digest string

	// Given is what the user named: the revision as written ("origin/main",
	// "HEAD~1", a tag) or a directory's path as given. Short shows it.
	Given string
}

// String returns the revision's one name, recorded in status and ApplySet
// annotations: the ref and commit in Flux's notation,
// "refs/heads/main@sha1:0123abcd…", just "sha1:…" for a commit no ref
// names, "dir:/abs/path@sha256:…" for a directory, and "" for the zero
// Revision.
func (r Revision) String() string {
	switch {
	case r.Dir != "" && r.Digest != "":
		return "dir:" + r.Dir + "@" + r.Digest
	case r.Dir != "":
		return "dir:" + r.Dir
	case r.Commit == "":
		return ""
	case r.Ref == "" || r.Ref == r.Commit:
		return "sha1:" + r.Commit
	}
	return r.Ref + "@sha1:" + r.Commit
}

// Short names the revision for a heading, as the user named it, with its
// abbreviated commit: "origin/main (1a2b3c4)", "1a2b3c4" for a commit SHA,
// a directory's path as given.
func (r Revision) Short() string {
	if r.Commit == "" {
		if r.Given != "" {
			return r.Given
		}
		return r.Dir
	}
	short := r.Commit[:min(len(r.Commit), 7)]
	given := r.Given
	if given == "" && r.Ref != r.Commit {
		given = plumbing.ReferenceName(r.Ref).Short()
	}
	if given == "" || strings.HasPrefix(r.Commit, given) {
		return short
	}
	return fmt.Sprintf("%s (%s)", given, short)
}

// IsZero reports whether r names no commit and no directory.
func (r Revision) IsZero() bool { return r.Commit == "" && r.Dir == "" }

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

// CommitOf returns the commit a revision names, as String writes it
// ("main@sha1:<commit>", "sha1:<commit>"); false for a directory or
// anything else.
func CommitOf(revision string) (string, bool) {
	i := strings.LastIndex(revision, "sha1:")
	if i < 0 || strings.HasPrefix(revision, "dir:") {
		return "", false
	}
	commit := revision[i+len("sha1:"):]
	return commit, commitSHA.MatchString(commit)
}
