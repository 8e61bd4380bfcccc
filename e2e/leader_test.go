package e2e

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

// TestLeaderElectionLetsOneReplicaReconcileAndFailsOver runs two replicas of
// "tandem serve" with leader election: one reconciles while the other stands
// by, and when the leader dies the other takes over and applies what is
// pushed next.
func TestLeaderElectionLetsOneReplicaReconcileAndFailsOver(t *testing.T) {
	e := newLightFleet(t, 0, fleetOptions{DaemonArgs: []string{
		"--interval", "1s", // the webhook reaches only the first replica
		"--leader-elect", "--leader-elect-context", "cloud",
		"--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms",
	}})
	ctx := context.Background()
	cloud := e.clients["cloud"]
	if err := cloud.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tandem-system"}}); err != nil {
		t.Fatal(err)
	}

	e.startDaemon()
	e.waitConverged(e.head(), time.Minute)
	standby := e.replica()
	standby.startDaemon()
	standby.eventually(30*time.Second, "the replica standing by", func() error {
		if !strings.Contains(testbed.TailFile(standby.logPath, 50), "standing by") {
			return errorf("no \"standing by\" in its log")
		}
		return nil
	})
	if code := httpStatus(t, "http://"+standby.listen+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("the standby's /readyz answers %d, want 503 (it fetches nothing)", code)
	}
	leader := leaseHolder(t, cloud)

	e.stopDaemon(syscall.SIGKILL) // no chance to release the Lease
	e.edit("tiers/cloud/objects.yaml", func(s string) string {
		return strings.Replace(s, `generation: "0"`, `generation: "1"`, 1)
	})
	head := e.commitAndPush("Change the settings")
	standby.waitConverged(head, time.Minute)
	if now := leaseHolder(t, cloud); now == leader || now == "" {
		t.Errorf("the Lease is held by %q, want the standby instead of %q", now, leader)
	}
}

func leaseHolder(t *testing.T, kube client.Client) string {
	t.Helper()
	lease := &coordinationv1.Lease{}
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: "tandem-system", Name: "tandem"}, lease); err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
