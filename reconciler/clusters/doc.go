// Package clusters reaches the clusters a render names. A render says no
// more about a cluster than its name: a Resolver turns the name into
// credentials, from a kubeconfig context (KubeconfigResolver) or from the
// Secret labelled with it in the cluster tandem runs in (SecretResolver).
//
// Connect makes a Conn from those credentials: a client, a REST mapping
// discovered as kinds are first used, and an ssa resource manager that
// applies and dry-runs a few requests at a time. A Conn lists what tandem
// keeps on the cluster, ApplySet parents and their members, writes a
// parent, and waits for objects to become healthy on the events of a
// watch rather than by polling. A Watch follows the members of ApplySets
// with metadata-only watches and tells a change by hand from tandem's
// own writes by their managed fields. Watches live here, beside the connection they
// watch through, rather than in a package of their own: they are how
// tandem sees a cluster, as listing is. MadeFrom tells whether newly resolved
// credentials still fit a connection, and IsUnreachable tells a cluster
// that could not be reached from one that answered with an error.
package clusters
