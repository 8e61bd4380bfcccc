package renderer

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tandem-gitops/tandem/renderer/maintenance"
	"github.com/tandem-gitops/tandem/renderer/scaling"
)

// APIVersion is the apiVersion of every tandem descriptor.
const APIVersion = "tandem.dev/v1alpha1"

// Descriptor kinds.
const (
	KindSolution = "Solution"
	KindSite     = "Site"
)

// Solution declares one IoT solution: its tiers of kustomize directories,
// where each tier runs, how replicas follow the business scale factor, the
// ML models it serves and how changes roll out across sites.
type Solution struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              SolutionSpec `json:"spec"`

	// File is the repository path the descriptor was read from.
	File   string `json:"-"`
	pos    positions
	policy []*policyRule // Spec.Policy's rules and baseline, compiled
	waves  []*selector   // Spec.Rollout.Waves' selectors, compiled
}

// SolutionSpec is the body of a Solution.
type SolutionSpec struct {
	// Scale is the business scale factor (≥ 0). Cloud replicas follow it
	// directly, edge replicas through the cloud workloads they link to.
	Scale float64 `json:"scale"`
	// AllowEmpty lets a revision take a site from some objects to none.
	// Without it the reconciler refuses such a revision, which is far more
	// often a broken selector or path than an intended teardown.
	AllowEmpty bool `json:"allowEmpty,omitempty"`
	// Tiers are the layers of the solution, each a kustomize directory
	// deployed to named clusters or to every matching site.
	Tiers []Tier `json:"tiers"`
	// Models are the ML models the solution's workloads serve.
	Models []Model `json:"models,omitempty"`
	// ModelFetchImage is the image of the init containers that download
	// models given by URI; it must run tandem as "tandem" on its PATH
	// (default DefaultModelFetchImage).
	ModelFetchImage string `json:"modelFetchImage,omitempty"`
	// Rollout orders how a change reaches the sites.
	Rollout Rollout `json:"rollout,omitempty"`
	// Policy is what the solution's rendered objects must satisfy and
	// where its sites may run.
	Policy SolutionPolicy `json:"policy,omitempty"`
}

// Tier is one layer of a solution.
type Tier struct {
	// Name identifies the tier within the solution.
	Name string `json:"name"`
	// Path is the tier's kustomize directory, relative to the repository root.
	Path string `json:"path"`
	// DependsOn names tiers that must be applied and healthy on a cluster
	// before this tier is applied there.
	DependsOn []string `json:"dependsOn,omitempty"`
	// Targets says where the tier runs.
	Targets Targets `json:"targets"`
	// Replicas set the replica counts of the tier's workloads.
	Replicas []ReplicaRule `json:"replicas,omitempty"`
	// Namespace is given to every namespaced object of the tier that has
	// none, as kustomize's namespace field does for objects without one.
	Namespace string `json:"namespace,omitempty"`
	// Adopt lets the tier take over objects that exist on a cluster but
	// were not created by tandem. Without it such an object is a conflict.
	Adopt bool `json:"adopt,omitempty"`
	// Health says whether and how long to wait for the tier's objects to
	// become healthy after they are applied.
	Health Health `json:"health,omitempty"`
	// Drift says what a pass does with fields that other field managers
	// added to the tier's objects on a cluster: DriftCorrect (the
	// default) removes them, DriftReport only reports them.
	Drift DriftMode `json:"drift,omitempty"`

	dir   string    // Path, resolved inside the repository
	sites *selector // Targets.Sites, compiled
}

// DriftMode says whether fields added by hand are removed or reported.
type DriftMode string

const (
	// DriftCorrect removes fields other field managers added.
	DriftCorrect DriftMode = "correct"
	// DriftReport leaves them in place and reports them.
	DriftReport DriftMode = "report"
)

