package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/fixtures"
)

// benchConsole is a console over the fixture with sites more edge sites,
// whose status has every tier of every cluster Ready.
func benchConsole(b *testing.B, sites int) (*Console, *http.Cookie) {
	var files fs.FS = fixtures.SmartFactory()
	if sites > 0 {
		repo, err := fixtures.SmartFactoryWithSites(sites)
		if err != nil {
			b.Fatal(err)
		}
		files = repo
	}
	tc := newTestConsole(b, files)
	hd, err := tc.srv.Config.Handler.(*Console).heads.get(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	res, err := hd.rendered(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	st := daemon.Status{}
	for _, t := range res.Targets {
		st.Targets = append(st.Targets, daemon.TargetStatus{Solution: t.Solution, Tier: t.Tier, Cluster: t.Cluster,
			Phase: "Ready", AppliedRevision: hd.rev.String(), DesiredRevision: hd.rev.String(), Since: time.Now()})
	}
	c := tc.srv.Config.Handler.(*Console)
	c.cfg.Status = func() daemon.Status { return st }
	id, _ := c.sessions.create("ada", Operator)
	return c, &http.Cookie{Name: sessionCookie, Value: id}
}

func benchPage(b *testing.B, c *Console, cookie *http.Cookie, path string) {
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(cookie)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s: %d\n%s", path, w.Code, w.Body)
		}
	}
}

// BenchmarkFleetPage measures rendering the fleet page on the server.
func BenchmarkFleetPage(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(sitesName(n), func(b *testing.B) {
			c, cookie := benchConsole(b, n)
			benchPage(b, c, cookie, "/console/")
		})
	}
}

// BenchmarkScalePreview measures a preview of scale 3 → 5: the replicas of
// every workload on every site, the page; and apart, as the page asks for
// it, the diff summary of the head rendered with the new scale against the
// head (whose own render is made once).
func BenchmarkScalePreview(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(sitesName(n)+"/replicas", func(b *testing.B) {
			c, cookie := benchConsole(b, n)
			benchPage(b, c, cookie, "/console/solutions/smart-factory?scale=5")
		})
		b.Run(sitesName(n)+"/summary", func(b *testing.B) {
			c, cookie := benchConsole(b, n)
			benchPage(b, c, cookie, "/console/solutions/smart-factory?scale=5&summary=1")
		})
	}
}

func sitesName(n int) string {
	if n == 0 {
		return "fixture"
	}
	return "1000-sites"
}
