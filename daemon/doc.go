// Package daemon is "tandem serve": the loop that takes each new revision of
// the config repository to every cluster, and the HTTP endpoints that show
// how far it got.
//
// The loop reads as the product's story. The sources.Poller fetches the
// repository and emits a revision when the followed ref moves (on its
// interval, or at once when the webhook receiver triggers it). The revision is
// rendered whole, straight from the commit's tree; a revision that does not
// render is reported with its file and field and applies nothing, so the last
// good revision stays in place. A rendered revision becomes the reconciler's
// targets, and reconciler.Reconciler applies, prunes, waits for health and
// corrects drift on every cluster, reporting each pass back here as status
// and metrics.
package daemon
