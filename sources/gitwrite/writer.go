package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/tandem-gitops/tandem/sources"
)

var commitSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// DefaultMaxAttempts bounds how often a Writer rebuilds and pushes a change
// when the branch keeps moving.
const DefaultMaxAttempts = 5

// Signature names the person or program behind a commit.
type Signature struct {
	Name, Email string
}

// Change is a set of file contents to commit on a branch.
//
// A change is applied file by file against the branch head, with Base the
// commit the caller read the files from:
//   - a file whose content at the head is the same as at Base (or that is
//     absent in both) gets its new content;
//   - a file whose content at the head already equals its new content is
//     left as it is;
//   - a file to delete is deleted when its content at the head is the same
//     as at Base, and left alone when the head no longer has it;
//   - a file changed upstream since Base is merged line by line, as git
//     merges: the change's edits and upstream's combine when they touch
//     different lines, so a new scale and a new model version in one
//     descriptor both land;
//   - when both changed the same or adjacent lines differently (the same
//     field), the file is not text, upstream deleted a file the change
//     edits or edited a file the change deletes, the change is refused
//     with a ConflictError and nothing is committed.
type Change struct {
	// Base is the commit SHA the caller read the files from, usually
	// Revision.Commit.
	Base string
	// Files maps slash-separated paths in the repository to their new
	// content. Missing directories are created.
	Files map[string][]byte
	// Deletes lists slash-separated paths of files to delete; a directory
	// left empty goes with its last file.
	Deletes []string
	// Author of the commit.
	Author Signature
	// Message of the commit: a subject line, optionally a blank line and a
	// body.
	Message string
}

// ConflictError reports files whose lines a Change edits were edited
// differently upstream since the change's base.
type ConflictError struct {
	// URL of the remote, without credentials, and the branch committed to.
	URL, Branch string
	// Paths are the conflicting files, sorted.
	Paths []string
	// Base is the change's base commit, Head the branch head it was
	// applied to.
	Base, Head string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("commit to branch %s of %s: %s changed upstream, in the same lines, between %.12s and %.12s; re-read and edit again",
		e.Branch, e.URL, strings.Join(e.Paths, ", "), e.Base, e.Head)
}

// WriterOptions configures a Writer.
type WriterOptions struct {
	// Committer of the commits; the change's author when empty.
	Committer Signature
	// MaxAttempts bounds the pushes of one change; DefaultMaxAttempts when
	// zero.
	MaxAttempts int
	// Logger receives commit and push logs, with the repository's repo and
	// ref; slog.Default() when nil.
	Logger *slog.Logger
}

// Writer commits changes to the branch of a Repository and pushes them.
type Writer struct {
	repo        *sources.Repository
	log         *slog.Logger
	committer   Signature
	maxAttempts int

	// beforePush, when set, runs between building a commit and pushing it.
	// Tests use it to move the branch at the worst moment.
	beforePush func()
}

// NewWriter returns a writer for repo, whose spec must follow a branch.
func NewWriter(repo *sources.Repository, opts WriterOptions) (*Writer, error) {
	ref := repo.Spec().Ref
	if ref.Branch == "" {
		return nil, fmt.Errorf("write to %s: ref %s is not a branch", repo.URL(), ref)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	w := &Writer{
		repo:        repo,
		log:         log.With("repo", repo.URL(), "ref", ref.String()),
		committer:   opts.Committer,
		maxAttempts: opts.MaxAttempts,
	}
	if w.maxAttempts <= 0 {
		w.maxAttempts = DefaultMaxAttempts
	}
	return w, nil
}

// Commit applies the change on top of the branch head as one commit and
// pushes it. When the push is rejected because the branch moved, it
// fetches, applies the change to the new head and pushes again, up to
// MaxAttempts times. It returns the revision of the pushed commit, or of the
// unchanged head when the head already has the change. A *ConflictError
// means the change was not committed; nothing pushed by others is ever
// overwritten.
//
// The mirror records the pushed commit: a Poller of the same Repository
// emits it on its next poll, or right away when triggered.
func (w *Writer) Commit(ctx context.Context, change Change) (sources.Revision, error) {
	r := w.repo
	branch := r.Spec().Ref.Branch
	if err := w.validate(change); err != nil {
		return sources.Revision{}, fmt.Errorf("commit to branch %s of %s: %w", branch, r.URL(), err)
	}
	var rejected error
	var rejectedHead string
	for attempt := 1; ; attempt++ {
		head, err := r.Fetch(ctx)
		if err != nil {
			return sources.Revision{}, fmt.Errorf("commit to branch %s: %w", branch, err)
		}
		if rejected != nil && head.Commit == rejectedHead {
			// The branch did not move: the push failed for another reason.
			return sources.Revision{}, rejected
		}
		commit, err := w.build(change, head.Commit)
		if err != nil {
			return sources.Revision{}, err
		}
		if commit.IsZero() {
			w.log.Info("change already on the branch; nothing to commit", "revision", head.String())
			return head, nil
		}
		if w.beforePush != nil {
			w.beforePush()
		}
		rev, err := r.Push(ctx, commit.String())
		if err == nil {
			w.log.Info("pushed commit", "revision", rev.String(), "subject", rev.Subject, "attempt", attempt)
			return rev, nil
		}
		if ctx.Err() != nil || attempt == w.maxAttempts {
			return sources.Revision{}, fmt.Errorf("commit to branch %s of %s: push rejected %d times, last: %w", branch, r.URL(), attempt, err)
		}
		w.log.Info("push rejected; applying the change again on the new head", "revision", head.String(), "attempt", attempt, "error", err)
		rejected = fmt.Errorf("push to branch %s of %s: %w", branch, r.URL(), err)
		rejectedHead = head.Commit
	}
}

func (w *Writer) validate(c Change) error {
	if !commitSHA.MatchString(c.Base) {
		return fmt.Errorf("base %q is not a full commit SHA", c.Base)
	}
	if len(c.Files) == 0 && len(c.Deletes) == 0 {
		return errors.New("change has no files")
	}
	for name := range c.Files {
		if !validPath(name) {
			return fmt.Errorf("invalid file path %q", name)
		}
	}
	for _, name := range c.Deletes {
		if !validPath(name) {
			return fmt.Errorf("invalid file path %q to delete", name)
		}
		if _, ok := c.Files[name]; ok {
			return fmt.Errorf("file %q is both written and deleted", name)
		}
	}
	if c.Author.Name == "" || c.Author.Email == "" {
		return errors.New("author name and email must be set")
	}
	if strings.TrimSpace(c.Message) == "" {
		return errors.New("commit message must not be empty")
	}
	return nil
}

func validPath(name string) bool {
	return fs.ValidPath(name) && name != "." && name != ".git" && !strings.HasPrefix(name, ".git/")
}

func (w *Writer) signatures(c Change) (author, committer Signature, when time.Time) {
	committer = w.committer
	if committer.Name == "" {
		committer = c.Author
	}
	return c.Author, committer, time.Now()
}
