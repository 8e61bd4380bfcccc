package e2e

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/renderer"
)

// TestDemoGuideWorksAsPrinted starts the demo as "make demo" does, follows
// its guide by running the printed commands exactly, and checks that the
// edge sites follow the scale change by the linked-scaling formula, that the
// rollback returns them, and that stopping the demo leaves nothing behind.
func TestDemoGuideWorksAsPrinted(t *testing.T) {
	dir := t.TempDir()
	state, ready := filepath.Join(dir, "demo"), filepath.Join(dir, "guide.txt")
	var out strings.Builder
	demo := exec.Command(demoBin, "up", "--dir", state, "--tandem", tandemBin,
		"--fixture", "../fixtures/smart-factory", "--ready-file", ready)
	demo.Stdout, demo.Stderr = &out, &out
	demo.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- demo.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			demo.Process.Signal(syscall.SIGTERM)
			<-exited
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	}()

	guide := waitForFile(t, ready, exited, 3*time.Minute)
	sections := guideSections(guide)
	statusURL := regexp.MustCompile(`status\s+(http://\S+)`).FindStringSubmatch(guide)
	if statusURL == nil {
		t.Fatalf("the guide names no status URL:\n%s", guide)
	}
	console := regexp.MustCompile(`console\s+(http://\S+/console/)\s+\(user (\S+), password (\S+)\)`).FindStringSubmatch(guide)
	if console == nil {
		t.Fatalf("the guide names no console URL and credentials:\n%s", guide)
	}
	assertConsoleSignIn(t, console[1], console[2], console[3])
	for _, want := range []string{"Set up a shell", "Change the scale factor", "Review a change", "Roll back", "Stop"} {
		if len(sections[want]) == 0 {
			t.Fatalf("the guide has no commands under %q:\n%s", want, guide)
		}
	}

	runGuide(t, sections["Set up a shell"])
	runGuide(t, sections["Set up a shell"][:1], sections["Change the scale factor"]...)
	work := filepath.Join(state, "work")
	scaled := gitHead(t, work)
	waitDemoConverged(t, statusURL[1], scaled)
	assertReplicasFollowScale(t, filepath.Join(state, "clusters", "kubeconfig"), work, 5)

	diff := runGuide(t, sections["Set up a shell"][:1], sections["Review a change"]...)
	if !strings.Contains(diff, "scale 3 → 5") {
		t.Errorf("tandem diff does not show the scale change:\n%s", diff)
	}

	runGuide(t, sections["Set up a shell"][:1], sections["Roll back"]...)
	waitDemoConverged(t, statusURL[1], gitHead(t, work))
	assertReplicasFollowScale(t, filepath.Join(state, "clusters", "kubeconfig"), work, 3)

	demo.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("demo exited with %v after Ctrl-C", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("demo did not stop within 90s of Ctrl-C")
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("demo state %s is still there after stopping (%v)", state, err)
	}
	if left, _ := exec.Command("pgrep", "-af", state).Output(); len(left) > 0 {
		t.Errorf("processes left behind by the demo:\n%s", left)
	}
}

// assertConsoleSignIn checks that the console answers its sign-in page and
// lets the guide's operator in.
func assertConsoleSignIn(t *testing.T, console, user, password string) {
	t.Helper()
	resp, err := http.Get(console + "login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %slogin answered %s, want 200", console, resp.Status)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.PostForm(console+"login", url.Values{"user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
		t.Errorf("signing in as %s with the guide's password answered %s with %d cookie(s), want 303 and a session", user, resp.Status, len(resp.Cookies()))
	}
}

// guideSections maps each "## " heading of the guide to its "  $ " commands.
func guideSections(guide string) map[string][]string {
	sections := map[string][]string{}
	heading := ""
	for _, line := range strings.Split(guide, "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			heading = strings.TrimPrefix(line, "## ")
		case strings.HasPrefix(line, "  $ "):
			sections[heading] = append(sections[heading], strings.TrimPrefix(line, "  $ "))
		}
	}
	return sections
}

