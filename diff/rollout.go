package diff

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tandem-gitops/tandem/renderer"
)

// SiteRollout says when a change reaches a site the head revision changes:
// its solution's rollout wave and its next maintenance window.
type SiteRollout struct {
	Solution string `json:"solution"`
	Site     string `json:"site"`
	// Wave is the site's wave, from 1, of Waves.
	Wave  int `json:"wave"`
	Waves int `json:"waves"`
	// WindowOpens is when the site's next maintenance window opens, nil
	// for a site without windows (always open) or open now.
	WindowOpens *time.Time `json:"windowOpens,omitempty"`
}

// Rollouts adds to r, for every site one of its changes is on, the wave
// that site is in and, at now, when its next maintenance window opens, as
// head declares them.
func Rollouts(r *Report, head *renderer.Result, now time.Time) {
	if head == nil {
		return
	}
	sites := map[string]*renderer.Site{}
	for _, s := range head.Sites {
		sites[s.Name] = s
	}
	solutions := map[string]*renderer.Solution{}
	for _, s := range head.Solutions {
		solutions[s.Name] = s
	}
	waves := map[string]int{}
	for _, t := range head.Targets {
		waves[t.Solution] = max(waves[t.Solution], t.Wave+1)
	}
	seen := map[[2]string]bool{}
	r.Rollout = nil
	for _, c := range r.Changes {
		site, ok := sites[c.Site]
		if !ok || seen[[2]string{c.Solution, c.Site}] {
			continue
		}
		seen[[2]string{c.Solution, c.Site}] = true
		sol, ok := solutions[c.Solution]
		if !ok {
			continue
		}
		sr := SiteRollout{Solution: c.Solution, Site: c.Site, Wave: sol.Wave(site) + 1, Waves: waves[c.Solution]}
		if w := site.Windows(); !w.Always() && !w.Open(now) {
			if opens, _ := w.Next(now); !opens.IsZero() {
				sr.WindowOpens = &opens
			}
		}
		r.Rollout = append(r.Rollout, sr)
	}
	slices.SortFunc(r.Rollout, func(a, b SiteRollout) int {
		return cmp.Or(cmp.Compare(a.Solution, b.Solution), cmp.Compare(a.Wave, b.Wave), cmp.Compare(a.Site, b.Site))
	})
}

// rolloutLines say, per solution and wave, which changed sites it reaches,
// and when the windows of those waiting for one open.
func rolloutLines(r *Report, label func([]string) string) []string {
	var lines []string
	for i := 0; i < len(r.Rollout); {
		j := i
		var names []string
		for ; j < len(r.Rollout) && r.Rollout[j].Solution == r.Rollout[i].Solution && r.Rollout[j].Wave == r.Rollout[i].Wave; j++ {
			names = append(names, r.Rollout[j].Site)
		}
		s := r.Rollout[i]
		line := fmt.Sprintf("%s wave %d of %d: %s", s.Solution, s.Wave, s.Waves, label(names))
		var waiting []string
		for _, w := range r.Rollout[i:j] {
			if w.WindowOpens != nil {
				waiting = append(waiting, fmt.Sprintf("%s at %s", w.Site, w.WindowOpens.UTC().Format("2006-01-02 15:04 MST")))
			}
		}
		if len(waiting) > 0 {
			line += "; next windows open: " + strings.Join(waiting, ", ")
		}
		lines = append(lines, line)
		i = j
	}
	return lines
}
