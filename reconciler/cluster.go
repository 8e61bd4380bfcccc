package reconciler

import (
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/reconciler/fieldset"
)

// cluster is a connection to one cluster with what passes over it learned
// while it lasts.
type cluster struct {
	*clusters.Conn
	// proofs spare the objects found in sync a dry-run on the next pass;
	// a new connection, to a cluster that may have changed, starts without.
	proofs fieldset.Proofs
	// watch follows the members of the cluster's ApplySets while Run keeps
	// the cluster; passed and target are what the last pass over it left,
	// for the next to skip the tiers the watch shows unchanged. Only the
	// cluster's keeper touches them.
	watch  *clusters.Watch
	passed map[Key]passed
	target *Target
}
