// Package applyset encodes what tandem records on a cluster as ApplySets
// (KEP-3659): the parent Secret of each (solution, tier) in tandem-system,
// its name and id, the labels that make objects its members, and the
// annotations that say which kinds and namespaces its members have, which
// tandem instance owns it, the revision last applied in full and the
// outcome of the last reconcile.
//
// A Record is a parent as a value: Read decodes one, and Object encodes
// one as the Secret to apply, so that what a parent says is computed in
// one place and written in one place. ReadRecords reads them back from a
// cluster, which is all "tandem status" needs.
package applyset
