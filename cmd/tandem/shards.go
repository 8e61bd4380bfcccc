package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/reconciler/shard"
)

// shardFlags split the fleet across replicas of "tandem serve": each holds
// the Leases of some of --shards shards and reconciles their clusters. The
// Leases live where --leader-elect's does, with its timing.
type shardFlags struct {
	shards          int
	observeInterval time.Duration
	// enabled is set when --shards is given, whatever its value.
	enabled bool
}

func (s *shardFlags) register(f *pflag.FlagSet) {
	f.IntVar(&s.shards, "shards", 1, "split the sites across replicas in `N` shards, each a Lease <lease>-shard-<i> (see --leader-elect-*); a replica reconciles the sites of the shards it holds")
	f.DurationVar(&s.observeInterval, "shard-observe-interval", 10*time.Second, "with --shards, how often to read the ApplySet parents of the sites other replicas hold, for the rollout's waves and status")
}

// check validates the flags once parsed; changed says whether --shards was
// given.
func (s *shardFlags) check(changed bool, leader *leaderFlags) error {
	s.enabled = changed
	switch {
	case !s.enabled:
		return nil
	case leader.enabled:
		return fmt.Errorf("--shards and --leader-elect exclude each other: with --shards every replica reconciles the shards it holds")
	}
	return nil
}

// applier returns the reconciler, wrapped, when --shards is given, in an
// Applier that hands it only the targets of the shards this replica holds.
func (s *shardFlags) applier(ctx context.Context, r *reconciler.Reconciler, resolver clusters.Resolver,
	leader *leaderFlags, kubeconfig, instance string, log *slog.Logger) (daemon.Applier, error) {
	if !s.enabled {
		return r, nil
	}
	cfg, err := leader.restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("shard Leases client: %w", err)
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, leader.namespace, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("shards: namespace of the Leases: %w (create it, or set --leader-elect-namespace)", err)
	}
	id, err := identity()
	if err != nil {
		return nil, err
	}
	log.Info("competing for shards", "shards", s.shards, "leases", leader.namespace+"/"+shard.LeaseName(leader.name, 0)+"…", "identity", id)
	return shard.New(r, shard.Config{
		Shards:          s.shards,
		Identity:        id,
		Leases:          client.CoordinationV1(),
		Namespace:       leader.namespace,
		LeaseName:       leader.name,
		LeaseDuration:   leader.leaseDuration,
		RenewDeadline:   leader.renewDeadline,
		RetryPeriod:     leader.retryPeriod,
		Resolver:        resolver,
		ObserveInterval: s.observeInterval,
		Instance:        instance,
		Logger:          log,
	}), nil
}
