package e2e

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/reconciler"
)

// TestModelRolloutSoaksOnTheCanaryHaltsOnFailureAndWaitsForWindows rolls
// new versions of the fixture's defect detector out to the three plants,
// with plant-a as the canary wave soaking 20s: the canary serves a bump
// first and the other plants only after the soak; a bump the canary cannot
// schedule halts the rollout naming plant-a's edge tier while the others
// keep the previous model, and "tandem rollout abort" (with a token, never
// without) brings the canary back; a plant whose maintenance window opens
// a minute from now waits for it, then updates.
func TestModelRolloutSoaksOnTheCanaryHaltsOnFailureAndWaitsForWindows(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	tokensFile := filepath.Join(dir, "api-tokens")
	const token = "e2e-rollout-token-0123456789"
	writeFiles(t, dir, map[string]string{"token": token + "\n", "api-tokens": "on-call:" + token + "\n"})
	e := newFleetEnvWith(t, []string{"cloud", "plant-a", "plant-b", "plant-c"}, "../fixtures/smart-factory",
		fleetOptions{DaemonArgs: []string{"--api-token-file", tokensFile}})
	server := "http://" + e.listen

	// The canary soaks 20s; the edge tier gives up on health after 30s
	// rather than the daemon's 2m, so an unschedulable canary fails soon.
	e.edit("tandem.yaml", func(s string) string {
		s = strings.Replace(s, "    - {matchLabels: {ring: canary}}\n", "    - {matchLabels: {ring: canary}, soak: 20s}\n", 1)
		return strings.Replace(s, "    dependsOn: [platform-edge]\n", "    dependsOn: [platform-edge]\n    health: {timeout: 30s}\n", 1)
	})
	initial := e.commitAndPush("Soak the canary for 20s; give up on edge health after 30s")
	e.startDaemon()
	const converge = 3 * time.Minute
	e.waitConverged(initial, converge)
	assertServing(t, e, "defect-detector", "1.4.0", "plant-a", "plant-b", "plant-c")

	var bumped string
	t.Run("a bump reaches the canary first and the other plants after the soak", func(t *testing.T) {
		e.t = t
		bumpModel(e, "1.4.0", "1.5.0")
		pushed := time.Now()
		bumped = e.commitAndPush("Roll defect-detector 1.5.0 out")
		poll(t, converge, 100*time.Millisecond, "plant-a serving defect-detector 1.5.0 on all its available pods", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			return servesOnly(st, "plant-a", "defect-detector", "1.5.0")
		})
		t.Logf("push → canary plant-a serving defect-detector 1.5.0 on all available pods: %s", time.Since(pushed).Round(10*time.Millisecond))

		var soaking daemon.Status
		e.eventually(30*time.Second, "the rollout soaking on the canary", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			ro, ok := rolloutOf(st, "smart-factory")
			if !ok || !strings.HasSuffix(ro.Revision, bumped) || ro.State != daemon.RolloutSoaking || ro.Wave != 1 {
				return errorf("rollouts %+v", st.Rollouts)
			}
			soaking = st
			return nil
		})
		for _, site := range []string{"plant-b", "plant-c"} {
			if err := servesOnly(soaking, site, "defect-detector", "1.4.0"); err != nil {
				t.Errorf("while the canary soaks: %v", err)
			}
			if ts, _ := targetOf(soaking, "smart-factory", "edge", site); strings.HasSuffix(ts.DesiredRevision, bumped) {
				t.Errorf("%s given %s while the canary soaks", site, ts.DesiredRevision)
			}
		}
		families, err := e.metrics()
		if err != nil {
			t.Fatal(err)
		}
		for site, version := range map[string]string{"plant-a": "1.5.0", "plant-b": "1.4.0", "plant-c": "1.4.0"} {
			labels := map[string]string{"solution": "smart-factory", "site": site, "model": "defect-detector", "version": version}
			if v, found := metricValue(families, "tandem_model_serving_pods", labels); !found || v < 1 {
				t.Errorf("tandem_model_serving_pods%v = %v (found %v) while the canary soaks, want ≥ 1", labels, v, found)
			}
		}
		t.Logf("tandem status models --server, the canary soaking:\n%s", tandemOutput(t, "status", "models", "--server", server))
		t.Logf("tandem rollout status --server, the canary soaking:\n%s", tandemOutput(t, "rollout", "status", "--server", server))

		e.waitConverged(bumped, converge)
		e.eventually(converge, "every plant serving defect-detector 1.5.0, the rollout Complete", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			for _, site := range []string{"plant-a", "plant-b", "plant-c"} {
				if err := servesOnly(st, site, "defect-detector", "1.5.0"); err != nil {
					return err
				}
			}
			if ro, ok := rolloutOf(st, "smart-factory"); !ok || !strings.HasSuffix(ro.Revision, bumped) || ro.State != daemon.RolloutComplete || !ro.Complete {
				return errorf("rollouts %+v", st.Rollouts)
			}
			return nil
		})
		t.Logf("tandem status models --server, the rollout complete:\n%s", tandemOutput(t, "status", "models", "--server", server))
	})

	t.Run("a canary that cannot become Available halts the rollout and an abort brings it back", func(t *testing.T) {
		e.t = t
		if bumped == "" {
			t.Fatal("the first bump did not roll out")
		}
		// Only plant-a's inference asks for a node that no cluster has.
		e.edit("sites/plant-a.yaml", func(s string) string { return s + "  overlay: sites/plant-a\n" })
		writeFiles(t, e.clone, map[string]string{
			"sites/plant-a/edge/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
				"resources:\n- ../../../tiers/edge\npatches:\n- path: unschedulable.yaml\n",
			"sites/plant-a/edge/unschedulable.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: inference\n  namespace: factory-edge\n" +
				"spec:\n  template:\n    spec:\n      nodeSelector: {tandem.dev/e2e: no-such-node}\n",
		})
		bumpModel(e, "1.5.0", "1.6.0")
		broken := e.commitAndPush("Roll defect-detector 1.6.0 out, unschedulable on plant-a")
		var halted daemon.RolloutStatus
		poll(t, 2*time.Minute, 100*time.Millisecond, "the rollout halted at plant-a's edge tier", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			ro, ok := rolloutOf(st, "smart-factory")
			if !ok || !strings.HasSuffix(ro.Revision, broken) || ro.State != daemon.RolloutHalted || !strings.Contains(ro.Halted, "edge on plant-a Failed") {
				return errorf("rollouts %+v", st.Rollouts)
			}
			halted = ro
			return nil
		})
		t.Logf("halted: %s", halted.Halted)
		// The failed canary is retried, Progressing while it waits for
		// health again: the rollout stays halted, since its first failure.
		poll(t, 2*time.Minute, 100*time.Millisecond, "plant-a's edge tier retried", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			if ts, _ := targetOf(st, "smart-factory", "edge", "plant-a"); ts.Phase != "Progressing" {
				return errorf("plant-a edge is %s", ts.Phase)
			}
			if ro, _ := rolloutOf(st, "smart-factory"); ro.State != daemon.RolloutHalted || ro.Halted != halted.Halted {
				t.Errorf("while plant-a retries, the rollout is %s (%q), want still halted with %q", ro.State, ro.Halted, halted.Halted)
			}
			return nil
		})
		t.Logf("tandem status models --server, the rollout halted:\n%s", tandemOutput(t, "status", "models", "--server", server))
		st, err := e.status()
		if err != nil {
			t.Fatal(err)
		}
		for _, site := range []string{"plant-b", "plant-c"} {
			if err := servesOnly(st, site, "defect-detector", "1.5.0"); err != nil {
				t.Errorf("the rollout halted: %v", err)
			}
			if ts, _ := targetOf(st, "smart-factory", "edge", site); !strings.HasSuffix(ts.AppliedRevision, bumped) || ts.Phase != "Ready" {
				t.Errorf("%s edge is %s at %s, want Ready at %s", site, ts.Phase, ts.AppliedRevision, bumped)
			}
		}

		// Without a token, neither the CLI nor a bare POST may abort.
		abort := exec.Command(tandemBin, "rollout", "abort", "smart-factory", "--server", server)
		abort.Env = append(os.Environ(), "TANDEM_TOKEN=")
		out, err := abort.CombinedOutput()
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("tandem rollout abort without a token: %v, want exit 2\n%s", err, out)
		}
		resp, err := http.Post(server+"/api/v1/rollouts/smart-factory/abort", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST abort without a token: %s, want 401", resp.Status)
		}
		if ro, _ := rolloutOf(mustStatus(t, e), "smart-factory"); ro.State == daemon.RolloutAborted {
			t.Fatal("the rollout was aborted without a token")
		}

		out, err = exec.Command(tandemBin, "rollout", "abort", "smart-factory", "--server", server, "--token-file", tokenFile).CombinedOutput()
		if err != nil {
			t.Fatalf("tandem rollout abort --token-file: %v\n%s", err, out)
		}
		t.Logf("tandem rollout abort:\n%s", out)
		e.eventually(converge, "plant-a back at the previous revision, serving defect-detector 1.5.0", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			if ro, ok := rolloutOf(st, "smart-factory"); !ok || ro.State != daemon.RolloutAborted {
				return errorf("rollouts %+v", st.Rollouts)
			}
			ts, _ := targetOf(st, "smart-factory", "edge", "plant-a")
			if ts.Phase != "Ready" || !strings.HasSuffix(ts.AppliedRevision, bumped) {
				return errorf("plant-a edge %s at %s: %s", ts.Phase, ts.AppliedRevision, ts.Message)
			}
			return servesOnly(st, "plant-a", "defect-detector", "1.5.0")
		})
		st = mustStatus(t, e)
		for _, site := range []string{"plant-b", "plant-c"} {
			if err := servesOnly(st, site, "defect-detector", "1.5.0"); err != nil {
				t.Errorf("after the abort: %v", err)
			}
		}
	})

	t.Run("a plant outside its maintenance window waits for it, then updates", func(t *testing.T) {
		e.t = t
		if err := os.RemoveAll(filepath.Join(e.clone, "sites", "plant-a")); err != nil {
			t.Fatal(err)
		}
		e.edit("sites/plant-a.yaml", func(s string) string { return strings.Replace(s, "  overlay: sites/plant-a\n", "", 1) })
		// The window opens on a minute boundary late enough for the
		// canary to be done and soaked by then.
		opens := time.Now().UTC().Add(45 * time.Second)
		if truncated := opens.Truncate(time.Minute); truncated.Before(opens) {
			opens = truncated.Add(time.Minute)
		}
		e.edit("sites/plant-c.yaml", func(s string) string {
			return s + fmt.Sprintf("  windows:\n  - {schedule: \"%d %d * * *\", duration: 1h, timeZone: UTC}\n", opens.Minute(), opens.Hour())
		})
		bumpModel(e, "1.6.0", "1.7.0")
		windowed := e.commitAndPush(fmt.Sprintf("Roll defect-detector 1.7.0 out; plant-c updates in its window at %s", opens.Format("15:04")))
		want := "plant-c: waiting for its window, opens at " + opens.Format(time.RFC3339)
		e.eventually(time.Until(opens), "plant-c waiting for its window in the second wave", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			ro, ok := rolloutOf(st, "smart-factory")
			if !ok || !strings.HasSuffix(ro.Revision, windowed) || ro.Wave != 2 || len(ro.Waiting) != 1 || ro.Waiting[0] != want {
				return errorf("rollouts %+v, want waiting %q", st.Rollouts, want)
			}
			if err := servesOnly(st, "plant-c", "defect-detector", "1.5.0"); err != nil {
				return err
			}
			if ts, _ := targetOf(st, "smart-factory", "edge", "plant-c"); strings.HasSuffix(ts.DesiredRevision, windowed) {
				return errorf("plant-c given %s before its window", ts.DesiredRevision)
			}
			return nil
		})
		t.Logf("tandem rollout status --server, plant-c waiting:\n%s", tandemOutput(t, "rollout", "status", "--server", server))
		e.eventually(converge, "plant-b serving defect-detector 1.7.0 while plant-c waits", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			return servesOnly(st, "plant-b", "defect-detector", "1.7.0")
		})
		if err := servesOnly(mustStatus(t, e), "plant-c", "defect-detector", "1.5.0"); err != nil && time.Now().Before(opens) {
			t.Errorf("before its window: %v", err)
		}
		e.waitConverged(windowed, time.Until(opens)+converge)
		e.eventually(converge, "plant-c serving defect-detector 1.7.0 once its window opened, the rollout Complete", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			if err := servesOnly(st, "plant-c", "defect-detector", "1.7.0"); err != nil {
				return err
			}
			if ro, ok := rolloutOf(st, "smart-factory"); !ok || ro.State != daemon.RolloutComplete {
				return errorf("rollouts %+v", st.Rollouts)
			}
			return nil
		})
		ts, _ := targetOf(mustStatus(t, e), "smart-factory", "edge", "plant-c")
		if ts.LastReconcile == nil || ts.LastReconcile.Before(opens) {
			t.Errorf("plant-c's last pass ended at %v, before its window opened at %s", ts.LastReconcile, opens)
		}
	})
}