// Health says how a tier is waited for after it is applied.
type Health struct {
	// Wait is whether a pass waits for the tier's objects to become
	// healthy (default true). With false, applied is done.
	Wait *bool `json:"wait,omitempty"`
	// Timeout bounds the wait (default: the reconciler's health timeout).
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// Waits reports whether a pass waits for health.
func (h Health) Waits() bool { return h.Wait == nil || *h.Wait }

// Targets selects where a tier runs: exactly one of Clusters and Sites.
type Targets struct {
	// Clusters names clusters the tier is deployed to once each.
	Clusters []string `json:"clusters,omitempty"`
	// Sites selects, by label, the sites the tier is deployed to; the tier
	// is rendered once per site, onto the site's cluster.
	Sites *metav1.LabelSelector `json:"sites,omitempty"`
}

// PerSite reports whether the tier is rendered once per site.
func (t *Targets) PerSite() bool { return t.Sites != nil }

// ReplicaRule sets the replicas of one workload of a tier by linked
// scaling, or by a CEL expression; see package scaling for the formula.
type ReplicaRule struct {
	// Workload is the name of a Deployment, StatefulSet, ReplicaSet or
	// ReplicationController the tier renders.
	Workload string `json:"workload"`
	// PerScale is the replicas per unit of the solution's scale.
	PerScale float64 `json:"perScale,omitempty"`
	// LinkedTo names the workload this one follows, as "tier/workload".
	LinkedTo string `json:"linkedTo,omitempty"`
	// Ratio is the replicas per replica of the linked workload (per unit
	// of site weight when a site tier follows a cluster tier).
	Ratio float64 `json:"ratio,omitempty"`
	// Expr is a CEL expression giving the replicas, instead of PerScale
	// or LinkedTo; see scaling.Expr and scaling.Site for what it reads.
	Expr string `json:"expr,omitempty"`
	// Min is the fewest replicas the rule gives (default 0).
	Min int32 `json:"min,omitempty"`
	// Max is the most replicas the rule gives (default unbounded).
	Max *int32 `json:"max,omitempty"`

	expr *scaling.Expr // Expr, compiled by Load
}

// Model is one ML model served by a workload. The renderer delivers it to
// the workload's pods in one of two ways, chosen by its fields: Image mounts
// an OCI image or artifact holding the model as a read-only image volume;
// URI and SHA256 add an init container that downloads the model into an
// emptyDir and verifies it. Either way the serving containers find it at
// MountPath, told by MODEL_<NAME>_PATH and MODEL_<NAME>_VERSION, and the
// model's annotations on the pod template roll the pods on a change.
type Model struct {
	// Name identifies the model within the solution.
	Name string `json:"name"`
	// Version is the model's version; quote it in YAML ("1.10", not 1.10).
	Version string `json:"version"`
	// Image is the OCI image or artifact holding the model, pinned by
	// digest: REGISTRY/REPO@sha256:DIGEST. Exclusive with URI.
	Image string `json:"image,omitempty"`
	// AllowTag accepts an Image with a tag and no digest, which the pods
	// resolve when they pull it rather than when the commit is made.
	AllowTag bool `json:"allowTag,omitempty"`
	// URI is the http or https address the model is downloaded from.
	// Exclusive with Image; requires SHA256.
	URI string `json:"uri,omitempty"`
	// SHA256 is the hex digest the downloaded model must have.
	SHA256 string `json:"sha256,omitempty"`
	// Tier and Workload name the workload that serves the model.
	Tier     string `json:"tier"`
	Workload string `json:"workload"`
	// Containers names the workload's containers that serve the model
	// (default: all of them).
	Containers []string `json:"containers,omitempty"`
	// MountPath is the directory the serving containers find the model in
	// (default /models/<name>).
	MountPath string `json:"mountPath,omitempty"`
}

// Rollout orders how a change reaches the sites.
type Rollout struct {
	// Waves select sites by label. A change reaches the sites of a wave
	// only after every site of the previous waves is healthy; a site is in
	// the first wave that selects it, and sites no wave selects come last.
	// No waves means one wave of every site.
	Waves []Wave `json:"waves,omitempty"`
	// WavePolicy is every wave's default policy.
	WavePolicy `json:",inline"`
}

// Site declares one edge site: the cluster that runs it, its capacity and
// an optional overlay of site-specific changes. Solutions select sites by
// their labels.
type Site struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              SiteSpec `json:"spec"`

	// File is the repository path the descriptor was read from.
	File    string `json:"-"`
	pos     positions
	windows maintenance.Schedule // Spec.Windows, compiled
}

// SiteSpec is the body of a Site.
type SiteSpec struct {
	// Cluster is the name of the site's cluster (default: the site's name).
	// Credentials are resolved by this name outside Git.
	Cluster string `json:"cluster,omitempty"`
	// Weight is the site's capacity relative to other sites (default 1, > 0);
	// linked edge replicas are multiplied by it.
	Weight float64 `json:"weight,omitempty"`
	// Overlay is a directory, relative to the repository root, holding one
	// kustomize directory per tier the site changes, named after the tier
	// (overlay/edge for tier edge). Each is built instead of the tier's own
	// path for this site, so it normally lists the tier's path as a resource.
	Overlay string `json:"overlay,omitempty"`
	// Windows are the times a rollout may change what the site runs.
	// Outside them the site keeps its current revision, though drift is
	// still corrected. No windows means always.
	Windows []Window `json:"windows,omitempty"`
	// Capacity is what the site's machines can run, per resource (cpu,
	// memory, pods, nvidia.com/gpu, …), as a node's status.capacity says
	// it. A revision whose pods ask the site for more, or whose
	// ResourceQuotas allow more, does not render; see SiteDemand. No
	// capacity means the site is not checked.
	Capacity corev1.ResourceList `json:"capacity,omitempty"`
	// Nodes is how many nodes the site has (default 1): a DaemonSet runs
	// a pod on each.
	Nodes int `json:"nodes,omitempty"`
	// Mode is how the site gets what it runs: "push" (the default), applied
	// by the hub through the site's API server, or "pull", applied by a
	// tandem agent at the site that asks the hub which revision it may
	// run and reports back; the hub never reaches a pull site's cluster.
	Mode SiteMode `json:"mode,omitempty"`

	overlayDir string // Overlay, resolved inside the repository
}

// SiteMode is how a site gets what it runs: see SiteSpec.Mode.
type SiteMode string

// Site modes.
const (
	ModePush SiteMode = "push"
	ModePull SiteMode = "pull"
)

// Window is one maintenance window of a site: it opens at each time its
// cron schedule names, read in its time zone, and stays open for its
// duration of elapsed time.
type Window struct {
	// Schedule is a standard five-field cron expression, such as
	// "0 22 * * *" for 22:00 every day.
	Schedule string `json:"schedule"`
	// Duration is how long the window stays open (> 0, < 168h).
	Duration metav1.Duration `json:"duration"`
	// TimeZone is the IANA time zone the schedule is read in, such as
	// Europe/Berlin (default UTC).
	TimeZone string `json:"timeZone,omitempty"`
}
