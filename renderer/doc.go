// Package renderer turns a revision of a config repository into the
// manifests of every target cluster. It sits between sources, which exposes
// a commit's tree as an fs.FS, and reconciler, which applies what it
// renders.
//
// A render reads the repository's descriptors (Solution and Site, apiVersion
// tandem.dev/v1alpha1) strictly, validates them, and reports every problem
// with its file, line and field. It then builds each tier's kustomize
// directory once with krusty, through a read-only view of the fs.FS that
// never leaves the repository, and derives every site from that build:
// the replicas linked scaling computes (package scaling), and the labels
// tandem.dev/solution, tandem.dev/tier and tandem.dev/site. A site with its
// own overlay gets a build of its own, shared with the sites that use the
// same overlay. Each build's objects are placed in the namespaces they are
// applied in, once: the tier's namespace for namespaced objects without
// one, none for cluster-scoped objects, with scopes known from kustomize's
// OpenAPI data and the revision's CRDs. An object left without a namespace,
// or one writing to what tandem reserves (ReservedNamespace), is an error.
//
// A render is deterministic: the same revision gives byte-identical output.
// It is also all or nothing: on any error Render returns no result.
package renderer
