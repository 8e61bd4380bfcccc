// Package sources turns a Git remote into a stream of revisions and lets the
// renderer read any commit without a checkout.
//
// It is the first stage of tandem's pipeline:
//
//	sources ──Revision──▶ renderer ──Rendered──▶ reconciler
//
// A [Repository] keeps a local bare mirror of one remote in a cache
// directory. [Repository.Fetch] updates the mirror incrementally and resolves
// the [Spec]'s branch, tag or pinned commit to a [Revision]; a restarted
// daemon reuses the mirror and fetches only what it lacks.
// [Repository.FS] exposes the tree of any mirrored commit as a read-only
// [io/fs.FS], so two revisions can be rendered side by side for a diff.
// Symbolic links in the tree are reported with [io/fs.ModeSymlink] and their
// targets are readable through [io/fs.ReadLink].
//
// A [Poller] fetches on the spec's interval and whenever [Poller.Trigger] is
// called (by the webhook receiver in package
// github.com/tandem-gitops/tandem/sources/webhook), emits a revision only
// when the resolved commit changes, backs off while the remote fails, keeps
// the last good revision, and reports its state through [Poller.Status].
//
// [Repository.Push] sends a commit built in the mirror to the followed
// branch; package github.com/tandem-gitops/tandem/sources/gitwrite builds
// those commits from edited files and merges them with upstream edits.
//
// Logs use log/slog with the keys repo, ref and revision. Credentials are
// read from files or environment variables when needed and never logged;
// URLs are logged with their user information removed.
package sources
