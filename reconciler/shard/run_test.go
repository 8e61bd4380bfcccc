package shard

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	typedcoordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

// stoppingInner reports the clusters it is given on a channel and, when
// its context ends, reads who holds its shard's Lease before it returns.
type stoppingInner struct {
	given     chan []string
	leases    typedcoordinationv1.LeasesGetter
	lease     string
	heldWhile chan string
}

func (s *stoppingInner) Run(ctx context.Context, _ chan<- reconciler.Result) error {
	<-ctx.Done()
	lease, err := s.leases.Leases("tandem-system").Get(context.Background(), s.lease, metav1.GetOptions{})
	holder := fmt.Sprintf("<%v>", err)
	if err == nil && lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	s.heldWhile <- holder
	return ctx.Err()
}

func (s *stoppingInner) SetTargets(targets []reconciler.Target) {
	select {
	case s.given <- names(targets):
	default:
	}
}

func holderOfLease(t *testing.T, leases typedcoordinationv1.LeasesGetter, name string) string {
	t.Helper()
	lease, err := leases.Leases("tandem-system").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// TestRunHoldsTheLeaseUntilTheInnerApplierStopped runs a replica with one
// shard over an in-memory API: it acquires the shard and hands over its
// cluster; when it stops, the Lease is still its own while the inner
// applier winds down, and released once Run returns.
func TestRunHoldsTheLeaseUntilTheInnerApplierStopped(t *testing.T) {
	leases := fake.NewClientset().CoordinationV1()
	inner := &stoppingInner{given: make(chan []string, 8), leases: leases, lease: LeaseName("tandem", 0), heldWhile: make(chan string, 1)}
	a := New(inner, Config{Shards: 1, Identity: "replica-a", Leases: leases, Namespace: "tandem-system", LeaseName: "tandem",
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 100 * time.Millisecond,
		ObserveInterval: time.Hour, Resolver: clusters.ResolverFunc(func(context.Context, string) (*rest.Config, error) {
			return nil, errors.New("no cluster here")
		})})
	a.SetTargets([]reconciler.Target{target("plant-a", "plant-a")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, make(chan reconciler.Result, 8)) }()

	deadline := time.After(10 * time.Second)
	for handedOver := false; !handedOver; {
		select {
		case got := <-inner.given:
			handedOver = len(got) == 1 && got[0] == "plant-a"
		case <-deadline:
			t.Fatal("plant-a not handed over within 10s of running for its shard")
		}
	}
	if got := holderOfLease(t, leases, LeaseName("tandem", 0)); got != "replica-a" {
		t.Fatalf("Lease held by %q, want replica-a", got)
	}
	cancel()
	if got := <-inner.heldWhile; got != "replica-a" {
		t.Errorf("while the inner applier stopped the Lease was held by %q, want replica-a still", got)
	}
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its context ending")
	}
	if got := holderOfLease(t, leases, LeaseName("tandem", 0)); got != "" {
		t.Errorf("Lease held by %q after Run returned, want it released", got)
	}
}

// TestReplicasShareTheShardsAndTakeOverAStoppedOnes runs two replicas over
// two shards of an in-memory API, with a grace period far longer than the
// test: each takes one shard, and when the first stops, the second takes
// its shard at once, having seen it held.
func TestReplicasShareTheShardsAndTakeOverAStoppedOnes(t *testing.T) {
	leases := fake.NewClientset().CoordinationV1()
	first, second := clusterOn(t, 0, 2), clusterOn(t, 1, 2)
	targets := []reconciler.Target{target(first, first), target(second, second)}
	type replica struct {
		a      *Applier
		inner  *stoppingInner
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func(id string) *replica {
		inner := &stoppingInner{given: make(chan []string, 16), leases: leases, lease: LeaseName("tandem", 0), heldWhile: make(chan string, 1)}
		a := New(inner, Config{Shards: 2, Identity: id, Leases: leases, Namespace: "tandem-system", LeaseName: "tandem",
			LeaseDuration: time.Hour, RenewDeadline: 30 * time.Second, RetryPeriod: 50 * time.Millisecond,
			ObserveInterval: time.Hour, Resolver: clusters.ResolverFunc(func(context.Context, string) (*rest.Config, error) {
				return nil, errors.New("no cluster here")
			})})
		a.SetTargets(targets)
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{a: a, inner: inner, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			a.Run(ctx, make(chan reconciler.Result, 16))
		}()
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	// waitFor reads what r's inner applier is given until it is n clusters.
	waitFor := func(r *replica, n int) []string {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case got := <-r.inner.given:
				if len(got) == n {
					return got
				}
			case <-deadline:
				t.Fatalf("replica %s not given %d clusters within 10s", r.a.Identity(), n)
			}
		}
	}
	a := start("replica-a")
	mine := waitFor(a, 1)
	b := start("replica-b")
	theirs := waitFor(b, 1)
	if mine[0] == theirs[0] {
		t.Fatalf("both replicas reconcile %s", mine[0])
	}
	a.cancel()
	<-a.inner.heldWhile
	<-a.done
	if got := waitFor(b, 2); len(got) != 2 {
		t.Fatalf("replica-b reconciles %v after replica-a stopped, want both clusters", got)
	}
	for i := range 2 {
		if got := holderOfLease(t, leases, LeaseName("tandem", i)); got != "replica-b" {
			t.Errorf("shard %d held by %q, want replica-b", i, got)
		}
	}
}
