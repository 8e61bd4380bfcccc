package clusters

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// Concurrency bounds the applies, health reads and dry-runs in flight per
// tier: a few requests at a time, as kubectl does, without flooding a small
// site's API server.
const Concurrency = 4

// Options configures a connection.
type Options struct {
	// FieldManager owns what the connection applies.
	FieldManager string
	// RequestTimeout bounds each request when the resolved configuration
	// sets no timeout.
	RequestTimeout time.Duration
	// Traffic counts the connection's requests and watch restarts; nil
	// counts nothing.
	Traffic *Traffic
}

// Conn is a connection to one cluster: a client (see kindsClient), its
// REST mapper of the kinds asked about (see kindMapper), and an ssa
// resource manager on top. Every client of a connection shares its HTTP/2
// connection and its budget of requests per second.
type Conn struct {
	name         string
	fieldManager string
	client       *kindsClient
	mapper       meta.RESTMapper
	manager      *ssa.ResourceManager
	// dynamic watches what a pass waits for; metadata lists the members
	// a Watch follows, and raw streams their changes.
	dynamic  dynamic.Interface
	metadata metadata.Interface
	raw      *rest.RESTClient
	// config is the configuration the connection was made from, as
	// comparable, so that changed credentials make a new one.
	config *rest.Config
	// traffic counts the restarts of the watches through the connection.
	traffic *Traffic
}

// Connect makes a connection to the cluster name from the configuration a
// Resolver returned for it.
func Connect(name string, resolved *rest.Config, opts Options) (*Conn, error) {
	cfg := rest.CopyConfig(resolved)
	if cfg.QPS == 0 {
		// client-go's default of 5 would throttle the first apply of a site.
		cfg.QPS, cfg.Burst = 50, 100
	}
	if cfg.RateLimiter == nil {
		// One budget for the cluster: each client made from cfg
		// (discovery, controller-runtime's one per typed kind, the
		// dynamic ones, the watches') would otherwise make a limiter of
		// its own, each allowing QPS.
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = opts.RequestTimeout
	}
	if opts.Traffic != nil {
		cfg.Wrap(opts.Traffic.wrapper(name))
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	disco, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	mapper := newKindMapper(disco, cmp.Or(cfg.Timeout, 30*time.Second))
	typed, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	requests, err := dynamic.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	c := &kindsClient{Client: typed, dynamic: requests, mapper: mapper}
	// Watches last as long as a health check; the request timeout would
	// cut them short. They share the connections all the same, and ask
	// for their streams uncompressed: the events of a few members are
	// small, and a compressed stream holds a decompressor and its 32 KB
	// window for as long as it is open, a fleet's every watch of every
	// kind.
	watchCfg := rest.CopyConfig(cfg)
	watchCfg.Timeout = 0
	watchClient := &http.Client{Transport: uncompressed{httpClient.Transport}}
	dyn, err := dynamic.NewForConfigAndClient(watchCfg, watchClient)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	meta, err := metadata.NewForConfigAndClient(watchCfg, watchClient)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	rawCfg := metadata.ConfigFor(watchCfg)
	rawCfg.GroupVersion, rawCfg.APIPath = &schema.GroupVersion{}, "/"
	raw, err := rest.RESTClientForConfigAndClient(rawCfg, watchClient)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	manager := ssa.NewResourceManager(c, polling.NewStatusPoller(c, mapper, polling.Options{}),
		ssa.Owner{Field: opts.FieldManager, Group: "tandem.dev"})
	manager.SetConcurrency(Concurrency)
	return &Conn{name: name, fieldManager: opts.FieldManager, client: c, mapper: mapper, manager: manager,
		dynamic: dyn, metadata: meta, raw: raw, config: comparableConfig(resolved), traffic: opts.Traffic}, nil
}

// uncompressed asks for responses as they are: Go's transport neither
// asks to gzip a request that names an encoding, nor decompresses its
// response.
type uncompressed struct{ next http.RoundTripper }

func (u uncompressed) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Accept-Encoding") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("Accept-Encoding", "identity")
	}
	return u.next.RoundTrip(req)
}

// Name returns the name of the cluster the connection reaches.
func (c *Conn) Name() string { return c.name }

// Client returns the connection's client.
func (c *Conn) Client() client.Client { return c.client }

// Manager returns the ssa resource manager that applies and dry-runs
// through the connection, Concurrency requests at a time.
func (c *Conn) Manager() *ssa.ResourceManager { return c.manager }

