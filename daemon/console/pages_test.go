package console

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/fixtures"
)

// withPullSite is the smart-factory repository with plant-b a pull site.
func withPullSite(t testing.TB) fs.FS {
	t.Helper()
	files := fstest.MapFS{}
	err := fs.WalkDir(fixtures.SmartFactory(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fixtures.SmartFactory(), name)
		if name == "sites/plant-b.yaml" {
			data = append(data, "  mode: pull\n"...)
		}
		files[name] = &fstest.MapFile{Data: data, Mode: 0o644}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestAPullSiteShowsWhenItsAgentLastReachedTheHub(t *testing.T) {
	now := time.Now()
	pushed := daemon.TargetStatus{Solution: "smart-factory", Tier: "edge", Cluster: "plant-a", Phase: "Ready", Since: now}
	pulled := func(phase string, agent *daemon.AgentStatus, message string) []daemon.TargetStatus {
		return []daemon.TargetStatus{pushed, {Solution: "smart-factory", Tier: "edge", Cluster: "plant-b", Mode: "pull",
			Agent: agent, Phase: phase, Message: message, Since: now}}
	}
	for _, tt := range []struct {
		name    string
		targets []daemon.TargetStatus
		// contact is what the pull site's row says of its agent; phase the
		// phase it shows, or "" for a site nothing was given to yet.
		contact, phase string
		silent         bool
	}{{
		name:    "reporting",
		targets: pulled("Ready", &daemon.AgentStatus{LastSeen: now.Add(-5 * time.Minute), Version: "v0.9.0"}, ""),
		contact: "agent seen 5m ago", phase: "Ready",
	}, {
		name:    "never seen",
		targets: pulled(daemon.PhasePending, &daemon.AgentStatus{}, "waiting for the site's agent to report"),
		contact: "agent never seen", phase: daemon.PhasePending,
	}, {
		name: "silent",
		targets: pulled(daemon.PhaseUnknown, &daemon.AgentStatus{LastSeen: now.Add(-20 * time.Minute)},
			"agent last seen 20m0s ago; it last reported Ready at refs/heads/main@sha1:1a2b3c4d5e6f"),
		contact: "agent seen 20m ago", phase: daemon.PhaseUnknown, silent: true,
	}, {
		name: "refusing",
		targets: pulled("Failed", &daemon.AgentStatus{LastSeen: now.Add(-3 * time.Minute),
			Refused: "the release renders to digest sha256:9f86 here, not the hub's sha256:2c26"}, ""),
		contact: `agent seen 3m ago</span> <span class="error refused">refuses the release: the release renders to digest sha256:9f86 here, not the hub&#39;s sha256:2c26</span>`,
		phase:   "Failed",
	}, {
		name:    "given nothing yet",
		targets: []daemon.TargetStatus{pushed},
		contact: "agent never seen",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestConsole(t, withPullSite(t))
			tc.srv.Config.Handler.(*Console).cfg.Status = func() daemon.Status { return daemon.Status{Targets: tt.targets} }
			ada := tc.client(t, "ada")

			_, fleet := get(t, ada, tc.srv.URL+"/console/")
			row := regexp.MustCompile(`(?s)<tr data-cluster="plant-b"[^>]*>.*?</tr>`).FindString(fleet)
			if row == "" {
				t.Fatalf("the fleet page has no row for plant-b:\n%s", fleet)
			}
			checkPullRow(t, "fleet page", row, tt.contact, tt.phase)
			if silent := strings.Contains(row, `class="silent"`); silent != tt.silent {
				t.Errorf("fleet page: plant-b's row marked silent %v, want %v:\n%s", silent, tt.silent, row)
			}
			push := regexp.MustCompile(`(?s)<tr data-cluster="plant-a"[^>]*>.*?</tr>`).FindString(fleet)
			if strings.Contains(push, `class="mode"`) || strings.Contains(push, "agent") {
				t.Errorf("fleet page: plant-a, a push site, shows an agent:\n%s", push)
			}

			_, site := get(t, ada, tc.srv.URL+"/console/sites/plant-b")
			if !strings.Contains(site, "<dd>pull: a tandem agent at the site applies what the hub releases</dd>") {
				t.Errorf("site page: plant-b's mode is not pull:\n%s", site)
			}
			live := regexp.MustCompile(`(?s)<section data-live id="site-tiers">.*?</section>`).FindString(site)
			checkPullRow(t, "site page", live, tt.contact, tt.phase)

			if tt.phase != "" {
				_, sol := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory")
				row := regexp.MustCompile(`(?s)<tr data-cluster="plant-b"[^>]*>.*?</tr>`).FindString(sol)
				checkPullRow(t, "solution page", row, tt.contact, tt.phase)
			}
		})
	}
}

// checkPullRow checks that part of a page marks a pull site, says when
// its agent was seen and shows its phase, never an Unknown one as ready.
func checkPullRow(t *testing.T, page, html, contact, phase string) {
	t.Helper()
	if !strings.Contains(html, `<span class="mode">pull</span>`) {
		t.Errorf("%s: no pull marker in\n%s", page, html)
	}
	if !strings.Contains(html, contact) {
		t.Errorf("%s: %q not in\n%s", page, contact, html)
	}
	if phase == "" {
		return
	}
	if want := `<span class="phase phase-` + strings.ToLower(phase) + `">` + phase + `</span>`; !strings.Contains(html, want) {
		t.Errorf("%s: %q not in\n%s", page, want, html)
	}
	if phase != "Ready" && strings.Contains(html, "phase-ready") {
		t.Errorf("%s: a %s site is shown as ready:\n%s", page, phase, html)
	}
}

func TestAnUnknownPhaseIsNotColouredReady(t *testing.T) {
	tc := newTestConsole(t, fixtures.SmartFactory())
	code, css := get(t, tc.client(t, "ada"), tc.srv.URL+"/console/static/console.css")
	if code != http.StatusOK {
		t.Fatalf("GET console.css: %d", code)
	}
	rule := regexp.MustCompile(`[^}]*\.phase-unknown\b[^{]*\{[^}]*\}`).FindString(css)
	if rule == "" {
		t.Fatalf("console.css has no rule for .phase-unknown:\n%s", css)
	}
	if strings.Contains(rule, "--ready") || !strings.Contains(rule, "--unreachable") {
		t.Errorf("an Unknown phase is styled %q, want the colour of a cluster that cannot be reached", strings.TrimSpace(rule))
	}
}
