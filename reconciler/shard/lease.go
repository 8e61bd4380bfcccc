package shard

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// LeaseName returns the name of the Lease of shard i, for Leases named
// name.
func LeaseName(name string, i int) string { return name + "-shard-" + strconv.Itoa(i) }

// errNotReleased refuses to give a Lease back while the shard's work may
// still be running; the Lease expires instead.
var errNotReleased = errors.New("the shard's work may still be running: the Lease expires instead of being released")

// errSpread refuses an acquisition the spread rule does not allow yet.
var errSpread = errors.New("another replica with fewer shards may take it first")

// lock is shard i's Lease as this replica's elector uses it: it notes the
// holder each read finds and lets the elector write the Lease only to renew
// it or as the spread rule allows.
type lock struct {
	resourcelock.Interface
	shard int
	a     *Applier
}

func (l *lock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	switch {
	case apierrors.IsNotFound(err):
		l.a.saw(l.shard, "")
	case err != nil:
		l.a.log.Warn("cannot read the Lease of a shard", "lease", l.Describe(), "error", err)
	default:
		l.a.saw(l.shard, rec.HolderIdentity)
	}
	return rec, raw, err
}

func (l *lock) Create(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	return l.write(ctx, rec, l.Interface.Create)
}

func (l *lock) Update(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	return l.write(ctx, rec, l.Interface.Update)
}

func (l *lock) write(ctx context.Context, rec resourcelock.LeaderElectionRecord, write func(context.Context, resourcelock.LeaderElectionRecord) error) error {
	if rec.HolderIdentity == "" && !l.a.released.Load() {
		// The elector releases a Lease it failed to renew before it
		// tells this replica it stopped leading: another replica could
		// take the shard while this one still writes to its clusters.
		return errNotReleased
	}
	renew, ok := l.a.mayAcquire(l.shard)
	if !ok {
		return errSpread
	}
	err := write(ctx, rec)
	if !renew {
		l.a.acquired(l.shard, err == nil)
		if err != nil {
			l.a.log.Debug("shard taken by another replica first", "lease", l.Describe(), "error", err)
		}
	}
	return err
}

// compete runs for shard i's Lease until ctx ends: an elector tries to
// acquire it, and this replica reconciles the shard's clusters from the
// acquisition until the elector stops leading, when it stops at once; then
// a new elector tries again.
func (a *Applier) compete(ctx context.Context, i int) error {
	name := LeaseName(a.cfg.LeaseName, i)
	// The elector logs every refused acquisition as an error; the lock
	// logs what is worth it instead.
	quiet := klog.NewContext(ctx, logr.Discard())
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: &lock{shard: i, a: a, Interface: &resourcelock.LeaseLock{
				LeaseMeta:  metav1.ObjectMeta{Namespace: a.cfg.Namespace, Name: name},
				Client:     a.cfg.Leases,
				LockConfig: resourcelock.ResourceLockConfig{Identity: a.cfg.Identity},
			}},
			LeaseDuration:   a.cfg.LeaseDuration,
			RenewDeadline:   a.cfg.RenewDeadline,
			RetryPeriod:     a.cfg.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            name,
			Callbacks: leaderelection.LeaderCallbacks{
				// The lock saw the acquisition already; Run calls
				// OnStoppedLeading before it returns, where
				// OnStartedLeading runs on a goroutine of its own.
				OnStartedLeading: func(context.Context) {},
				OnStoppedLeading: func() { a.lost(i) },
			},
		})
		if err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
		}
		elector.Run(quiet)
		if ctx.Err() == nil {
			// A replica that just lost a shard, likely its connection to
			// the Lease's cluster, lets the others have it first.
			t := time.NewTimer(a.cfg.RetryPeriod)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	return nil
}
