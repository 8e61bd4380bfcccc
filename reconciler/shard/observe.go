package shard

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/renderer"
)

// observeConcurrency bounds the clusters of other shards read at once.
const observeConcurrency = 8

// observeOthers reads, every ObserveInterval and whenever the targets
// change, the ApplySet parents of the clusters of the shards this replica
// does not hold, and sends a result for each tier whose record changed.
func (a *Applier) observeOthers(ctx context.Context, results chan<- reconciler.Result) error {
	sent := map[reconciler.Key]reconciler.Result{}
	ticker := time.NewTicker(a.cfg.ObserveInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		case <-a.observe:
		}
		a.mu.Lock()
		_, others := split(a.targets, a.shardOf, a.own.held)
		a.mu.Unlock()
		read := a.readAll(ctx, others)
		keep := map[reconciler.Key]bool{}
		for _, res := range read {
			keep[res.Key] = true
			if same(sent[res.Key], res) {
				continue
			}
			select {
			case results <- res:
				sent[res.Key] = res
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for k := range sent {
			if !keep[k] {
				delete(sent, k)
			}
		}
	}
}

// same reports whether two results say the same of a tier.
func same(a, b reconciler.Result) bool {
	return a.Key == b.Key && a.Revision == b.Revision && a.Phase == b.Phase && a.Message == b.Message &&
		a.Finished.IsZero() == b.Finished.IsZero()
}

// readAll reads the parents of every target's cluster, a few clusters at
// once, and returns what they say of the targets' tiers. A cluster that
// cannot be read says nothing: its holder reports it.
func (a *Applier) readAll(ctx context.Context, targets []reconciler.Target) []reconciler.Result {
	out := make([][]reconciler.Result, len(targets))
	var g errgroup.Group
	g.SetLimit(observeConcurrency)
	for i, t := range targets {
		g.Go(func() error {
			rctx, cancel := context.WithTimeout(ctx, a.cfg.ObserveInterval)
			defer cancel()
			records, err := a.read(rctx, t.Cluster)
			if err != nil {
				a.log.Debug("cannot read the ApplySet parents of a cluster of another shard", "cluster", t.Cluster, "error", err)
				return nil
			}
			out[i] = observed(t, records, a.cfg.Instance, a.holderOf(t.Cluster), time.Now())
			return nil
		})
	}
	g.Wait()
	var all []reconciler.Result
	for _, res := range out {
		all = append(all, res...)
	}
	return all
}

// read lists the ApplySet parents of cluster.
func (a *Applier) read(ctx context.Context, cluster string) ([]applyset.Record, error) {
	cfg, err := a.cfg.Resolver.Resolve(ctx, cluster)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cluster, err)
	}
	list, err := client.CoreV1().Secrets(applyset.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: applyset.IDLabel + "," + renderer.LabelSolution,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: list ApplySet parents: %w", cluster, err)
	}
	records := make([]applyset.Record, 0, len(list.Items))
	for i := range list.Items {
		records = append(records, applyset.Read(&list.Items[i]))
	}
	return records, nil
}

// observed returns what the records of instance on t's cluster say of the
// tiers of t, which holder applies: a final result at the tier's revision
// once its parent records that revision with a final phase, and a
// Progressing one, not final, while it waits for health there or records
// another revision. A tier with no parent yet has no
// result: it stays Pending.
func observed(t reconciler.Target, records []applyset.Record, instance, holder string, now time.Time) []reconciler.Result {
	byTier := map[[2]string]applyset.Record{}
	for _, r := range records {
		if r.Owner == instance {
			byTier[[2]string{r.Solution, r.Tier}] = r
		}
	}
	var out []reconciler.Result
	for _, ts := range t.Tiers {
		rec, ok := byTier[[2]string{ts.Solution, ts.Tier}]
		if !ok {
			continue
		}
		res := reconciler.Result{Key: reconciler.KeyOf(t.Cluster, ts), Revision: ts.Revision, Started: now}
		if rec.Revision == ts.Revision && rec.Phase != "" {
			res.Phase = reconciler.Phase(rec.Phase)
			if res.Phase != reconciler.PhaseProgressing {
				res.Finished = now
			}
			res.Message = "applied by " + holder
			if rec.Message != "" {
				res.Message += ": " + rec.Message
			}
		} else {
			res.Phase = reconciler.PhaseProgressing
			res.Message = fmt.Sprintf("applied by %s; the cluster runs %s", holder, recorded(rec))
		}
		out = append(out, res)
	}
	return out
}

// recorded says what a record says the cluster runs.
func recorded(r applyset.Record) string {
	if r.Revision == "" {
		return "no revision in full yet"
	}
	return fmt.Sprintf("%s, %s", r.Revision, r.Phase)
}
