package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources/gitwrite"
)

// fleetView is the fleet page: every solution, every cluster's tiers and
// the source.
type fleetView struct {
	Source    daemon.SourceStatus
	Render    daemon.RenderStatus
	Solutions []solutionSummary
	Clusters  []clusterView
	Error     string
}

type solutionSummary struct {
	Name    string
	Scale   float64
	Rollout *daemon.RolloutStatus
}

// clusterView is one cluster: its site, if it is one, and its tiers.
type clusterView struct {
	Name, Site string
	// Unreachable is set when a tier's latest pass could not reach it;
	// Waiting when no tier of the revision was given to it yet; Silent
	// when a pull site's agent has not reached the hub for too long.
	Unreachable, Waiting, Silent bool
	// Mode is "pull" for a pull site, whose Agent the hub heard from, if
	// ever.
	Mode  string
	Agent *daemon.AgentStatus
	Tiers []daemon.TargetStatus
}

func (c *Console) fleet(w http.ResponseWriter, r *http.Request, sess *session) {
	st := c.cfg.Status()
	v := fleetView{Source: st.Source, Render: st.Render}
	hd, err := c.heads.get(r.Context())
	sites := map[string]string{}
	if err != nil {
		v.Error = err.Error()
	} else {
		if hd.broken != nil {
			v.Error = fmt.Sprintf("The branch head %s does not load: %v. The solutions below are as of %s; revert the commit that broke it from a solution's history.",
				hd.rev.Short(), hd.broken, hd.loaded.Short())
		}
		for _, s := range hd.cfg.Solutions {
			v.Solutions = append(v.Solutions, solutionSummary{Name: s.Name, Scale: s.Spec.Scale, Rollout: rolloutOf(st, s.Name)})
		}
		for _, s := range hd.cfg.Sites {
			sites[s.Spec.Cluster] = s.Name
		}
	}
	v.Clusters = clusters(st.Targets, sites)
	if hd != nil {
		v.Clusters = withWaiting(v.Clusters, hd.cfg.Sites)
	}
	c.render(w, r, http.StatusOK, "fleet", sess, v)
}

// withWaiting adds the sites no target status names yet: a site whose
// first wave has not come, or that no pass reached.
func withWaiting(cs []clusterView, sites []*renderer.Site) []clusterView {
	for _, s := range sites {
		if !slices.ContainsFunc(cs, func(c clusterView) bool { return c.Name == s.Spec.Cluster }) {
			cs = append(cs, clusterView{Name: s.Spec.Cluster, Site: s.Name, Waiting: true, Mode: siteMode(s)})
		}
	}
	slices.SortStableFunc(cs, func(a, b clusterView) int { return strings.Compare(a.Name, b.Name) })
	return cs
}

// clusters groups target statuses by cluster, in the status's order.
func clusters(targets []daemon.TargetStatus, sites map[string]string) []clusterView {
	var out []clusterView
	for _, t := range targets {
		if n := len(out); n == 0 || out[n-1].Name != t.Cluster {
			out = append(out, clusterView{Name: t.Cluster, Site: sites[t.Cluster]})
		}
		cv := &out[len(out)-1]
		cv.Tiers = append(cv.Tiers, t)
		cv.Unreachable = cv.Unreachable || t.Phase == "Unreachable"
		cv.Silent = cv.Silent || t.Phase == daemon.PhaseUnknown
		cv.Mode = cmp.Or(cv.Mode, t.Mode)
		cv.Agent = cmp.Or(cv.Agent, t.Agent)
	}
	return out
}

// siteMode is a site's mode as target statuses say it: "pull" for a pull
// site, "" for one the hub reaches itself.
func siteMode(s *renderer.Site) string {
	if s.Spec.Mode == renderer.ModePull {
		return string(renderer.ModePull)
	}
	return ""
}

func rolloutOf(st daemon.Status, solution string) *daemon.RolloutStatus {
	for i := range st.Rollouts {
		if st.Rollouts[i].Solution == solution {
			return &st.Rollouts[i]
		}
	}
	return nil
}

// solutionView is the solution page: its scale, a preview of a new one,
// and how its revision is rolling out.
type solutionView struct {
	Name     string
	Scale    float64
	File     string
	Revision string
	Preview  *Preview
	// Notice is said above the preview: why it was made again.
	Notice  string
	Rollout *daemon.RolloutStatus
	Targets []daemon.TargetStatus
	// Pushed is the revision the console just committed, rolling out.
	Pushed  string
	Message string
}

