package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
	"github.com/tandem-gitops/tandem/sources/gitwrite"
)

// revertLimit is how far back the console reverts a solution's commits.
const revertLimit = 200

// revertView is the page that previews a revert before it is committed.
type revertView struct {
	Name, Commit, Subject string
	Preview               Preview
	Notice                string
}

func (c *Console) revertPreview(w http.ResponseWriter, r *http.Request, sess *session) {
	hd, sol, ok := c.solutionAt(w, r, sess)
	if !ok {
		return
	}
	v, status := c.previewRevert(r.Context(), hd, sol, r.PathValue("commit"), sess.user)
	c.render(w, r, status, "revert", sess, v)
}

// previewRevert works out what reverting commit on hd would do.
func (c *Console) previewRevert(ctx context.Context, hd *head, sol *renderer.Solution, commit, user string) (revertView, int) {
	v := revertView{Name: sol.Name, Commit: commit, Preview: Preview{Solution: sol.Name, Base: hd.rev.Commit, From: sol.Spec.Scale, To: sol.Spec.Scale}}
	// Only a commit the history lists is reverted from this solution's
	// page: what else it changed would go unseen.
	commits, err := c.cfg.Repository.History(ctx, solutionPaths(sol, hd.cfg.Sites), revertLimit)
	if err != nil {
		v.Preview.Error = err.Error()
		return v, http.StatusBadGateway
	}
	if !slices.ContainsFunc(commits, func(cm sources.Commit) bool { return cm.SHA == commit }) {
		v.Preview.Error = fmt.Sprintf("commit %.12s is not among the last %d commits that changed solution %s; revert it with git", commit, revertLimit, sol.Name)
		return v, http.StatusUnprocessableEntity
	}
	change, err := c.cfg.Writer.RevertChange(commit, author(user), "")
	if err != nil {
		v.Preview.Error = err.Error()
		return v, http.StatusUnprocessableEntity
	}
	v.Subject = change.Message
	staged, err := c.cfg.Writer.Stage(change, hd.rev.Commit)
	var conflict *gitwrite.ConflictError
	switch {
	case errors.As(err, &conflict):
		v.Preview.Error = "The lines this commit changed were changed again since; it cannot be reverted on its own: " + conflict.Error()
		return v, http.StatusConflict
	case err != nil:
		v.Preview.Error = err.Error()
		return v, http.StatusUnprocessableEntity
	case staged == "":
		v.Notice = "The branch already has what this commit changed undone; there is nothing to revert."
		return v, http.StatusOK
	}
	after, err := c.cfg.Repository.FS(staged)
	if err != nil {
		v.Preview.Error = fmt.Sprintf("read the reverted tree: %v", err)
		return v, http.StatusInternalServerError
	}
	v.Preview = compare(ctx, hd, v.Preview, after)
	return v, http.StatusOK
}

// revert commits the revert previewed on the commit the form names.
func (c *Console) revert(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx := r.Context()
	hd, sol, ok := c.fetchedSolution(w, r)
	if !ok {
		return
	}
	commit := r.PathValue("commit")
	v, status := c.previewRevert(ctx, hd, sol, commit, sess.user)
	switch {
	case r.PostFormValue("base") != hd.rev.Commit:
		v.Notice = "The configuration changed since you looked; here is the new preview. Nothing was committed."
		c.render(w, r, http.StatusConflict, "revert", sess, v)
		return
	case v.Preview.Error != "" || v.Notice != "":
		c.render(w, r, status, "revert", sess, v)
		return
	}
	pushed, err := c.cfg.Writer.Revert(ctx, commit, author(sess.user), r.PostFormValue("message"))
	if err != nil {
		var conflict *gitwrite.ConflictError
		v.Notice = "The revert could not be pushed; nothing changed: " + err.Error()
		status := http.StatusBadGateway
		if errors.As(err, &conflict) {
			status = http.StatusConflict
		}
		c.log.Error("console revert failed", "user", sess.user, "solution", sol.Name, "commit", commit, "error", err)
		c.render(w, r, status, "revert", sess, v)
		return
	}
	c.log.Info("console commit", "user", sess.user, "solution", sol.Name, "action", "revert",
		"reverts", commit, "from", v.Preview.From, "to", v.Preview.To, "revision", pushed.String())
	c.cfg.Trigger()
	http.Redirect(w, r, pushedURL(sol.Name, pushed.Commit), http.StatusSeeOther)
}