// runGuide runs the commands in one shell, each exactly as printed, and
// fails the test for any that exits non-zero; "tandem status" may exit 1,
// which it does while a target is not Ready yet.
func runGuide(t *testing.T, setup []string, commands ...string) string {
	t.Helper()
	var script strings.Builder
	all := append(append([]string{}, setup...), commands...)
	for i, c := range all {
		fmt.Fprintf(&script, "%s\necho \"@@ rc $? line %d\"\n", c, i)
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = t.TempDir()
	// A machine without a global Git identity: env.sh provides one.
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, _ := cmd.CombinedOutput()
	rcs := regexp.MustCompile(`@@ rc (\d+) line (\d+)`).FindAllStringSubmatch(string(out), -1)
	if len(rcs) != len(all) {
		t.Fatalf("ran %d of %d commands:\n%s", len(rcs), len(all), out)
	}
	for _, m := range rcs {
		var line int
		fmt.Sscan(m[2], &line)
		if m[1] != "0" && !(m[1] == "1" && strings.HasPrefix(all[line], "tandem status")) {
			t.Fatalf("%q exited %s:\n%s", all[line], m[1], out)
		}
	}
	return string(out)
}

func gitHead(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// waitDemoConverged waits until the demo's daemon shows every target Ready
// at commit.
func waitDemoConverged(t *testing.T, statusURL, commit string) {
	t.Helper()
	poll(t, 2*time.Minute, 250*time.Millisecond, "the demo converged at "+commit[:8], func() error {
		st, err := fetchStatus(statusURL)
		return cmp.Or(err, converged(st, commit))
	})
}

// assertReplicasFollowScale checks every replica rule of the clone's
// solution on every cluster against the linked-scaling preview at scale.
func assertReplicasFollowScale(t *testing.T, kubeconfig, work string, scale float64) {
	t.Helper()
	cfg, err := renderer.Load(context.Background(), os.DirFS(work))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Solutions) != 1 {
		t.Fatalf("%d solutions in the demo repository, want 1", len(cfg.Solutions))
	}
	sol := cfg.Solutions[0]
	if sol.Spec.Scale != scale {
		t.Fatalf("the repository's scale is %v, want %v", sol.Spec.Scale, scale)
	}
	want, err := sol.Replicas(scale, cfg.Sites)
	if err != nil {
		t.Fatal(err)
	}
	res, err := renderer.Render(context.Background(), os.DirFS(work), renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		obj := findWorkload(res, w.Cluster, w.Tier, w.Workload)
		if obj == nil {
			t.Errorf("no workload %s of tier %s rendered for %s", w.Workload, w.Tier, w.Cluster)
			continue
		}
		kube := clusterClient(t, kubeconfig, w.Cluster)
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(obj.GroupVersionKind())
		if err := kube.Get(context.Background(), client.ObjectKeyFromObject(obj), live); err != nil {
			t.Errorf("%s: %v", w.Cluster, err)
			continue
		}
		replicas, _, _ := unstructured.NestedInt64(live.Object, "spec", "replicas")
		if replicas != int64(w.Replicas) {
			t.Errorf("%s %s on %s: %d replicas, want %d (scale %v)", obj.GetKind(), w.Workload, w.Cluster, replicas, w.Replicas, scale)
		}
	}
}

func findWorkload(res *renderer.Result, cluster, tier, name string) *unstructured.Unstructured {
	for _, t := range res.Targets {
		if t.Cluster != cluster || t.Tier != tier {
			continue
		}
		for _, o := range t.Objects {
			if o.GetName() == name && (o.GetKind() == "Deployment" || o.GetKind() == "StatefulSet") {
				return o
			}
		}
	}
	return nil
}

func clusterClient(t *testing.T, kubeconfig, name string) client.Client {
	t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: name}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	kube, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return kube
}

// waitForFile waits for path to appear and returns its content; the demo
// exiting first fails the test.
func waitForFile(t *testing.T, path string, exited <-chan error, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if data, err := os.ReadFile(path); err == nil {
			return string(data)
		}
		select {
		case err := <-exited:
			t.Fatalf("demo exited before it was ready: %v", err)
		case <-deadline:
			t.Fatalf("demo not ready after %s", timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
