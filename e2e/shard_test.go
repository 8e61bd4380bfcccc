package e2e

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/reconciler/shard"
)

// TestShardsSplitTheSitesAcrossReplicasAndFailOver runs three replicas of
// "tandem serve --shards 3" over a cloud and 12 sites: every site
// converges, each replica holds a shard, every replica's status shows
// every site and who holds it, and when a replica dies the others take its
// shard over and roll out the next commit, wave by wave, on every site.
func TestShardsSplitTheSitesAcrossReplicasAndFailOver(t *testing.T) {
	const shards, sites = 3, 12
	const leaseDuration = 3 * time.Second
	e := newLightFleet(t, sites, fleetOptions{DaemonArgs: []string{
		"--interval", "1s", // the webhook reaches only the first replica
		"--shards", fmt.Sprint(shards), "--leader-elect-context", "cloud",
		"--leader-elect-lease-duration", leaseDuration.String(), "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms",
		"--shard-observe-interval", "1s",
	}})
	ctx := context.Background()
	cloud := e.clients["cloud"]
	if err := cloud.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tandem-system"}}); err != nil {
		t.Fatal(err)
	}
	replicas := []*fleetEnv{e, e.replica(), e.replica()}
	for _, r := range replicas {
		r.startDaemon()
	}
	head := e.head()
	ids := map[string]*fleetEnv{}
	for _, r := range replicas {
		st := r.waitConverged(head, time.Minute)
		ids[st.Replica] = r
	}
	if len(ids) != len(replicas) || ids[""] != nil {
		t.Fatalf("replica identities %q, want three", slices.Collect(maps.Keys(ids)))
	}

	// Every replica sees every site, where it belongs, held by one of
	// the three; each holds a shard.
	var owners map[string]string
	for _, r := range replicas {
		st, err := r.status()
		if err != nil {
			t.Fatal(err)
		}
		byCluster := placements(t, st, shards)
		if len(byCluster) != 1+sites {
			t.Errorf("replica %s shows %d clusters, want %d", st.Replica, len(byCluster), 1+sites)
		}
		if owners == nil {
			owners = byCluster
		} else if !maps.Equal(owners, byCluster) {
			t.Errorf("replica %s says the clusters are held by\n%v\nthe first by\n%v", st.Replica, byCluster, owners)
		}
	}
	for id := range ids {
		if !slices.Contains(slices.Collect(maps.Values(owners)), id) {
			t.Errorf("replica %s holds no site: %v", id, owners)
		}
	}
	out, err := exec.Command(tandemBin, "status", "--server", "http://"+replicas[1].listen).CombinedOutput()
	if err != nil {
		t.Fatalf("tandem status: %v\n%s", err, out)
	}
	for cluster, owner := range owners {
		if !lineNames(string(out), cluster, owner) {
			t.Errorf("tandem status shows no line for %s held by %s:\n%s", cluster, owner, out)
		}
	}

	// The first replica dies without releasing its Leases: the others
	// take its shards once they expire.
	dead := replicas[0]
	deadID := identityOf(ids, dead)
	killed := time.Now()
	dead.stopDaemon(syscall.SIGKILL)
	e.eventually(4*leaseDuration, "the dead replica's shards taken over", func() error {
		for i := range shards {
			if holder := shardHolder(t, cloud, i); holder == "" || holder == deadID {
				return fmt.Errorf("shard %d held by %q", i, holder)
			}
		}
		return nil
	})
	t.Logf("the shards of the replica killed were taken over %s after it died (lease duration %s)",
		time.Since(killed).Round(100*time.Millisecond), leaseDuration)

	// The next commit rolls out in two waves whose canaries are on
	// shards 0 and 1: the second wave waits for both, whoever holds them.
	// The holder of shard 2 holds at most one of them now, so it releases
	// its sites only once it read the other canary's parent.
	canaries := []string{siteOn(t, 0, shards, sites), siteOn(t, 1, shards, sites)}
	for _, c := range canaries {
		e.edit("sites/"+c+".yaml", func(s string) string { return strings.Replace(s, "{tier: edge}", "{tier: edge, ring: canary}", 1) })
	}
	e.edit("tandem.yaml", func(s string) string {
		return s + "  rollout:\n    waves:\n    - {matchLabels: {ring: canary}}\n    - {}\n"
	})
	e.edit("tiers/edge/objects.yaml", func(s string) string {
		return strings.Replace(s, `generation: "0"`, `generation: "1"`, 1)
	})
	head = e.commitAndPush("Roll out the new settings, canaries first")
	for _, r := range replicas[1:] {
		st := r.waitConverged(head, time.Minute)
		if len(st.Rollouts) != 1 || st.Rollouts[0].Waves != 2 || !st.Rollouts[0].Complete {
			t.Errorf("replica %s: rollouts %+v, want one of two waves, complete", st.Replica, st.Rollouts)
		}
		for cluster, owner := range placements(t, st, shards) {
			if owner == deadID {
				t.Errorf("replica %s shows %s held by the dead replica", st.Replica, cluster)
			}
		}
	}
	for i := 1; i <= sites; i++ {
		site := fmt.Sprintf("site-%02d", i)
		cm := &corev1.ConfigMap{}
		if err := e.clients[site].Get(ctx, client.ObjectKey{Namespace: "bench-edge", Name: "settings"}, cm); err != nil {
			t.Fatalf("%s: %v", site, err)
		}
		if cm.Data["generation"] != "1" {
			t.Errorf("%s runs generation %q, want 1", site, cm.Data["generation"])
		}
	}
}

// placements returns the replica holding each cluster of st, checking
// that each is on the shard its name hashes to, the cloud on shard 0.
func placements(t *testing.T, st daemon.Status, shards int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ts := range st.Targets {
		want := shard.Of(ts.Cluster, shards)
		if ts.Cluster == "cloud" {
			want = 0
		}
		if ts.Shard == nil || *ts.Shard != want {
			t.Errorf("replica %s: %s/%s on %s in shard %v, want %d", st.Replica, ts.Solution, ts.Tier, ts.Cluster, ts.Shard, want)
		}
		if ts.Owner == "" {
			t.Errorf("replica %s: %s/%s on %s held by nobody", st.Replica, ts.Solution, ts.Tier, ts.Cluster)
		}
		out[ts.Cluster] = ts.Owner
	}
	return out
}

// lineNames reports whether a line of out names cluster and owner as
// words.
func lineNames(out, cluster, owner string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		fields := strings.Fields(line)
		if slices.Contains(fields, cluster) && slices.Contains(fields, owner) {
			return true
		}
	}
	return false
}

func identityOf(ids map[string]*fleetEnv, r *fleetEnv) string {
	for id, env := range ids {
		if env == r {
			return id
		}
	}
	return ""
}

// siteOn returns a site of the bench fleet on shard i.
func siteOn(t *testing.T, i, shards, sites int) string {
	t.Helper()
	for j := 1; j <= sites; j++ {
		if name := fmt.Sprintf("site-%02d", j); shard.Of(name, shards) == i {
			return name
		}
	}
	t.Fatalf("no site on shard %d", i)
	return ""
}

func shardHolder(t *testing.T, kube client.Client, i int) string {
	t.Helper()
	lease := &coordinationv1.Lease{}
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: "tandem-system", Name: shard.LeaseName("tandem", i)}, lease); err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}
