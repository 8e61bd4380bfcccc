// Package reconciler applies rendered tiers to clusters: the last step of
// tandem's pipeline.
//
// For every target cluster it server-side applies each tier's objects with
// github.com/fluxcd/pkg/ssa under the field manager "tandem", staged so that
// CustomResourceDefinitions, Namespaces and cluster-wide RBAC come first. It
// records what it applied as an ApplySet (KEP-3659): a parent Secret per
// (solution, tier) in the namespace tandem-system, and the label
// applyset.kubernetes.io/part-of on every member. Pruning is a label-selected
// list per group-kind of the parent, so only objects carrying that label are
// ever deleted, and a restarted daemon knows what it owns. An object moving
// to another tier or solution of the cluster is never pruned on its way:
// its new owner's apply takes it over. A target is all a cluster runs, so
// the ApplySets of a solution the target leaves out are an empty render of
// it, pruned only when the solution allows one (see Target).
//
// A pass over an unchanged site reads one list per group-kind and writes
// nothing: live members are compared with the desired objects through the
// fields the field manager owns, and only objects that differ go through
// ssa's dry-run and apply. An object the server stores otherwise than it is
// written (a Secret's stringData) needs that dry-run once: the connection
// remembers it found the object in sync until the object or what is desired
// of it changes. Health comes from kstatus, first on the listed objects and
// then, for what is not yet current, on the events of a watch of them until
// a timeout; waiting holds none of the slots that bound how many clusters
// are read and written at once, and a newer target for the cluster ends
// the wait.
//
// Run keeps a metadata-only watch of every cluster's ApplySet members
// (clusters.Watch), started by the first pass that lists them and stopped
// when the cluster leaves the targets or its connection is dropped. A
// change by someone else sets off a pass of the tiers it touched within
// moments, gathered over a short debounce and backed off for an object
// changed back after every correction; tandem's own writes set off none.
// A pass over a tier its watch shows unchanged since its last Ready pass
// makes no request and sends no result. Every DriftInterval a full
// re-check passes over every tier, whatever the watch says.
//
// Each parent records the tandem instance that owns it: a Reconciler
// passes over its own parents alone, refuses a (solution, tier) another
// instance owns, prunes only members its field manager applied in the
// namespaces the parent records, and takes over an existing object tandem
// did not create only when the tier or the object allows adoption.
//
// Plan takes the same path without writing: objects in sync are unchanged,
// the others go through a server-side dry-run apply, and stale members are
// planned as pruned. It answers with a Plan per (cluster, solution, tier),
// which "tandem diff --live" prints.
//
// Every pass answers with a Result per (cluster, solution, tier), built on
// ssa's ChangeSet, which logs, status, metrics and "tandem apply" all print.
//
// Three concepts live in packages of their own: reconciler/applyset
// encodes ApplySet parents and their records, reconciler/fieldset compares
// objects through their managed fields and finds drift, and
// reconciler/clusters resolves a cluster's name to its credentials and
// connects to it.
package reconciler
