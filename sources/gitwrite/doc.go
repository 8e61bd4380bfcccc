// Package gitwrite commits edits of a configuration repository and pushes
// them: how a person's change made outside Git (a scale set in the web
// console) becomes a revision that tandem then follows like any other.
//
// A [Writer] commits a [Change] (a set of file contents) on top of the head
// of the branch a [sources.Repository] follows and pushes it, retrying when
// the branch moved underneath it. Upstream edits made since the commit the
// change was based on are merged line by line; an edit of the same lines is
// a [ConflictError], never a lost commit. The commit is built in the
// repository's mirror, so a [sources.Poller] of the same repository emits it
// without fetching it again.
package gitwrite
