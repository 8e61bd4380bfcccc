package clusters

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// errHealthTimeout marks a health check that ran out of time.
var errHealthTimeout = errors.New("timed out waiting for health")

// WaitHealthy waits until kstatus computes Current for every object of
// objs, all members of the ApplySet id, or until timeout or ctx ends. It
// decides on watch events, not on a poll: one informer per group-kind and
// namespace lists the members and then follows their changes, so an object
// is seen healthy as soon as the API server says so. It returns nil when
// every object is Current, ctx's error when ctx ended first, and otherwise
// an error naming each object that is not and why.
func (c *Conn) WaitHealthy(ctx context.Context, id string, objs []*unstructured.Unstructured, timeout time.Duration) error {
	if len(objs) == 0 {
		return nil
	}
	type scope struct {
		gvr       schema.GroupVersionResource
		namespace string
	}
	pending := make(map[object.ObjMetadata]string, len(objs))
	scopes := make(map[scope]bool)
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s health check: %w", utils.FmtUnstructured(obj), err)
		}
		pending[object.UnstructuredToObjMetadata(obj)] = "not found"
		scopes[scope{mapping.Resource, obj.GetNamespace()}] = true
	}

	began := time.Now()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errHealthTimeout)
	seen := make(chan *unstructured.Unstructured)
	deleted := make(chan object.ObjMetadata)
	// watchErrs keeps the last failure to list or watch each resource,
	// for a timeout to say why it saw nothing.
	var errMu sync.Mutex
	watchErrs := make(map[schema.GroupVersionResource]error)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	selector := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: map[string]string{applyset.PartOfLabel: id}})
	for s := range scopes {
		inf := dynamicinformer.NewFilteredDynamicInformer(c.dynamic, s.gvr, s.namespace, 0, cache.Indexers{},
			func(o *metav1.ListOptions) { o.LabelSelector = selector }).Informer()
		send := func(obj any) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				select {
				case seen <- u:
				case <-ctx.Done():
				}
			}
		}
		if err := inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			errMu.Lock()
			watchErrs[s.gvr] = err
			errMu.Unlock()
		}); err != nil {
			return fmt.Errorf("watch %s: %w", s.gvr, err)
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    send,
			UpdateFunc: func(_, obj any) { send(obj) },
			DeleteFunc: func(obj any) {
				if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = tomb.Obj
				}
				if u, ok := obj.(*unstructured.Unstructured); ok {
					select {
					case deleted <- object.UnstructuredToObjMetadata(u):
					case <-ctx.Done():
					}
				}
			},
		}); err != nil {
			return fmt.Errorf("watch %s: %w", s.gvr, err)
		}
		wg.Go(func() { inf.RunWithContext(ctx) })
	}

	for len(pending) > 0 {
		select {
		case obj := <-seen:
			key := object.UnstructuredToObjMetadata(obj)
			if _, ok := pending[key]; !ok {
				continue
			}
			res, err := status.Compute(obj)
			switch {
			case err != nil:
				pending[key] = err.Error()
			case res.Status == status.CurrentStatus:
				delete(pending, key)
			default:
				pending[key] = cmp.Or(string(res.Status)+": "+res.Message, string(res.Status))
			}
		case key := <-deleted:
			if _, ok := pending[key]; ok {
				pending[key] = "deleted"
			}
		case <-ctx.Done():
			// Canceled is a newer target or shutdown; any deadline, the
			// health timeout or the caller's, is a health failure.
			if cause := context.Cause(ctx); errors.Is(cause, context.Canceled) {
				return cause
			}
			msg := describePending(pending)
			errMu.Lock()
			for gvr, err := range watchErrs {
				msg += fmt.Sprintf("; watching %s failed: %v", gvr.GroupResource(), err)
			}
			errMu.Unlock()
			return fmt.Errorf("%w after %s: %s", errHealthTimeout, time.Since(began).Round(time.Second), msg)
		}
	}
	return nil
}

// describePending names each object still not healthy and why, in apply
// order.
func describePending(pending map[object.ObjMetadata]string) string {
	keys := slices.Collect(maps.Keys(pending))
	sort.Sort(ssa.SortableMetas(keys))
	parts := make([]string, len(keys))
	for i, key := range keys {
		parts[i] = fmt.Sprintf("%s %s", utils.FmtObjMetadata(key), pending[key])
	}
	return strings.Join(parts, "; ")
}
