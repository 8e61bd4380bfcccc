package sources

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// URL returns the remote's URL without credentials, as revisions, logs and
// errors name it.
func (r *Repository) URL() string { return r.url }

// Objects runs fn on the mirror's object storage, holding the mirror for
// the whole call so that no fetch or read interleaves. It is how a writer
// (package github.com/tandem-gitops/tandem/sources/gitwrite) reads the
// trees it edits and stores the commit it then pushes with Push.
func (r *Repository) Objects(fn func(storer.EncodedObjectStorer) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fn(r.storage)
}

// Push sends commit, already stored in the mirror, to the spec's branch
// without forcing, and records it as the branch's head in the mirror once
// the remote accepted it: a Poller of the same Repository emits it on its
// next poll. A rejected push (the branch moved) is returned as the
// transport reports it, for the caller to retry on the new head.
func (r *Repository) Push(ctx context.Context, commit string) (Revision, error) {
	if r.spec.Ref.Branch == "" {
		return Revision{}, fmt.Errorf("push to %s: ref %s is not a branch", r.url, r.spec.Ref)
	}
	hash := plumbing.NewHash(commit)
	auth, err := r.spec.Auth.method(r.spec.URL)
	if err != nil {
		return Revision{}, err
	}
	caBundle, err := r.spec.caBundle()
	if err != nil {
		return Revision{}, err
	}
	name := plumbing.NewBranchReferenceName(r.spec.Ref.Branch)
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.spec.timeout())
	defer cancel()
	err = r.remote.PushContext(ctx, &git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec(hash.String() + ":" + name.String())},
		Auth:       auth,
		CABundle:   caBundle,
	})
	if err != nil {
		return Revision{}, err
	}
	if err := r.storage.SetReference(plumbing.NewHashReference(name, hash)); err != nil {
		return Revision{}, fmt.Errorf("record pushed commit %s in mirror: %w", commit, err)
	}
	c, err := r.git.CommitObject(hash)
	if err != nil {
		return Revision{}, fmt.Errorf("read pushed commit %s: %w", commit, err)
	}
	return newRevision(r.url, name.String(), c), nil
}
