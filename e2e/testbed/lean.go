package testbed

import "strings"

// leanAPIGroups are the only API group versions a lean API server serves:
// what tandem and the generated benchmark solution use (core, apps, RBAC,
// networking, coordination for shard Leases), and what the API server
// itself cannot start without (authentication and authorization reviews,
// apiregistration for its aggregator, apiextensions for CRDs, and
// admissionregistration and discovery, whose informers it runs whatever
// admission plugins are on).
var leanAPIGroups = []string{
	"v1",
	"apps/v1",
	"rbac.authorization.k8s.io/v1",
	"networking.k8s.io/v1",
	"coordination.k8s.io/v1",
	"authentication.k8s.io/v1",
	"authorization.k8s.io/v1",
	"apiregistration.k8s.io/v1",
	"apiextensions.k8s.io/v1",
	"admissionregistration.k8s.io/v1",
	"discovery.k8s.io/v1",
}

// leanAdmissionOff are the admission plugins on by default that nothing
// stored by tandem's benchmarks needs: no webhooks or admission policies
// are registered, no Pods, PersistentVolumeClaims, certificates or
// Ingresses are created, and quotas and limits are not enforced.
// NamespaceLifecycle stays on, so a namespace being deleted refuses new
// objects as in a real cluster.
var leanAdmissionOff = []string{
	"MutatingAdmissionWebhook",
	"ValidatingAdmissionWebhook",
	"ValidatingAdmissionPolicy",
	"MutatingAdmissionPolicy",
	"ResourceQuota",
	"LimitRanger",
	"ServiceAccount",
	"DefaultStorageClass",
	"DefaultTolerationSeconds",
	"StorageObjectInUseProtection",
	"PersistentVolumeClaimResize",
	"RuntimeClass",
	"CertificateApproval",
	"CertificateSigning",
	"CertificateSubjectRestriction",
	"ClusterTrustBundleAttest",
	"DefaultIngressClass",
	"PodSecurity",
	"Priority",
	"TaintNodesByCondition",
}

// leanAPIServerArgs are the flags that make an API server small, for
// fleets of a hundred API servers on one machine. Measured on v1.37.2 with
// 2 cores, idle after start: about 285 MB RSS (195 MB anonymous) for a
// default API server, about 184 MB (97 MB anonymous) with these flags and
// leanAPIServerEnv; about 87 MB of either are pages of the executable,
// shared by every API server of the fleet.
func leanAPIServerArgs() []string {
	groups := []string{"api/all=false"}
	for _, g := range leanAPIGroups {
		if g == "v1" {
			g = "api/v1"
		}
		groups = append(groups, g+"=true")
	}
	return []string{
		// Serve lists and watches from etcd rather than keeping a cache
		// of every resource type: with the watch cache each API server
		// opens an etcd watch per type, several thousand on the one etcd
		// a fleet of 100 shares; idle RSS is the same either way.
		"--watch-cache=false",
		// Register storage, handlers and OpenAPI only for the groups
		// above: the bulk of the memory saved.
		"--runtime-config=" + strings.Join(groups, ","),
		// No informers or work for plugins nothing here needs.
		"--disable-admission-plugins=" + strings.Join(leanAdmissionOff, ","),
		// No flow-control configuration objects to keep, watch and
		// reconcile; --max-requests-inflight still bounds the load.
		"--enable-priority-and-fairness=false",
		"--max-requests-inflight=100",
		"--max-mutating-requests-inflight=50",
		// No /debug/pprof handlers.
		"--profiling=false",
		// No garbage collector of the API server's own (it runs no
		// controller-manager anyway, so owner references are not
		// followed in either mode).
		"--enable-garbage-collector=false",
	}
}

// leanAPIServerEnv is the environment of a lean API server's process: one
// Go scheduler thread, as a hundred of them share 2 cores, and a soft
// memory limit under which the Go runtime collects garbage more often
// rather than grow the heap (about 40 MB of RSS saved each; GOGC=50
// instead saved about 25 MB).
var leanAPIServerEnv = []string{"GOMAXPROCS=1", "GOMEMLIMIT=100MiB"}
