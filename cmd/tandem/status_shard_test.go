package main

import (
	"testing"
	"time"
)

// TestStatusFromAShardedServerNamesEachClustersReplica reads a replica of
// a fleet in shards: every row says the cluster's shard and the replica
// holding it, none while nobody does.
func TestStatusFromAShardedServerNamesEachClustersReplica(t *testing.T) {
	st := daemonStatus(time.Now())
	st.Replica = "tandem-7d9f-1_ab12cd34"
	owners := []string{"tandem-7d9f-1_ab12cd34", "tandem-7d9f-2_99ee0011", ""}
	for i := range st.Targets {
		shard := i
		st.Targets[i].Shard, st.Targets[i].Owner = &shard, owners[i]
	}
	stdout, _, err := run(t, "status", "--server", serveStatus(t, st))
	if exitStatus(err) != exitFailure {
		t.Errorf("exit %d, %v; want exit 1 for the target not Ready", exitStatus(err), err)
	}
	golden(t, "status-sharded.txt", stdout)

	report := statusJSON(t, exitFailure, "--server", serveStatus(t, st))
	for i, r := range report.Targets {
		if r.Shard == nil || *r.Shard != i || r.Replica != owners[i] {
			t.Errorf("JSON row %d: shard %v replica %q, want %d %q", i, r.Shard, r.Replica, i, owners[i])
		}
	}
}