// MadeFrom reports whether the connection could have been made from cfg:
// the same server, reached the same way, with the same credentials.
func (c *Conn) MadeFrom(cfg *rest.Config) bool {
	return reflect.DeepEqual(c.config, comparableConfig(cfg))
}

// comparableConfig returns a copy of cfg without what cannot be compared:
// functions, the transport, the rate limiter and the warning handlers,
// which resolvers make anew on every call. The proxy a function picks for
// the server is kept, in the Host's place beside it.
func comparableConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	if cfg.Proxy != nil {
		proxy := "error"
		if req, err := http.NewRequest(http.MethodGet, cfg.Host, nil); err == nil {
			if u, err := cfg.Proxy(req); err == nil && u != nil {
				proxy = u.String()
			}
		}
		c.Host += " via " + proxy
	}
	c.Proxy, c.Dial, c.WrapTransport, c.Transport = nil, nil, nil, nil
	c.RateLimiter, c.WarningHandler, c.WarningHandlerWithContext, c.AuthConfigPersister = nil, nil, nil, nil
	return c
}

// ListParents lists the ApplySet parents tandem keeps on the cluster.
func (c *Conn) ListParents(ctx context.Context) ([]corev1.Secret, error) {
	return applyset.ListParents(ctx, c.client)
}

// ListMembers lists the objects labelled as members of the ApplySet id, one
// label-selected list across namespaces per group-kind, a few at a time.
// versions says which version to list a group-kind at (the one desired
// objects use, so they compare with what is read); without one the server's
// preferred version is used. A group-kind the cluster does not serve has no
// members.
func (c *Conn) ListMembers(ctx context.Context, id string, versions map[schema.GroupKind]string) (map[object.ObjMetadata]*unstructured.Unstructured, error) {
	var mu sync.Mutex
	members := make(map[object.ObjMetadata]*unstructured.Unstructured)
	var g errgroup.Group
	g.SetLimit(Concurrency)
	for gk, version := range versions {
		g.Go(func() error {
			items, err := c.listKind(ctx, id, gk, version)
			mu.Lock()
			defer mu.Unlock()
			for i := range items {
				members[object.UnstructuredToObjMetadata(&items[i])] = &items[i]
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return members, nil
}

// listKind lists the members of one group-kind.
func (c *Conn) listKind(ctx context.Context, id string, gk schema.GroupKind, version string) ([]unstructured.Unstructured, error) {
	if version == "" {
		mapping, err := c.mapper.RESTMapping(gk)
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list members of kind %s: %w", gk, err)
		}
		version = mapping.GroupVersionKind.Version
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Group: gk.Group, Version: version, Kind: gk.Kind + "List"})
	err := c.client.List(ctx, list, client.MatchingLabels{applyset.PartOfLabel: id})
	if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list members of kind %s: %w", gk, err)
	}
	return list.Items, nil
}

// Key returns the identity obj has on the cluster: without a namespace
// when its kind is cluster-scoped, whatever the render says.
func (c *Conn) Key(obj *unstructured.Unstructured) object.ObjMetadata {
	key := object.UnstructuredToObjMetadata(obj)
	gvk := obj.GroupVersionKind()
	if key.Namespace != "" && c.isClusterScoped(gvk.GroupKind(), gvk.Version) {
		key.Namespace = ""
	}
	return key
}

// isClusterScoped reports whether the cluster serves gk without namespaces;
// false when it does not know gk (yet).
func (c *Conn) isClusterScoped(gk schema.GroupKind, version string) bool {
	mapping, err := c.mapper.RESTMapping(gk, version)
	return err == nil && mapping.Scope.Name() == meta.RESTScopeNameRoot
}

// WriteParent server-side applies an ApplySet parent under the
// connection's field manager, creating the namespace tandem-system first
// when the cluster has none.
func (c *Conn) WriteParent(ctx context.Context, parent *unstructured.Unstructured) error {
	err := c.client.apply(ctx, parent, c.fieldManager)
	if !apierrors.IsNotFound(err) {
		return err
	}
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(applyset.Namespace)
	if err := c.client.apply(ctx, ns, c.fieldManager); err != nil {
		return fmt.Errorf("create namespace %s: %w", applyset.Namespace, err)
	}
	return c.client.apply(ctx, parent, c.fieldManager)
}

// IsUnreachable tells errors of reaching a cluster from answers it gave.
func IsUnreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
	}
	// client-go reports transport failures (refused connections, timeouts,
	// TLS, DNS) as URL errors.
	var urlErr *url.Error
	return errors.As(err, &urlErr)
}
