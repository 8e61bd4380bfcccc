package console

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

// historyLimit is how many commits the history page lists.
const historyLimit = 30

// historyView is the history page: the commits that changed a solution,
// newest first, and where each runs now.
type historyView struct {
	Name    string
	Commits []historyEntry
	Error   string
}

type historyEntry struct {
	sources.Commit
	// Running names the clusters whose tiers of the solution last
	// applied this commit.
	Running []string
}

func (c *Console) history(w http.ResponseWriter, r *http.Request, sess *session) {
	hd, sol, ok := c.solutionAt(w, r, sess)
	if !ok {
		return
	}
	v := historyView{Name: sol.Name}
	commits, err := c.cfg.Repository.History(r.Context(), solutionPaths(sol, hd.cfg.Sites), historyLimit)
	switch {
	case err != nil:
		v.Error = err.Error()
	case hd.broken != nil:
		v.Error = fmt.Sprintf("The branch head does not load: %v. Revert the commit that broke it.", hd.broken)
	}
	running := map[string][]string{}
	for _, t := range c.cfg.Status().Targets {
		if _, commit, ok := strings.Cut(t.AppliedRevision, "@sha1:"); ok && t.Solution == sol.Name && !slices.Contains(running[commit], t.Cluster) {
			running[commit] = append(running[commit], t.Cluster)
		}
	}
	for _, cm := range commits {
		v.Commits = append(v.Commits, historyEntry{Commit: cm, Running: running[cm.SHA]})
	}
	c.render(w, r, http.StatusOK, "history", sess, v)
}

// solutionPaths are the files a solution's render reads: its descriptor,
// its tiers' directories, and the sites and their overlays.
func solutionPaths(sol *renderer.Solution, sites []*renderer.Site) []string {
	paths := []string{sol.File}
	for _, t := range sol.Spec.Tiers {
		paths = append(paths, strings.TrimSuffix(strings.TrimPrefix(t.Path, "./"), "/"))
	}
	for _, s := range sites {
		paths = append(paths, s.File)
		if s.Spec.Overlay != "" {
			paths = append(paths, strings.TrimSuffix(strings.TrimPrefix(s.Spec.Overlay, "./"), "/"))
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}
