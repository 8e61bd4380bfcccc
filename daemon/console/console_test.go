package console

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
	"github.com/tandem-gitops/tandem/sources/gitwrite"
)

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Grace", "GIT_AUTHOR_EMAIL=grace@example.com",
		"GIT_COMMITTER_NAME=Grace", "GIT_COMMITTER_EMAIL=grace@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// upstream is a bare repository holding the smart-factory fixture and a
// clone to push to it behind the console's back.
type upstream struct {
	t          testing.TB
	bare, work string
}

func newUpstream(t testing.TB, files fs.FS) *upstream {
	root := t.TempDir()
	u := &upstream{t: t, bare: filepath.Join(root, "config.git"), work: filepath.Join(root, "work")}
	git(t, root, "init", "--quiet", "--bare", "--initial-branch=main", u.bare)
	git(t, root, "init", "--quiet", "--initial-branch=main", u.work)
	if err := os.CopyFS(u.work, files); err != nil {
		t.Fatal(err)
	}
	git(t, u.work, "add", "--all")
	git(t, u.work, "commit", "--quiet", "-m", "Initial configuration")
	git(t, u.work, "remote", "add", "origin", u.bare)
	git(t, u.work, "push", "--quiet", "origin", "main")
	return u
}

// push commits a change to name behind the console's back.
func (u *upstream) push(name, content string) {
	u.t.Helper()
	git(u.t, u.work, "pull", "--quiet", "--ff-only", "origin", "main")
	if err := os.WriteFile(filepath.Join(u.work, name), []byte(content), 0o644); err != nil {
		u.t.Fatal(err)
	}
	git(u.t, u.work, "add", "--all")
	git(u.t, u.work, "commit", "--quiet", "-m", "Change "+name)
	git(u.t, u.work, "push", "--quiet", "origin", "main")
}

// testConsole is a console over an upstream, with users ada (operator)
// and vic (viewer), whose password is their name.
type testConsole struct {
	*upstream
	srv  *httptest.Server
	repo *sources.Repository
}

