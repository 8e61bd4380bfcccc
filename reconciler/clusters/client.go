package clusters

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kindsClient is a connection's client. It sends the requests of
// unstructured objects, which are nearly all tandem sends, through one
// dynamic client, whatever their kind, and the others through
// controller-runtime's. controller-runtime makes a REST client of its
// own for each kind it is asked about, with its own serializers, 3 KB
// each: for the dozen kinds of a solution on each site of a fleet, more
// than its connection costs.
type kindsClient struct {
	client.Client
	dynamic dynamic.Interface
	mapper  meta.RESTMapper
}

// resource returns where the objects of gvk in namespace are served; a
// cluster-scoped kind ignores namespace, as controller-runtime's client
// does.
func (c *kindsClient) resource(gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, error) {
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if mapping.Scope.Name() == meta.RESTScopeNameRoot {
		return c.dynamic.Resource(mapping.Resource), nil
	}
	return c.dynamic.Resource(mapping.Resource).Namespace(namespace), nil
}

// send sends a request about obj through where its kind is served in
// namespace, and puts the object the server answered with in obj,
// keeping the group, version and kind obj was asked as.
func (c *kindsClient) send(obj *unstructured.Unstructured, namespace string, request func(dynamic.ResourceInterface) (*unstructured.Unstructured, error)) error {
	gvk := obj.GroupVersionKind()
	r, err := c.resource(gvk, namespace)
	if err != nil {
		return err
	}
	got, err := request(r)
	if err != nil {
		return err
	}
	obj.Object = got.Object
	obj.SetGroupVersionKind(gvk)
	return nil
}

func (c *kindsClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return c.Client.Get(ctx, key, obj, opts...)
	}
	o := &client.GetOptions{}
	o.ApplyOptions(opts)
	return c.send(u, key.Namespace, func(r dynamic.ResourceInterface) (*unstructured.Unstructured, error) {
		return r.Get(ctx, key.Name, *o.AsGetOptions())
	})
}

func (c *kindsClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	u, ok := list.(*unstructured.UnstructuredList)
	if !ok {
		return c.Client.List(ctx, list, opts...)
	}
	gvk := u.GroupVersionKind()
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	r, err := c.resource(gvk.GroupVersion().WithKind(strings.TrimSuffix(gvk.Kind, "List")), o.Namespace)
	if err != nil {
		return err
	}
	got, err := r.List(ctx, *o.AsListOptions())
	if err != nil {
		return err
	}
	u.Object, u.Items = got.Object, got.Items
	u.SetGroupVersionKind(gvk)
	return nil
}

func (c *kindsClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return c.Client.Create(ctx, obj, opts...)
	}
	o := &client.CreateOptions{}
	o.ApplyOptions(opts)
	return c.send(u, u.GetNamespace(), func(r dynamic.ResourceInterface) (*unstructured.Unstructured, error) {
		return r.Create(ctx, u, *o.AsCreateOptions())
	})
}

func (c *kindsClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return c.Client.Update(ctx, obj, opts...)
	}
	o := &client.UpdateOptions{}
	o.ApplyOptions(opts)
	return c.send(u, u.GetNamespace(), func(r dynamic.ResourceInterface) (*unstructured.Unstructured, error) {
		return r.Update(ctx, u, *o.AsUpdateOptions())
	})
}

func (c *kindsClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return c.Client.Patch(ctx, obj, patch, opts...)
	}
	data, err := patch.Data(u)
	if err != nil {
		return fmt.Errorf("make the patch: %w", err)
	}
	o := &client.PatchOptions{}
	o.ApplyOptions(opts)
	return c.send(u, u.GetNamespace(), func(r dynamic.ResourceInterface) (*unstructured.Unstructured, error) {
		return r.Patch(ctx, u.GetName(), patch.Type(), data, *o.AsPatchOptions())
	})
}

func (c *kindsClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return c.Client.Delete(ctx, obj, opts...)
	}
	r, err := c.resource(u.GroupVersionKind(), u.GetNamespace())
	if err != nil {
		return err
	}
	o := &client.DeleteOptions{}
	o.ApplyOptions(opts)
	return r.Delete(ctx, u.GetName(), *o.AsDeleteOptions())
}

// apply server-side applies obj as manager, taking the fields other
// managers own.
func (c *kindsClient) apply(ctx context.Context, obj *unstructured.Unstructured, manager string) error {
	r, err := c.resource(obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return err
	}
	_, err = r.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: manager, Force: true})
	return err
}
