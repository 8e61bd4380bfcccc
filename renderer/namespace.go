package renderer

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// scope is where the objects of a kind live on a cluster. A render decides
// it without a cluster, so that render output is what is applied and a
// missing namespace is found before a commit is merged.
type scope int

const (
	// scopeUnknown is a kind neither kustomize's OpenAPI data nor a CRD of
	// the revision describes. It may be cluster-scoped: the API server
	// decides, and the reconciler drops a namespace on a kind the cluster
	// serves cluster-scoped.
	scopeUnknown scope = iota
	scopeNamespaced
	scopeCluster
)

// scopeVersions are the versions kustomize's OpenAPI data describes kinds
// at, tried in turn for a version it lacks.
var scopeVersions = []string{"v1", "v1beta1", "v2beta2", "v2beta1"}

// builtinScope returns the scope of a built-in kind, from kustomize's
// OpenAPI data. A kind keeps its scope across versions, so a version the
// data lacks (autoscaling/v2) is looked up at the versions it has.
func builtinScope(apiVersion, kind string) scope {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return scopeUnknown
	}
	if s := openapiScope(apiVersion, kind); s != scopeUnknown {
		return s
	}
	for _, v := range scopeVersions {
		if v == gv.Version {
			continue
		}
		if s := openapiScope(schema.GroupVersion{Group: gv.Group, Version: v}.String(), kind); s != scopeUnknown {
			return s
		}
	}
	return scopeUnknown
}

func openapiScope(apiVersion, kind string) scope {
	namespaced, found := openapi.IsNamespaceScoped(yaml.TypeMeta{APIVersion: apiVersion, Kind: kind})
	switch {
	case !found:
		return scopeUnknown
	case namespaced:
		return scopeNamespaced
	default:
		return scopeCluster
	}
}

// scopeOf returns the scope of objects of o's kind: a built-in kind's, or
// the one a CRD rendered anywhere in the revision declares.
func (r *run) scopeOf(o *unstructured.Unstructured) scope {
	if s := builtinScope(o.GetAPIVersion(), o.GetKind()); s != scopeUnknown {
		return s
	}
	return r.customScopes()[o.GroupVersionKind().GroupKind()]
}

// customScopes returns the scope of every kind the revision's CRDs define,
// found in every directory a tier of a solution builds, for any cluster
// or site: a custom resource renders the same whichever targets a render
// is narrowed to. It builds them on first use only, as most revisions
// render no custom resources.
func (r *run) customScopes() map[schema.GroupKind]scope {
	if r.crdScopes != nil {
		return r.crdScopes
	}
	r.crdScopes = map[schema.GroupKind]scope{}
	for _, sol := range r.config.Solutions {
		for i := range sol.Spec.Tiers {
			tier := &sol.Spec.Tiers[i]
			if tier.dir == "" {
				continue
			}
			dirs := []string{tier.dir}
			for _, site := range r.config.Sites {
				if tier.Selects(site) {
					dirs = append(dirs, r.overlayDir(tier, placement{cluster: site.Spec.Cluster, site: site}))
				}
			}
			for _, dir := range dirs {
				if m, err := r.build(dir); err == nil {
					addCRDScopes(r.crdScopes, m)
				}
			}
		}
	}
	return r.crdScopes
}

// addCRDScopes records the scope each CustomResourceDefinition of m
// declares for its kind.
func addCRDScopes(scopes map[schema.GroupKind]scope, m resmap.ResMap) {
	for _, res := range m.Resources() {
		if res.GetKind() != "CustomResourceDefinition" || !strings.HasPrefix(res.GetApiVersion(), "apiextensions.k8s.io/") {
			continue
		}
		group, _ := res.GetString("spec.group")
		kind, _ := res.GetString("spec.names.kind")
		switch s, _ := res.GetString("spec.scope"); s {
		case "Namespaced":
			scopes[schema.GroupKind{Group: group, Kind: kind}] = scopeNamespaced
		case "Cluster":
			scopes[schema.GroupKind{Group: group, Kind: kind}] = scopeCluster
		}
	}
}

// placeNamespaces gives the objects of a tier the namespaces they are
// applied in: namespace, the tier's, to every namespaced object that has
// none (and to an object of an unknown kind, which the reconciler drops
// should the cluster serve that kind cluster-scoped), and none to a
// cluster-scoped object. It returns the namespaced objects left without a
// namespace, which is when the tier has none to give.
func placeNamespaces(objs []*unstructured.Unstructured, namespace string, scopeOf func(*unstructured.Unstructured) scope) []*unstructured.Unstructured {
	var missing []*unstructured.Unstructured
	for _, o := range objs {
		switch s := scopeOf(o); {
		case s == scopeCluster:
			if o.GetNamespace() != "" {
				unstructured.RemoveNestedField(o.Object, "metadata", "namespace")
			}
		case o.GetNamespace() != "":
		case namespace != "":
			o.SetNamespace(namespace)
		case s == scopeNamespaced:
			missing = append(missing, o)
		}
	}
	return missing
}

// reservedUses describes each object that writes to what tandem reserves
// on a cluster: the namespace ReservedNamespace, and the Secrets labelled
// LabelCluster that hold cluster credentials.
func reservedUses(objs []*unstructured.Unstructured) []string {
	var uses []string
	for _, o := range objs {
		core := o.GetAPIVersion() == "v1"
		switch {
		case core && o.GetKind() == "Namespace" && o.GetName() == ReservedNamespace:
			uses = append(uses, fmt.Sprintf("Namespace/%s, which tandem reserves: it holds tandem's ApplySet parents and cluster credentials", ReservedNamespace))
		case o.GetNamespace() == ReservedNamespace:
			uses = append(uses, fmt.Sprintf("%s/%s in namespace %s, which tandem reserves: it holds tandem's ApplySet parents and cluster credentials", o.GetKind(), o.GetName(), ReservedNamespace))
		case core && o.GetKind() == "Secret" && hasLabel(o, LabelCluster):
			uses = append(uses, fmt.Sprintf("%s labelled %s, which tandem reserves for the Secrets that hold cluster credentials", objectName(o), LabelCluster))
		}
	}
	return uses
}

func hasLabel(o *unstructured.Unstructured, key string) bool {
	_, ok := o.GetLabels()[key]
	return ok
}

// objectName names an object as Kind/namespace/name, or Kind/name when it
// has no namespace.
func objectName(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return o.GetKind() + "/" + ns + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetName()
}

// maxListed bounds the objects an error lists by name.
const maxListed = 5

// missingNamespaces describes the namespaced objects a tier renders
// without a namespace, and how to fix it.
func missingNamespaces(tier string, missing []*unstructured.Unstructured) string {
	if len(missing) == 1 {
		return fmt.Sprintf("tier %s renders %s without a namespace; set metadata.namespace in it or namespace: on the tier", tier, objectName(missing[0]))
	}
	names := make([]string, 0, maxListed+1)
	for _, o := range missing[:min(len(missing), maxListed)] {
		names = append(names, objectName(o))
	}
	if len(missing) > maxListed {
		names = append(names, fmt.Sprintf("and %d more", len(missing)-maxListed))
	}
	return fmt.Sprintf("tier %s renders %d namespaced objects without a namespace (%s); set metadata.namespace in them or namespace: on the tier",
		tier, len(missing), strings.Join(names, ", "))
}