// bumpModel moves the fixture's defect detector from one version to
// another: the version, the path of its URI and a digest of its own.
func bumpModel(e *fleetEnv, from, to string) {
	e.t.Helper()
	digest := fmt.Sprintf("%x", sha256.Sum256([]byte("defect-detector "+to)))
	e.edit("tandem.yaml", func(s string) string {
		s = strings.Replace(s, `version: "`+from+`"`, `version: "`+to+`"`, 1)
		s = strings.Replace(s, "defect-detector/"+from+"/", "defect-detector/"+to+"/", 1)
		return regexp.MustCompile(`(?m)^    sha256: [0-9a-f]{64}$`).ReplaceAllString(s, "    sha256: "+digest)
	})
}

// servesOnly says why the edge tier on cluster does not serve version of
// model on every pod of its workload, all of them available, or nil.
func servesOnly(st daemon.Status, cluster, model, version string) error {
	ts, ok := targetOf(st, "smart-factory", "edge", cluster)
	if !ok {
		return errorf("no edge tier on %s", cluster)
	}
	for _, m := range ts.Models {
		if m.Model != model {
			continue
		}
		if len(m.Versions) != 1 || m.Versions[0] != (reconciler.VersionCount{Version: version, Pods: m.Versions[0].Pods, Available: m.Versions[0].Pods}) || m.Versions[0].Pods == 0 {
			return errorf("%s serves %s, want %s on every pod, all available", cluster, m, version)
		}
		return nil
	}
	return errorf("%s reports no %s among %v", cluster, model, ts.Models)
}

// assertServing fails the test unless every cluster serves version of model.
func assertServing(t *testing.T, e *fleetEnv, model, version string, clusters ...string) {
	t.Helper()
	e.eventually(time.Minute, "every plant serving "+model+" "+version, func() error {
		st, err := e.status()
		if err != nil {
			return err
		}
		for _, c := range clusters {
			if err := servesOnly(st, c, model, version); err != nil {
				return err
			}
		}
		return nil
	})
}

func mustStatus(t *testing.T, e *fleetEnv) daemon.Status {
	t.Helper()
	st, err := e.status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// tandemOutput runs the tandem binary and returns what it printed; an exit
// code of 1 (something not Ready) is part of what it says, not a failure.
func tandemOutput(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(tandemBin, args...).CombinedOutput()
	if ee := (*exec.ExitError)(nil); err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 1) {
		t.Fatalf("tandem %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
