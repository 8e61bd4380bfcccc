package agent

import (
	"time"

	"github.com/tandem-gitops/tandem/reconciler"
)

// The hub's API for agents, served by "tandem serve" beside its status:
//
//	GET  /api/v1/sites/{site}/release  the site's Release
//	POST /api/v1/sites/{site}/status   the agent's Report
//
// Each request carries the site's token as a bearer token; a token reads
// and writes only its own site.
const (
	ReleasePath = "/api/v1/sites/%s/release"
	StatusPath  = "/api/v1/sites/%s/status"
)

// Release is what the hub's rollout has released to a pull-mode site: for
// each of the site's tiers, the revision it is to run. The agent renders
// those revisions itself and applies them only when what it renders has
// the release's digest.
type Release struct {
	Site    string `json:"site"`
	Cluster string `json:"cluster"`
	// Instance is the tandem instance that owns the site's ApplySets, the
	// hub's.
	Instance string `json:"instance"`
	// Tiers are the site's tiers and their revisions, sorted.
	Tiers []ReleasedTier `json:"tiers"`
	// AllowEmpty names the solutions that may render nothing for the
	// site, and so prune everything they have there.
	AllowEmpty []string `json:"allowEmpty,omitempty"`
	// Digest is reconciler.Digest of the site's target as the hub
	// rendered it, under Instance; empty while the rollout has released
	// nothing to the site, which then runs what it ran before, if
	// anything.
	Digest string `json:"digest,omitempty"`
}

// ReleasedTier is one tier of a release.
type ReleasedTier struct {
	Solution string `json:"solution"`
	Tier     string `json:"tier"`
	// Revision is the revision released, as the hub names it:
	// "main@sha1:<commit>".
	Revision string `json:"revision"`
}

// Released reports whether the rollout has released anything to the site.
// A release with no tiers is one: the site is to run nothing, and prunes
// what its solutions allow.
func (r Release) Released() bool { return r.Digest != "" }

// Report is what an agent tells the hub about its site.
type Report struct {
	// Version is the agent's tandem version.
	Version string `json:"version"`
	// Digest is the digest of the release the agent applies; empty
	// before its first.
	Digest string `json:"digest,omitempty"`
	// Refused says why the agent does not apply the hub's current
	// release, such as a render whose digest differs; empty when it
	// applies it.
	Refused string `json:"refused,omitempty"`
	// Results are the latest result of each of the site's tiers, as the
	// agent's reconciler reported them.
	Results []reconciler.Result `json:"results"`
	// Time is when the agent made the report; Offline, how long before
	// it the agent had not reached the hub, if it had not.
	Time    time.Time     `json:"time"`
	Offline time.Duration `json:"offline,omitempty"`
}
