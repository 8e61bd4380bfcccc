// Package webhook receives push notifications from Git hosting services and
// triggers an immediate fetch of the repositories they concern, so a pushed
// commit reaches the clusters without waiting for the next poll.
//
// A [Receiver] is an [net/http.Handler] for GitHub (X-Hub-Signature-256),
// GitLab (X-Gitlab-Token), Gitea and Forgejo (X-Gitea-Signature,
// X-Forgejo-Signature), and any other sender that signs a small JSON body
// with X-Tandem-Signature-256 (see [GenericPayload]). Every delivery must be
// authenticated with the receiver's secret; checks are constant-time.
//
// Responses:
//
//	202 Accepted            a push matched at least one target, which was triggered
//	200 OK                  authenticated, but not a push to a watched repository and ref
//	400 Bad Request         the payload is not valid JSON of the expected shape
//	401 Unauthorized        the signature or token is missing or wrong
//	405 Method Not Allowed  not a POST
//	413 Content Too Large   the body exceeds Options.MaxBodyBytes
//
// Every delivery is logged in exactly one line, before it is answered, with
// the keys provider, event, delivery (the sender's delivery ID, when it
// sends one), repo, ref, status and remote, and either targets (how many
// were triggered) or reason (why none was). A delivery that triggers is
// logged at info as "push received; fetching now", one acknowledged
// without a trigger (a ping, another event, a push to a repository or ref
// no target follows) at info as "webhook delivery ignored", and a refused
// one at warn as "webhook delivery refused". A body is parsed only once
// the delivery is authenticated, so an unauthenticated one names no
// repository.
//
// Triggering only wakes a [github.com/tandem-gitops/tandem/sources.Poller]:
// what is fetched is decided by the poller's spec, never by the payload.
package webhook
