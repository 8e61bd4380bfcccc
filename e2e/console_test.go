package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/tandem-gitops/tandem/renderer"
)

// consoleUsers are the console's users in the test: an operator and a
// viewer.
var consoleUsers = []struct{ name, password, role string }{
	{"ada", "ada-operator-password", "operator"},
	{"vic", "vic-viewer-password", "viewer"},
}

// writeConsoleUsers writes a users file as htpasswd -B and a role make it.
func writeConsoleUsers(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, u := range consoleUsers {
		hash, err := bcrypt.GenerateFromPassword([]byte(u.password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s:%s\n", u.name, hash, u.role)
	}
	path := filepath.Join(t.TempDir(), "console-users")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConsoleChangesTheScaleAsAGitCommitInTheBrowser drives the operations
// console in headless chromium against "tandem serve" on a cloud and three
// edge clusters: an operator previews smart-factory at scale 5 (exactly the
// replicas the linked-scaling function gives on every site), applies it as
// a one-line commit of their own that every site runs, and reverts it from
// the history; a push behind the console's back turns an apply into a new
// preview; a viewer and a form without its CSRF token cannot write.
func TestConsoleChangesTheScaleAsAGitCommitInTheBrowser(t *testing.T) {
	e := newFleetEnvWith(t, []string{"cloud", "plant-a", "plant-b", "plant-c"}, "../fixtures/smart-factory",
		fleetOptions{DaemonArgs: []string{"--console-users", writeConsoleUsers(t)}})
	e.startDaemon()
	const converge = 2 * time.Minute
	initial := e.head()
	e.waitConverged(initial, converge)
	cloudIngest := e.replicas("cloud", "Deployment", "factory-cloud", "ingest")
	edgeInference := e.replicas("plant-b", "Deployment", "factory-edge", "inference")

	console := "http://" + e.listen + "/console"
	solutionPage := console + "/solutions/smart-factory"
	b := newBrowser(t)
	signIn(b, console, "ada")

	t.Run("the fleet page shows every cluster's tiers", func(t *testing.T) {
		b.t, e.t = t, t
		b.open(console + "/")
		b.waitFor("every tier Ready on the fleet page",
			`(rows => rows.length > 0 && rows.every(r => r.querySelector(".phase-ready")))([...document.querySelectorAll("#clusters tr[data-cluster]")])`, converge)
		if got := b.text(`#solutions tr[data-solution="smart-factory"] td.scale`); got != "3" {
			t.Errorf("fleet page shows smart-factory at scale %q, want 3", got)
		}
		b.screenshot("console-fleet.png")
	})

	t.Run("a push behind the console's back makes apply a new preview", func(t *testing.T) {
		b.t, e.t = t, t
		preview(b, solutionPage, "4")
		e.edit("sites/plant-a.yaml", func(s string) string { return "# Plant A, Lyon.\n" + s })
		behind := e.commitAndPush("Describe plant A")
		status := b.navigate("apply scale 4", chromedp.Click(chromedp.ID("apply")))
		if status != 409 {
			t.Errorf("apply after a concurrent push answered %d, want 409", status)
		}
		if notice := b.text("#notice"); !strings.Contains(notice, "The configuration changed since you looked") {
			t.Errorf("notice %q does not say the configuration changed", notice)
		}
		if head := remoteHead(e); head != behind {
			t.Errorf("the remote is at %s after a refused apply, want %s: the console committed", head, behind)
		}
	})

	var scaled string
	t.Run("apply scale 5: a one-line commit by the operator that every site runs", func(t *testing.T) {
		b.t, e.t = t, t
		before := remoteHead(e)
		preview(b, solutionPage, "5")
		checkPreviewRows(t, b, e.clone, 3, 5)
		b.screenshot("console-preview.png")

		if status := b.navigate("apply scale 5", chromedp.Click(chromedp.ID("apply"))); status != 200 {
			t.Fatalf("apply answered %d", status)
		}
		b.do("the page says what it committed", chromedp.WaitVisible(chromedp.ID("pushed")))
		loc, err := url.Parse(b.location())
		if err != nil {
			t.Fatal(err)
		}
		scaled = loc.Query().Get("pushed")
		checkConsoleCommit(t, e, before, scaled, "-  scale: 3", "+  scale: 5")

		e.waitConverged(scaled, converge)
		if got := e.replicas("cloud", "Deployment", "factory-cloud", "ingest"); got != 5 {
			t.Errorf("cloud ingest has %d replicas at scale 5, want 5", got)
		}
		b.waitFor("the page says the commit rolled out",
			fmt.Sprintf(`(t => t.includes("Rolled out") && t.includes(%q))(document.getElementById("rollout").textContent)`, scaled[:7]), 30*time.Second)
	})

	t.Run("revert from the history: every site returns", func(t *testing.T) {
		b.t, e.t = t, t
		if scaled == "" {
			t.Skip("nothing was applied")
		}
		b.open(solutionPage + "/history")
		link := fmt.Sprintf(`#history tr[data-commit=%q] a.revert`, scaled)
		b.do("the history lists the commit", chromedp.WaitVisible(chromedp.CSS(link)))
		b.screenshot("console-history.png")
		if status := b.navigate("open the revert", chromedp.Click(chromedp.CSS(link))); status != 200 {
			t.Fatalf("the revert preview answered %d", status)
		}
		checkPreviewRows(t, b, e.clone, 5, 3)

		before := remoteHead(e)
		if status := b.navigate("revert", chromedp.Click(chromedp.ID("revert"))); status != 200 {
			t.Fatalf("revert answered %d", status)
		}
		b.do("the page says what it committed", chromedp.WaitVisible(chromedp.ID("pushed")))
		loc, err := url.Parse(b.location())
		if err != nil {
			t.Fatal(err)
		}
		reverted := loc.Query().Get("pushed")
		checkConsoleCommit(t, e, before, reverted, "-  scale: 5", "+  scale: 3")

		e.waitConverged(reverted, converge)
		if got := e.replicas("cloud", "Deployment", "factory-cloud", "ingest"); got != cloudIngest {
			t.Errorf("cloud ingest has %d replicas after the revert, want %d", got, cloudIngest)
		}
		if got := e.replicas("plant-b", "Deployment", "factory-edge", "inference"); got != edgeInference {
			t.Errorf("plant-b inference has %d replicas after the revert, want %d", got, edgeInference)
		}
	})

	t.Run("a scale plant-c cannot run: refused by validate, diff, the console and the daemon", func(t *testing.T) {
		b.t, e.t = t, t
		good := remoteHead(e)
		e.gitRun("-C", e.clone, "pull", "--quiet", "--ff-only", "origin", "main")
		const overflow = "sites/plant-c.yaml:11: spec.capacity.cpu: revision asks 1800m of 1300m (edge/inference 3 × 500m, edge/protocol-gateway 2 × 100m, edge/local-buffer 1 × 100m)"

		// The console's preview says why and offers nothing to apply; a
		// POST anyway commits nothing.
		b.open(solutionPage)
		b.do("preview scale 12", chromedp.SetValue(chromedp.ID("scale"), "12"))
		b.navigate("submit the preview form", chromedp.Submit(chromedp.ID("preview-form")))
		b.do("the preview's error", chromedp.WaitVisible(chromedp.ID("preview-error")))
		if msg := b.text("#preview-error"); !strings.Contains(msg, overflow) {
			t.Errorf("the console's preview of scale 12 says %q, want %q", msg, overflow)
		}
		if eval[bool](b, "look for the apply button", `document.getElementById("apply") !== null`) {
			t.Error("the preview of a scale plant-c cannot run offers to apply it")
		}
		b.screenshot("console-capacity.png")
		csrf := eval[string](b, "the CSRF token", `document.querySelector('input[name=csrf]').value`)
		if status := b.postForm("/console/solutions/smart-factory/scale", map[string]string{"csrf": csrf, "scale": "12", "base": good}); status != 422 {
			t.Errorf("an apply of scale 12 answered %d, want 422", status)
		}
		if head := remoteHead(e); head != good {
			t.Fatalf("the remote moved to %s on an apply of scale 12", head)
		}

		// validate refuses it before merge; diff shows the same reason.
		e.edit("tandem.yaml", func(s string) string { return strings.Replace(s, "scale: 3", "scale: 12", 1) })
		out, err := exec.Command(tandemBin, "validate", e.clone).CombinedOutput()
		if code := exitCodeOf(err); code != 1 || !strings.Contains(string(out), overflow) {
			t.Errorf("validate at scale 12: exit %d\n%s\nwant exit 1 and %q", code, out, overflow)
		}
		e.gitRun("-C", e.clone, "commit", "--quiet", "--all", "-m", "Scale smart-factory to 12")
		out, err = exec.Command(tandemBin, "diff", "--repo", e.clone, "--base", "HEAD~1").CombinedOutput()
		if code := exitCodeOf(err); code != 2 || !strings.Contains(string(out), overflow) {
			t.Errorf("diff at scale 12: exit %d\n%s\nwant exit 2 and %q", code, out, overflow)
		}

		// Pushed anyway, it is applied nowhere: the status says why and
		// every target keeps the last revision that rendered.
		e.gitRun("-C", e.clone, "push", "--quiet", "origin", "main")
		refused := e.head()
		e.waitRefused(refused, good, overflow)
		if got := e.replicas("cloud", "Deployment", "factory-cloud", "ingest"); got != cloudIngest {
			t.Errorf("cloud ingest has %d replicas after a refused scale, want %d", got, cloudIngest)
		}
		e.gitRun("-C", e.clone, "revert", "--no-edit", "HEAD")
		e.gitRun("-C", e.clone, "push", "--quiet", "origin", "main")
		e.waitConverged(e.head(), converge)
	})

	t.Run("a form without its CSRF token is refused", func(t *testing.T) {
		b.t, e.t = t, t
		before := remoteHead(e)
		preview(b, solutionPage, "6")
		base := eval[string](b, "the preview's base", `document.querySelector('#apply-form input[name=base]').value`)
		if status := b.postForm("/console/solutions/smart-factory/scale", map[string]string{"scale": "6", "base": base}); status != 403 {
			t.Errorf("an operator's POST without the csrf field answered %d, want 403", status)
		}
		if head := remoteHead(e); head != before {
			t.Errorf("the remote moved to %s on a POST without a CSRF token", head)
		}
	})

	t.Run("a viewer previews but cannot apply", func(t *testing.T) {
		b.t, e.t = t, t
		before := remoteHead(e)
		b.navigate("sign out", chromedp.Click(chromedp.CSS(`form.who button`)))
		signIn(b, console, "vic")
		preview(b, solutionPage, "6")
		if eval[bool](b, "look for the apply button", `document.getElementById("apply") !== null`) {
			t.Error("the viewer's preview has an apply button")
		}
		csrf := eval[string](b, "the viewer's CSRF token", `document.querySelector('input[name=csrf]').value`)
		status := b.postForm("/console/solutions/smart-factory/scale", map[string]string{"csrf": csrf, "scale": "6", "base": before})
		if status != 403 {
			t.Errorf("a viewer's POST with their CSRF token answered %d, want 403", status)
		}
		if head := remoteHead(e); head != before {
			t.Errorf("the remote moved to %s on a viewer's POST", head)
		}
	})
}

// signIn signs in on the login page with the form, as user.
func signIn(b *browser, console, user string) {
	b.t.Helper()
	password := ""
	for _, u := range consoleUsers {
		if u.name == user {
			password = u.password
		}
	}
	b.open(console + "/login")
	status := b.navigate("sign in as "+user,
		chromedp.SendKeys(chromedp.CSS(`#login input[name=user]`), user),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), password),
		chromedp.Submit(chromedp.ID("login")))
	if status != 200 {
		b.t.Fatalf("signing in as %s answered %d", user, status)
	}
	if got := b.text("#user"); !strings.HasPrefix(got, user) {
		b.t.Fatalf("signed in as %s, the page names %q", user, got)
	}
}

// preview opens the solution page, enters scale and submits the preview
// form, and waits for the preview table.
func preview(b *browser, solutionPage, scale string) {
	b.t.Helper()
	b.open(solutionPage)
	b.do("preview scale "+scale, chromedp.SetValue(chromedp.ID("scale"), scale))
	if status := b.navigate("submit the preview form", chromedp.Submit(chromedp.ID("preview-form"))); status != 200 {
		b.t.Fatalf("the preview of scale %s answered %d", scale, status)
	}
	b.do("the preview table", chromedp.WaitVisible(chromedp.ID("preview-table")))
}

// previewRow is one row of the preview table.
type previewRow struct {
	Tier     string `json:"tier"`
	Place    string `json:"place"`
	Workload string `json:"workload"`
	Now      int32  `json:"now"`
	After    int32  `json:"after"`
}

// checkPreviewRows checks the page's preview table against the linked-
// scaling function on the clone's configuration, at scale now and after:
// the same rows, no more, no fewer, with the same replicas.
func checkPreviewRows(t *testing.T, b *browser, clone string, now, after float64) {
	t.Helper()
	got := eval[[]previewRow](b, "read the preview table", `[...document.querySelectorAll("#preview-table tr[data-tier][data-place][data-workload]")].map(r => ({
		tier: r.dataset.tier, place: r.dataset.place, workload: r.dataset.workload,
		now: Number(r.querySelector("td.now").textContent), after: Number(r.querySelector("td.after").textContent)}))`)

	cfg, err := renderer.Load(context.Background(), os.DirFS(clone))
	if err != nil {
		t.Fatal(err)
	}
	var sol *renderer.Solution
	for _, s := range cfg.Solutions {
		if s.Name == "smart-factory" {
			sol = s
		}
	}
	if sol == nil {
		t.Fatal("no smart-factory solution in the clone")
	}
	want := map[previewRow]bool{}
	before, err := sol.Replicas(now, cfg.Sites)
	if err != nil {
		t.Fatal(err)
	}
	later, err := sol.Replicas(after, cfg.Sites)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(later) {
		t.Fatalf("%d workloads at scale %v, %d at %v", len(before), now, len(later), after)
	}
	for i, w := range before {
		want[previewRow{Tier: w.Tier, Place: cmp.Or(w.Site, w.Cluster), Workload: w.Workload, Now: w.Replicas, After: later[i].Replicas}] = true
	}
	seen := map[previewRow]bool{}
	for _, r := range got {
		if !want[r] {
			t.Errorf("preview row %+v is not what scale %v → %v gives", r, now, after)
		}
		seen[r] = true
	}
	for r := range want {
		if !seen[r] {
			t.Errorf("the preview lacks %+v", r)
		}
	}
	if len(got) != len(want) {
		t.Errorf("the preview has %d rows, want %d", len(got), len(want))
	}
}

// checkConsoleCommit fetches the remote into the clone and checks that
// commit is the one new commit since before, authored by ada, changing
// exactly the lines removed and added; the clone then moves to it.
func checkConsoleCommit(t *testing.T, e *fleetEnv, before, commit, removed, added string) {
	t.Helper()
	e.gitRun("-C", e.clone, "fetch", "--quiet", "origin")
	if head := e.gitRun("-C", e.clone, "rev-parse", "origin/main"); head != commit {
		t.Fatalf("the remote is at %s, the console says it pushed %q", head, commit)
	}
	if n := e.gitRun("-C", e.clone, "rev-list", "--count", before+"..origin/main"); n != "1" {
		t.Errorf("%s new commits on the remote, want 1", n)
	}
	if author := e.gitRun("-C", e.clone, "log", "-1", "--format=%an", commit); author != "ada" {
		t.Errorf("the commit's author is %q, want ada", author)
	}
	var changed []string
	for _, line := range strings.Split(e.gitRun("-C", e.clone, "show", "--format=", "--unified=0", commit), "\n") {
		if (strings.HasPrefix(line, "-") || strings.HasPrefix(line, "+")) && !strings.HasPrefix(line, "---") && !strings.HasPrefix(line, "+++") {
			changed = append(changed, line)
		}
	}
	if len(changed) != 2 || changed[0] != removed || changed[1] != added {
		t.Errorf("the commit changes %q, want only %q → %q", changed, removed, added)
	}
	e.gitRun("-C", e.clone, "merge", "--quiet", "--ff-only", "origin/main")
}

// remoteHead is the commit the remote's main is at.
func remoteHead(e *fleetEnv) string {
	e.t.Helper()
	out := e.gitRun("ls-remote", e.repoURL, "refs/heads/main")
	commit, _, _ := strings.Cut(out, "\t")
	return commit
}

// exitCodeOf is the exit code of a command that ran: 0 for no error.
func exitCodeOf(err error) int {
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