func newTestConsole(t testing.TB, files fs.FS) *testConsole {
	t.Helper()
	u := newUpstream(t, files)
	repo, err := sources.Open(sources.Spec{URL: "file://" + u.bare, Ref: sources.Ref{Branch: "main"}},
		sources.Options{CacheDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	if _, err := repo.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	writer, err := gitwrite.NewWriter(repo, gitwrite.WriterOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	users := Users{}
	for name, role := range map[string]Role{"ada": Operator, "vic": Viewer} {
		hash, err := bcrypt.GenerateFromPassword([]byte(name), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		users[name] = user{name: name, hash: hash, role: role}
	}
	c, err := New(Config{Status: func() daemon.Status { return daemon.Status{} }, Repository: repo, Writer: writer,
		Users: users, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &testConsole{upstream: u, srv: srv, repo: repo}
}

// client is a browser's cookie jar, signed in as name unless name is "".
func (tc *testConsole) client(t testing.TB, name string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if name != "" {
		resp, err := c.PostForm(tc.srv.URL+"/console/login", url.Values{"user": {name}, "password": {name}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in as %s: %s", name, resp.Status)
		}
	}
	return c
}

func get(t testing.TB, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func post(t testing.TB, c *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	baseField = regexp.MustCompile(`name="base" value="([0-9a-f]{40})"`)
	rowRE     = regexp.MustCompile(`<tr data-tier="([^"]+)" data-place="([^"]+)" data-workload="([^"]+)"[^>]*>\s*<td>[^<]*</td><td>[^<]*</td><td>[^<]*</td><td class="now">(\d+)</td><td class="after">(\d+)</td>`)
)

func field(t testing.TB, re *regexp.Regexp, page string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s in the page:\n%s", re, page)
	}
	return m[1]
}

func TestEveryPageNeedsASignedInUser(t *testing.T) {
	tc := newTestConsole(t, fixtures.SmartFactory())
	anon := tc.client(t, "")
	for _, path := range []string{"/console/", "/console/solutions/smart-factory", "/console/solutions/smart-factory/history", "/console/sites/plant-a"} {
		resp, err := anon.Get(tc.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login?next=") {
			t.Errorf("GET %s without signing in: %s to %q, want a redirect to sign in", path, resp.Status, resp.Header.Get("Location"))
		}
	}
	if code, _ := post(t, anon, tc.srv.URL+"/console/solutions/smart-factory/scale", url.Values{"scale": {"5"}}); code != http.StatusUnauthorized {
		t.Errorf("anonymous POST: %d, want 401", code)
	}
	if code, body := post(t, anon, tc.srv.URL+"/console/login", url.Values{"user": {"ada"}, "password": {"wrong"}}); code != http.StatusUnauthorized || !strings.Contains(body, "wrong password") {
		t.Errorf("wrong password: %d, want 401 saying so", code)
	}
	// Five attempts at once, then one every twelve seconds.
	limited := false
	for range 6 {
		if code, _ := post(t, anon, tc.srv.URL+"/console/login", url.Values{"user": {"ada"}, "password": {"wrong"}}); code == http.StatusTooManyRequests {
			limited = true
		}
	}
	if !limited {
		t.Error("seven failed sign-ins in a row were not rate-limited")
	}
	// Another user at the same address, behind the same proxy, say, is
	// not locked out by them.
	tc.client(t, "vic")
}

func TestAProxyNamesTheUserWhenTheConsoleTrustsItsHeader(t *testing.T) {
	tc := newTestConsole(t, fixtures.SmartFactory())
	c := tc.srv.Config.Handler.(*Console)
	c.cfg.AuthHeader = "X-Forwarded-User"
	as := func(name string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, tc.srv.URL+"/console/solutions/smart-factory?scale=5", nil)
		if name != "" {
			req.Header.Set("X-Forwarded-User", name)
		}
		return req
	}
	for _, tt := range []struct {
		name   string
		status int
		apply  bool
	}{{"ada", http.StatusOK, true}, {"grace", http.StatusOK, false}, {"", http.StatusSeeOther, false}} {
		resp, err := tc.client(t, "").Do(as(tt.name))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if offered := strings.Contains(string(body), `id="apply"`); resp.StatusCode != tt.status || offered != tt.apply {
			t.Errorf("as %q: %s, apply offered %v; want %d, %v", tt.name, resp.Status, offered, tt.status, tt.apply)
		}
	}
	if code, body := post(t, tc.client(t, ""), tc.srv.URL+"/console/login", url.Values{"user": {"ada"}, "password": {"ada"}}); code != http.StatusForbidden || !strings.Contains(body, proxyOnly) {
		t.Errorf("a form sign-in behind the proxy: %d, want 403 saying %q", code, proxyOnly)
	}
}

var headroomRE = regexp.MustCompile(`<tr data-site="plant-c" data-resource="cpu" class="high">\s*<td>plant-c</td><td>cpu</td><td class="now">54%</td><td class="after">93% <strong>nearly full</strong></td><td>1200m of 1300m</td>`)

func TestPreviewShowsTheReplicasTheRendererComputesAndApplyCommitsOneLine(t *testing.T) {
	tc := newTestConsole(t, fixtures.SmartFactory())
	ada := tc.client(t, "ada")
	code, page := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory?scale=5")
	if code != http.StatusOK {
		t.Fatalf("preview: %d\n%s", code, page)
	}
	cfg, err := renderer.Load(context.Background(), fixtures.SmartFactory())
	if err != nil {
		t.Fatal(err)
	}
	sol := cfg.Solutions[0]
	now, _ := sol.Replicas(sol.Spec.Scale, cfg.Sites)
	after, _ := sol.Replicas(5, cfg.Sites)
	want := map[string]string{}
	for i, w := range now {
		want[w.Tier+"/"+w.Workload+"@"+w.Site+w.Cluster[:0]] = fmt.Sprintf("%d→%d", w.Replicas, after[i].Replicas)
	}
	got := map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
		place := m[2]
		got[m[1]+"/"+m[3]+"@"+place] = m[4] + "→" + m[5]
	}
	if len(got) != len(now) {
		t.Fatalf("%d preview rows, want %d:\n%v", len(got), len(now), got)
	}
	for _, w := range now {
		key := w.Tier + "/" + w.Workload + "@" + w.Site
		if w.Site == "" {
			key = w.Tier + "/" + w.Workload + "@" + w.Cluster
		}
		if _, ok := got[key]; !ok {
			t.Errorf("no preview row for %s", key)
		}
	}
	for i, w := range now {
		key := w.Tier + "/" + w.Workload + "@" + w.Site
		if w.Site == "" {
			key = w.Tier + "/" + w.Workload + "@" + w.Cluster
		}
		if g, e := got[key], fmt.Sprintf("%d→%d", w.Replicas, after[i].Replicas); g != e {
			t.Errorf("%s: preview %s, renderer %s", key, g, e)
		}
	}
	// Plant C's cpu goes from 54% to 93% of its capacity; its other
	// resources and the other plants move too.
	if !headroomRE.MatchString(page) {
		t.Errorf("the preview does not flag plant-c's cpu at 93%%:\n%s", page)
	}
	_, summary := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory?scale=5&summary=1")
	if !strings.Contains(summary, "What the pull request comment would say") || !strings.Contains(summary, "replicas 3 → 5") {
		t.Errorf("the preview's diff summary does not show the replicas:\n%s", summary)
	}

	before := git(t, tc.bare, "rev-parse", "main")
	resp, err := ada.PostForm(tc.srv.URL+"/console/solutions/smart-factory/scale", url.Values{
		"csrf": {field(t, csrfField, page)}, "base": {field(t, baseField, page)}, "scale": {"5"}, "message": {""}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("apply: %s", resp.Status)
	}
	head := git(t, tc.bare, "rev-parse", "main")
	if parent := git(t, tc.bare, "rev-parse", head+"^"); parent != before {
		t.Fatalf("the remote has more than one new commit: %s^ is %s, want %s", head, parent, before)
	}
	if a := git(t, tc.bare, "log", "-1", "--format=%an", head); a != "ada" {
		t.Errorf("commit author %q, want ada", a)
	}
	diff := git(t, tc.bare, "show", "--format=", "--unified=0", head)
	var changed []string
	for _, l := range strings.Split(diff, "\n") {
		if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "+++") {
			changed = append(changed, l)
		}
	}
	if len(changed) != 2 || !strings.Contains(changed[0], "scale: 3") || !strings.Contains(changed[1], "scale: 5") {
		t.Errorf("the commit changes %q, want the one scale line", changed)
	}
	if !strings.Contains(resp.Header.Get("Location"), "pushed="+head) {
		t.Errorf("apply redirects to %q, want the solution page following %s", resp.Header.Get("Location"), head)
	}
}

func TestApplyRefusesWhatWasNotReviewed(t *testing.T) {
	tc := newTestConsole(t, fixtures.SmartFactory())
	ada, vic := tc.client(t, "ada"), tc.client(t, "vic")
	u := tc.srv.URL + "/console/solutions/smart-factory/scale"
	_, page := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory?scale=5")
	csrf, base := field(t, csrfField, page), field(t, baseField, page)
	head := git(t, tc.bare, "rev-parse", "main")

	_, viewerPage := get(t, vic, tc.srv.URL+"/console/solutions/smart-factory?scale=5")
	if strings.Contains(viewerPage, `id="apply"`) {
		t.Error("a viewer is offered the apply button")
	}
	cases := []struct {
		name   string
		client *http.Client
		form   url.Values
		status int
		says   string
	}{
		{"a viewer", vic, url.Values{"csrf": {field(t, csrfField, viewerPage)}, "base": {base}, "scale": {"5"}}, http.StatusForbidden, "only an operator"},
		{"no CSRF token", ada, url.Values{"base": {base}, "scale": {"5"}}, http.StatusForbidden, "CSRF"},
		{"another session's CSRF token", ada, url.Values{"csrf": {field(t, csrfField, viewerPage)}, "base": {base}, "scale": {"5"}}, http.StatusForbidden, "CSRF"},
		{"a negative scale", ada, url.Values{"csrf": {csrf}, "base": {base}, "scale": {"-1"}}, http.StatusUnprocessableEntity, "spec.scale"},
		{"not a number", ada, url.Values{"csrf": {csrf}, "base": {base}, "scale": {"lots"}}, http.StatusUnprocessableEntity, `&#34;lots&#34; is not a number`},
		{"a scale past a rule's max", ada, url.Values{"csrf": {csrf}, "base": {base}, "scale": {"1e308"}}, http.StatusUnprocessableEntity, "over its max of 12"},
		{"a scale past what a site can run", ada, url.Values{"csrf": {csrf}, "base": {base}, "scale": {"12"}}, http.StatusUnprocessableEntity,
			"sites/plant-c.yaml:11: spec.capacity.cpu: revision asks 1800m of 1300m (edge/inference 3 × 500m, edge/protocol-gateway 2 × 100m, edge/local-buffer 1 × 100m)"},
	}
	for _, c := range cases {
		code, body := post(t, c.client, u, c.form)
		if code != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", c.name, code, c.status, c.says, body)
		}
	}
	if now := git(t, tc.bare, "rev-parse", "main"); now != head {
		t.Fatalf("a refused apply committed %s", now)
	}

	// A push behind the console's back between preview and apply.
	tc.push("README.md", "the fleet's notes\n")
	moved := git(t, tc.bare, "rev-parse", "main")
	code, body := post(t, ada, u, url.Values{"csrf": {csrf}, "base": {base}, "scale": {"5"}})
	if code != http.StatusConflict || !strings.Contains(body, "The configuration changed since you looked") || !strings.Contains(body, `value="`+moved+`"`) {
		t.Errorf("apply after the branch moved: %d, want 409 with a new preview on %s:\n%s", code, moved, body)
	}
	if now := git(t, tc.bare, "rev-parse", "main"); now != moved {
		t.Errorf("apply after the branch moved committed %s", now)
	}
}

func TestHistoryRevertsACommitAfterPreviewingIt(t *testing.T) {
	tc := newTestConsole(t, fixtures.SmartFactory())
	ada := tc.client(t, "ada")
	_, page := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory?scale=5")
	if code, _ := post(t, ada, tc.srv.URL+"/console/solutions/smart-factory/scale", url.Values{
		"csrf": {field(t, csrfField, page)}, "base": {field(t, baseField, page)}, "scale": {"5"}}); code != http.StatusSeeOther {
		t.Fatalf("apply: %d", code)
	}
	scaled := git(t, tc.bare, "rev-parse", "main")
	if _, err := tc.repo.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}

	_, history := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory/history")
	if !strings.Contains(history, `data-commit="`+scaled+`"`) || !strings.Contains(history, "Scale smart-factory from 3 to 5") {
		t.Fatalf("the history does not list the scale commit %s:\n%s", scaled, history)
	}
	// A commit that changed nothing of the solution is not reverted from
	// its page.
	tc.push("NOTES.md", "plant notes\n")
	notes := git(t, tc.bare, "rev-parse", "main")
	if _, err := tc.repo.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory/revert/"+notes); code != http.StatusUnprocessableEntity || !strings.Contains(body, "is not among the last") {
		t.Errorf("revert preview of a commit outside the solution: %d, want 422:\n%s", code, body)
	}
	code, preview := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory/revert/"+scaled)
	if code != http.StatusOK || !strings.Contains(preview, "scale 5 → 3") {
		t.Fatalf("revert preview: %d, want scale 5 → 3:\n%s", code, preview)
	}
	if code, body := post(t, ada, tc.srv.URL+"/console/solutions/smart-factory/revert/"+scaled, url.Values{
		"csrf": {field(t, csrfField, preview)}, "base": {field(t, baseField, preview)}}); code != http.StatusSeeOther {
		t.Fatalf("revert: %d\n%s", code, body)
	}
	head := git(t, tc.bare, "rev-parse", "main")
	if msg := git(t, tc.bare, "log", "-1", "--format=%an %B", head); !strings.HasPrefix(msg, "ada Revert") || !strings.Contains(msg, "This reverts commit "+scaled) {
		t.Errorf("revert commit %q", msg)
	}
	if scale := git(t, tc.bare, "show", head+":tandem.yaml"); !strings.Contains(scale, "scale: 3") {
		t.Errorf("after the revert tandem.yaml has\n%s\nwant scale 3 back", scale)
	}
}

func TestABranchHeadThatDoesNotLoadCanStillBeReverted(t *testing.T) {
	tc := newTestConsole(t, fixtures.SmartFactory())
	ada := tc.client(t, "ada")
	get(t, ada, tc.srv.URL+"/console/") // the console has seen a head that loads
	good, err := os.ReadFile(filepath.Join(tc.work, "tandem.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tc.push("tandem.yaml", strings.Replace(string(good), "  scale: 3", "  scale: 3\n  scael: 4", 1))
	broken := git(t, tc.bare, "rev-parse", "main")
	if _, err := tc.repo.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, page := get(t, ada, tc.srv.URL+"/console/"); !strings.Contains(page, "does not load") || !strings.Contains(page, "smart-factory") {
		t.Errorf("the fleet page does not say the head is broken, or lost the solution:\n%s", page)
	}
	if code, page := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory?scale=5"); code != http.StatusOK || !strings.Contains(page, "its scale cannot be changed") {
		t.Errorf("a scale preview on a broken head: %d\n%s", code, page)
	}
	_, history := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory/history")
	if !strings.Contains(history, `data-commit="`+broken+`"`) {
		t.Fatalf("the history does not list the commit that broke the head:\n%s", history)
	}
	code, preview := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory/revert/"+broken)
	if code != http.StatusOK || !strings.Contains(preview, `id="revert"`) {
		t.Fatalf("revert preview of the breaking commit: %d\n%s", code, preview)
	}
	if code, body := post(t, ada, tc.srv.URL+"/console/solutions/smart-factory/revert/"+broken, url.Values{
		"csrf": {field(t, csrfField, preview)}, "base": {field(t, baseField, preview)}}); code != http.StatusSeeOther {
		t.Fatalf("revert: %d\n%s", code, body)
	}
	if now := git(t, tc.bare, "show", "main:tandem.yaml"); now != strings.TrimSpace(string(good)) {
		t.Errorf("after the revert tandem.yaml is\n%s\nwant it as before", now)
	}
}

// TestAHeadThatDoesNotRenderIsNoLicenceToCommitAScaleNoSiteCanRun: with a
// head refused for plant-c's capacity, a new scale is checked by a render
// of its own, which plant-c refuses too, and nothing is committed.
func TestAHeadThatDoesNotRenderIsNoLicenceToCommitAScaleNoSiteCanRun(t *testing.T) {
	tc := newTestConsole(t, fixtures.SmartFactory())
	site, err := os.ReadFile(filepath.Join(tc.work, "sites", "plant-c.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tc.push("sites/plant-c.yaml", strings.Replace(string(site), "cpu: 1300m", "cpu: 600m", 1))
	if _, err := tc.repo.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	head := git(t, tc.bare, "rev-parse", "main")
	ada := tc.client(t, "ada")
	_, page := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory?scale=4")
	const refused = "sites/plant-c.yaml:11: spec.capacity.cpu: revision asks 700m of 600m"
	if !strings.Contains(page, refused) || strings.Contains(page, `id="apply"`) {
		t.Errorf("the preview of scale 4 on a head plant-c refuses does not refuse it:\n%s", page)
	}
	code, body := post(t, ada, tc.srv.URL+"/console/solutions/smart-factory/scale", url.Values{
		"csrf": {field(t, csrfField, page)}, "base": {head}, "scale": {"4"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, refused) {
		t.Errorf("apply of scale 4: %d, want 422 saying %q", code, refused)
	}
	if now := git(t, tc.bare, "rev-parse", "main"); now != head {
		t.Fatalf("a scale plant-c cannot run was committed: %s", now)
	}
}
