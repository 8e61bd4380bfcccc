package clusters

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// kindMapper is a connection's REST mapper. It maps the kinds tandem asks
// about to their resources by discovering the one group-version each is
// asked at, and keeps those mappings alone: a mapper that keeps every
// group it is asked about whole, as controller-runtime's does, costs each
// site of a fleet a hundred kilobytes for the dozen kinds of a solution.
// A kind the cluster does not serve is looked for again each time it is
// asked about, for a definition applied since to be found.
type kindMapper struct {
	discovery *discovery.DiscoveryClient
	// timeout bounds each discovery; the mapper's callers pass no
	// context.
	timeout time.Duration

	mu sync.Mutex
	// mappings are by the group-kind and version asked about, "" for the
	// group's preferred version.
	mappings map[schema.GroupVersionKind]*meta.RESTMapping
}

var _ meta.RESTMapper = (*kindMapper)(nil)

func newKindMapper(d *discovery.DiscoveryClient, timeout time.Duration) *kindMapper {
	return &kindMapper{discovery: d, timeout: timeout, mappings: map[schema.GroupVersionKind]*meta.RESTMapping{}}
}

// RESTMapping returns the mapping of gk at the first of versions the
// cluster serves it at, or at its group's preferred version when none is
// given.
func (m *kindMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if len(versions) == 0 {
		versions = []string{""}
	}
	for _, v := range versions {
		mapping, err := m.mapping(gk.WithVersion(v))
		if !meta.IsNoMatchError(err) {
			return mapping, err
		}
	}
	return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: versions}
}

// RESTMappings returns the mapping RESTMapping returns, alone.
func (m *kindMapper) RESTMappings(gk schema.GroupKind, versions ...string) ([]*meta.RESTMapping, error) {
	mapping, err := m.RESTMapping(gk, versions...)
	if err != nil {
		return nil, err
	}
	return []*meta.RESTMapping{mapping}, nil
}

func (m *kindMapper) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m.mu.Lock()
	mapping, ok := m.mappings[gvk]
	m.mu.Unlock()
	if ok {
		return mapping, nil
	}
	gv, r, err := m.find(gvk.GroupVersion(), func(r metav1.APIResource) bool { return r.Kind == gvk.Kind })
	if err != nil {
		return nil, err
	}
	scope := meta.RESTScopeNamespace
	if !r.Namespaced {
		scope = meta.RESTScopeRoot
	}
	mapping = &meta.RESTMapping{Resource: gv.WithResource(r.Name), GroupVersionKind: gv.WithKind(r.Kind), Scope: scope}
	m.mu.Lock()
	m.mappings[gvk] = mapping
	m.mu.Unlock()
	return mapping, nil
}

// KindFor returns the kind of resource, at its group's preferred version
// when it names none. It asks the cluster each time.
func (m *kindMapper) KindFor(resource schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	gv, r, err := m.find(resource.GroupVersion(), func(r metav1.APIResource) bool {
		return r.Name == resource.Resource || r.SingularName == resource.Resource
	})
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	return gv.WithKind(r.Kind), nil
}

// KindsFor returns the kind KindFor returns, alone.
func (m *kindMapper) KindsFor(resource schema.GroupVersionResource) ([]schema.GroupVersionKind, error) {
	gvk, err := m.KindFor(resource)
	if err != nil {
		return nil, err
	}
	return []schema.GroupVersionKind{gvk}, nil
}

// ResourceFor returns the resource that input, plural or singular, names.
func (m *kindMapper) ResourceFor(input schema.GroupVersionResource) (schema.GroupVersionResource, error) {
	gvk, err := m.KindFor(input)
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	return mapping.Resource, nil
}

// ResourcesFor returns the resource ResourceFor returns, alone.
func (m *kindMapper) ResourcesFor(input schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	gvr, err := m.ResourceFor(input)
	if err != nil {
		return nil, err
	}
	return []schema.GroupVersionResource{gvr}, nil
}

// ResourceSingularizer returns the singular name of a core resource.
func (m *kindMapper) ResourceSingularizer(resource string) (string, error) {
	_, r, err := m.find(schema.GroupVersion{Version: "v1"}, func(r metav1.APIResource) bool { return r.Name == resource })
	if err != nil {
		return resource, err
	}
	return r.SingularName, nil
}

// find discovers the resources of gv, at the group's preferred version
// when gv names none, and returns the first, not a subresource, that
// match accepts. A group-version the cluster does not serve, or one with
// no such resource, is no match.
func (m *kindMapper) find(gv schema.GroupVersion, match func(metav1.APIResource) bool) (schema.GroupVersion, metav1.APIResource, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	noMatch := &meta.NoResourceMatchError{PartialResource: gv.WithResource("")}
	if gv.Version == "" {
		gv.Version = "v1"
		if gv.Group != "" {
			var group metav1.APIGroup
			err := m.discovery.RESTClient().Get().AbsPath("/apis", gv.Group).Do(ctx).Into(&group)
			if apierrors.IsNotFound(err) {
				return gv, metav1.APIResource{}, noMatch
			}
			if err != nil {
				return gv, metav1.APIResource{}, fmt.Errorf("discover group %s: %w", gv.Group, err)
			}
			gv.Version = group.PreferredVersion.Version
		}
	}
	list, err := m.discovery.ServerResourcesForGroupVersionWithContext(ctx, gv.String())
	if apierrors.IsNotFound(err) {
		return gv, metav1.APIResource{}, noMatch
	}
	if err != nil {
		return gv, metav1.APIResource{}, fmt.Errorf("discover %s: %w", gv, err)
	}
	for _, r := range list.APIResources {
		if !strings.Contains(r.Name, "/") && match(r) {
			return gv, r, nil
		}
	}
	return gv, metav1.APIResource{}, noMatch
}
