package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// leaderFlags configure Lease-based leader election, so that several
// replicas of "tandem serve" can run and exactly one reconciles.
type leaderFlags struct {
	enabled       bool
	namespace     string
	name          string
	context       string
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
}

func (l *leaderFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&l.enabled, "leader-elect", false, "run only while holding a Lease, so that one of several replicas reconciles")
	f.StringVar(&l.namespace, "leader-elect-namespace", applyset.Namespace, "namespace of the leader election Lease")
	f.StringVar(&l.name, "leader-elect-lease", "tandem", "name of the leader election Lease")
	f.StringVar(&l.context, "leader-elect-context", "", "kubeconfig context of the cluster holding the Lease (default: the cluster tandem runs in)")
	f.DurationVar(&l.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long a lost leader's Lease blocks the others")
	f.DurationVar(&l.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader retries renewing before it gives up")
	f.DurationVar(&l.retryPeriod, "leader-elect-retry-period", 2*time.Second, "how often candidates try to acquire or renew the Lease")
}

// errLeadershipLost ends a leader that stopped holding the Lease: it exits,
// to be restarted as a candidate, rather than reconcile beside a new leader.
var errLeadershipLost = errors.New("leader election lost")

// run calls fn, once this process leads when leader election is on, and
// returns when fn returns, ctx ends or leadership is lost.
func (l *leaderFlags) run(parent context.Context, kubeconfig string, log *slog.Logger, fn func(context.Context) error) error {
	if !l.enabled {
		return fn(parent)
	}
	cfg, err := l.restConfig(kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("leader election client: %w", err)
	}
	// A Lease cannot be created in a namespace that does not exist, and the
	// elector would retry that forever.
	if _, err := client.CoreV1().Namespaces().Get(parent, l.namespace, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("leader election: namespace of the Lease: %w (create it, or set --leader-elect-namespace)", err)
	}
	id, err := identity()
	if err != nil {
		return err
	}
	// fn runs at most once, only while leading, and not after Run has
	// returned; its end ends the election too, releasing the Lease.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		mu      sync.Mutex
		stopped bool
		running sync.WaitGroup
		result  error
		led     bool
	)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: l.namespace, Name: l.name},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		LeaseDuration:   l.leaseDuration,
		RenewDeadline:   l.renewDeadline,
		RetryPeriod:     l.retryPeriod,
		ReleaseOnCancel: true,
		Name:            l.name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leading context.Context) {
				mu.Lock()
				if stopped {
					mu.Unlock()
					return
				}
				led = true
				running.Add(1)
				mu.Unlock()
				defer running.Done()
				log.Info("leading", "lease", l.namespace+"/"+l.name, "identity", id)
				err := fn(leading)
				if leading.Err() != nil && parent.Err() == nil {
					err = errLeadershipLost // the elector ended fn: the Lease is gone
				}
				mu.Lock()
				result = err
				mu.Unlock()
				cancel()
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(leader string) {
				if leader != id {
					log.Info("standing by", "lease", l.namespace+"/"+l.name, "leader", leader)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	log.Info("waiting for leadership", "lease", l.namespace+"/"+l.name, "identity", id)
	// Run returns when ctx ends, fn returned or the Lease was lost; each
	// ends fn's context.
	elector.Run(ctx)
	mu.Lock()
	stopped = true
	mu.Unlock()
	running.Wait()
	mu.Lock()
	defer mu.Unlock()
	if !led {
		return nil // ctx ended before this process led
	}
	return result
}

func (l *leaderFlags) restConfig(kubeconfig string) (*rest.Config, error) {
	if l.context == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("--leader-elect or --shards outside a cluster needs --leader-elect-context: %w", err)
		}
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: l.context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("--leader-elect-context %s: %w", l.context, err)
	}
	return cfg, nil
}

// identity names this candidate: the host (a Pod's name) and a random
// suffix, so that a restarted process is a new candidate.
func identity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("leader election identity: %w", err)
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", err
	}
	return host + "_" + hex.EncodeToString(suffix), nil
}
