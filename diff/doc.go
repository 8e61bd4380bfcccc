// Package diff compares two renders of a config repository and says what the
// newer one changes on every cluster: the heart of "tandem diff", which shows
// a pull request's effect on every site before it merges, without access to
// any cluster, or, with --live, what a revision would change on the
// clusters as they are.
//
// It sits beside the reconciler at the end of tandem's pipeline:
//
//	sources ──two Revisions──▶ renderer ──two Results──▶ diff ──▶ text, Markdown, JSON
//
// Compare pairs the objects of the two renders by cluster, group, kind,
// namespace and name, and decides with a structural comparison (go-cmp,
// blind to key order and to null versus absent fields) which pairs changed.
// Its Report holds one Change per added, removed or changed object, with a
// unified diff of the object's YAML, and a summary in which the sites of a
// tier that change in exactly the same way form one Group, so that a change
// to a thousand sites reads as a handful of lines. Replica counts, container
// images and model versions are called out as Highlights. Secret values are
// compared in clear and shown masked, each as a short digest (MaskSecret), so
// a reviewer sees which keys changed and never a value.
//
// Live makes the same Report from the reconciler's plan of a head revision
// against the live clusters (reconciler.Reconciler.Plan): the objects a
// server-side dry-run apply says would be created, configured, pruned or
// orphaned, each with a diff of the live object and the server's answer.
//
// WriteText, WriteMarkdown and WriteJSON print a Report: for a terminal, for
// a pull-request comment (collapsible per cluster, capped in size) and for
// programs. The package does no I/O of its own beyond writing to the writer
// it is given.
package diff
