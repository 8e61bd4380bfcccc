package shard

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tandem-gitops/tandem/reconciler"
)

// givenInner records how many targets each SetTargets gives it.
type givenInner struct{ given chan int }

func (*givenInner) Run(ctx context.Context, _ chan<- reconciler.Result) error {
	<-ctx.Done()
	return ctx.Err()
}
func (g *givenInner) SetTargets(ts []reconciler.Target) { g.given <- len(ts) }

// TestALeaseThatFailsToRenewIsNotGivenBackWhileItsShardWorks: the elector
// of client-go releases a Lease it cannot renew before it says it stopped
// leading; the shard's Lease must instead expire, so that no other replica
// takes the shard while this one may still write to its clusters.
func TestALeaseThatFailsToRenewIsNotGivenBackWhileItsShardWorks(t *testing.T) {
	cs := fake.NewSimpleClientset()
	var failing, released atomic.Bool
	cs.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		switch {
		case l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "":
			released.Store(true)
		case failing.Load():
			return true, nil, errors.New("the API server is too slow")
		}
		return false, nil, nil
	})
	inner := &givenInner{given: make(chan int, 16)}
	a := New(inner, Config{Shards: 1, Identity: "a", Leases: cs.CoordinationV1(), Namespace: "ns", LeaseName: "tandem",
		LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond})
	a.SetTargets([]reconciler.Target{target("c1", "c1")})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { _ = a.compete(ctx, 0) })
	await := func(what string, n int) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case got := <-inner.given:
				if got == n {
					return
				}
			case <-deadline:
				t.Fatalf("the inner applier was never given %s", what)
			}
		}
	}
	await("the shard's cluster", 1)
	failing.Store(true)
	await("nothing, once the Lease could not be renewed", 0)
	if released.Load() {
		t.Fatal("the Lease was given back while the shard's work may still run")
	}
}