func (c *Console) solution(w http.ResponseWriter, r *http.Request, sess *session) {
	hd, sol, ok := c.solutionAt(w, r, sess)
	if !ok {
		return
	}
	v := c.solutionView(hd, sol)
	v.Pushed = r.URL.Query().Get("pushed")
	if hd.broken != nil {
		v.Notice = fmt.Sprintf("The branch head does not load: %v. This page shows the solution as of %s; revert the commit that broke it from the history.", hd.broken, hd.loaded.Short())
	}
	if s := r.URL.Query().Get("scale"); s != "" {
		p := c.previewInput(r.Context(), hd, sol, s, r.URL.Query().Get("summary") == "1")
		v.Preview = &p
	}
	c.render(w, r, http.StatusOK, "solution", sess, v)
}

func (c *Console) solutionView(hd *head, sol *renderer.Solution) solutionView {
	st := c.cfg.Status()
	v := solutionView{Name: sol.Name, Scale: sol.Spec.Scale, File: sol.File, Revision: hd.rev.String(), Rollout: rolloutOf(st, sol.Name)}
	for _, t := range st.Targets {
		if t.Solution == sol.Name {
			v.Targets = append(v.Targets, t)
		}
	}
	return v
}

// previewInput previews the scale a form gives, which may not be a number.
func (c *Console) previewInput(ctx context.Context, hd *head, sol *renderer.Solution, input string, summary bool) Preview {
	scale, err := strconv.ParseFloat(strings.TrimSpace(input), 64)
	if err != nil {
		return Preview{Solution: sol.Name, Base: hd.rev.Commit, From: sol.Spec.Scale,
			Error: fmt.Sprintf("%s: spec.scale: %q is not a number", sol.File, input)}
	}
	return previewScale(ctx, hd, sol, scale, summary)
}

// solutionAt reads the solution the path names on the branch head, or
// answers why not.
func (c *Console) solutionAt(w http.ResponseWriter, r *http.Request, sess *session) (*head, *renderer.Solution, bool) {
	hd, err := c.heads.get(r.Context())
	if err != nil {
		c.render(w, r, http.StatusServiceUnavailable, "fleet", sess, fleetView{Error: err.Error()})
		return nil, nil, false
	}
	sol, ok := hd.solution(r.PathValue("name"))
	if !ok {
		http.Error(w, fmt.Sprintf("no solution %q at %s", r.PathValue("name"), hd.rev), http.StatusNotFound)
		return nil, nil, false
	}
	return hd, sol, true
}

// applyScale commits a new scale: only on top of the commit it was
// previewed on, only when it validates, as the signed-in user.
func (c *Console) applyScale(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx := r.Context()
	hd, sol, ok := c.fetchedSolution(w, r)
	if !ok {
		return
	}
	v := c.solutionView(hd, sol)
	p := c.previewInput(ctx, hd, sol, r.PostFormValue("scale"), false)
	v.Preview, v.Message = &p, r.PostFormValue("message")
	switch {
	case r.PostFormValue("base") != hd.rev.Commit:
		v.Notice = "The configuration changed since you looked; here is the new preview. Nothing was committed."
		c.render(w, r, http.StatusConflict, "solution", sess, v)
		return
	case p.Error != "":
		c.render(w, r, http.StatusUnprocessableEntity, "solution", sess, v)
		return
	case p.To == p.From:
		v.Notice = "The scale is already " + strconv.FormatFloat(p.From, 'f', -1, 64) + "; nothing to commit."
		c.render(w, r, http.StatusOK, "solution", sess, v)
		return
	}
	message := cmp.Or(strings.TrimSpace(r.PostFormValue("message")),
		fmt.Sprintf("Scale %s from %s to %s", sol.Name, strconv.FormatFloat(p.From, 'f', -1, 64), strconv.FormatFloat(p.To, 'f', -1, 64)))
	edited, err := editedScale(hd, sol, p.To)
	if err != nil {
		v.Preview.Error = err.Error()
		c.render(w, r, http.StatusUnprocessableEntity, "solution", sess, v)
		return
	}
	pushed, err := c.cfg.Writer.Commit(ctx, gitwrite.Change{Base: hd.rev.Commit, Files: map[string][]byte{sol.File: edited},
		Author: author(sess.user), Message: message})
	if !c.committed(w, r, sess, &v, err) {
		return
	}
	if pushed.Commit == hd.rev.Commit {
		// Someone pushed the same scale meanwhile: nothing of the user's
		// was committed.
		v.Notice = "The branch already has scale " + strconv.FormatFloat(p.To, 'f', -1, 64) + "; nothing was committed."
		c.render(w, r, http.StatusOK, "solution", sess, v)
		return
	}
	c.log.Info("console commit", "user", sess.user, "solution", sol.Name, "action", "scale",
		"from", p.From, "to", p.To, "revision", pushed.String())
	c.cfg.Trigger()
	http.Redirect(w, r, pushedURL(sol.Name, pushed.Commit), http.StatusSeeOther)
}

