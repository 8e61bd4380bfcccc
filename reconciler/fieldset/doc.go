// Package fieldset compares desired objects with live ones through the
// managed fields of server-side apply, without talking to a cluster.
//
// InSync decides from a list alone whether an apply would change an
// object: what tandem's field manager owns is exactly what the render
// sets, with the same values. Proofs remember the objects a dry-run found
// in sync that a list cannot prove so, until they change. Added finds the
// fields other field managers added to an object, which a pass removes as
// drift or reports.
package fieldset