// pushedURL is the solution page following a commit the console pushed.
func pushedURL(solution, commit string) string {
	return "/console/solutions/" + url.PathEscape(solution) + "?pushed=" + url.QueryEscape(commit)
}

// fetchedSolution fetches the branch head, for a write is made only on
// top of what the user saw, and reads the solution the path names there.
func (c *Console) fetchedSolution(w http.ResponseWriter, r *http.Request) (*head, *renderer.Solution, bool) {
	rev, err := c.cfg.Repository.Fetch(r.Context())
	if err != nil {
		http.Error(w, "fetch the configuration repository: "+err.Error(), http.StatusBadGateway)
		return nil, nil, false
	}
	hd, err := c.heads.at(r.Context(), rev)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return nil, nil, false
	}
	sol, ok := hd.solution(r.PathValue("name"))
	if !ok {
		http.Error(w, fmt.Sprintf("no solution %q at %s", r.PathValue("name"), rev), http.StatusNotFound)
		return nil, nil, false
	}
	return hd, sol, true
}

// committed reports whether a commit went through; if not, it answers why
// on the solution page.
func (c *Console) committed(w http.ResponseWriter, r *http.Request, sess *session, v *solutionView, err error) bool {
	if err == nil {
		return true
	}
	var conflict *gitwrite.ConflictError
	if errors.As(err, &conflict) {
		v.Notice = "Someone changed the same lines since you looked; nothing was committed. " + conflict.Error()
		c.render(w, r, http.StatusConflict, "solution", sess, *v)
		return false
	}
	c.log.Error("console commit failed", "user", sess.user, "solution", v.Name, "error", err)
	v.Notice = "The commit could not be pushed; nothing changed: " + err.Error()
	c.render(w, r, http.StatusBadGateway, "solution", sess, *v)
	return false
}

func editedScale(hd *head, sol *renderer.Solution, scale float64) ([]byte, error) {
	data, err := fs.ReadFile(hd.fsys, sol.File)
	if err != nil {
		return nil, err
	}
	return renderer.SetScale(sol.File, data, scale)
}

// author is the commit author of a console user. Users files name people,
// not addresses; the address says where the commit came from.
func author(user string) gitwrite.Signature {
	return gitwrite.Signature{Name: user, Email: user + "@console.tandem.invalid"}
}

// siteView is the site page.
type siteView struct {
	Site    *renderer.Site
	Weight  float64
	Tiers   []daemon.TargetStatus
	Labels  []string
	Cluster string
	// Mode is "pull" for a pull site, whose Agent the hub heard from, if
	// ever.
	Mode  string
	Agent *daemon.AgentStatus
}

func (c *Console) site(w http.ResponseWriter, r *http.Request, sess *session) {
	hd, err := c.heads.get(r.Context())
	if err != nil {
		c.render(w, r, http.StatusServiceUnavailable, "fleet", sess, fleetView{Error: err.Error()})
		return
	}
	i := slices.IndexFunc(hd.cfg.Sites, func(s *renderer.Site) bool { return s.Name == r.PathValue("name") })
	if i < 0 {
		http.Error(w, fmt.Sprintf("no site %q at %s", r.PathValue("name"), hd.rev), http.StatusNotFound)
		return
	}
	s := hd.cfg.Sites[i]
	v := siteView{Site: s, Weight: s.Spec.Weight, Cluster: s.Spec.Cluster, Mode: siteMode(s)}
	for k, val := range s.Labels {
		v.Labels = append(v.Labels, k+"="+val)
	}
	slices.Sort(v.Labels)
	for _, t := range c.cfg.Status().Targets {
		if t.Cluster == s.Spec.Cluster {
			v.Tiers = append(v.Tiers, t)
			v.Mode, v.Agent = cmp.Or(v.Mode, t.Mode), cmp.Or(v.Agent, t.Agent)
		}
	}
	c.render(w, r, http.StatusOK, "site", sess, v)
}
