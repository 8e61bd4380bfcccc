package console

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

// head is the branch head the daemon follows, as the console reads it: its
// files, its descriptors and, once asked for, its render.
type head struct {
	rev  sources.Revision
	fsys fs.FS
	cfg  *renderer.Config
	// broken says why the head's descriptors do not load; cfg is then
	// the last head that loaded, at loaded, so that the commit that broke
	// it can still be found and reverted.
	broken error
	loaded sources.Revision

	once sync.Once
	res  *renderer.Result
	err  error
}

// heads keeps the head the console last read, so that the pages of one
// commit load its descriptors once.
type heads struct {
	repo *sources.Repository
	mu   sync.Mutex
	cur  *head
	good *head // the last head that loaded
}

func newHeads(repo *sources.Repository) *heads { return &heads{repo: repo} }

// get returns the branch head as the mirror has it.
func (h *heads) get(ctx context.Context) (*head, error) {
	rev, err := h.repo.Resolve()
	if err != nil {
		return nil, fmt.Errorf("read the branch head: %w", err)
	}
	return h.at(ctx, rev)
}

// at returns the head at rev.
func (h *heads) at(ctx context.Context, rev sources.Revision) (*head, error) {
	h.mu.Lock()
	cur := h.cur
	h.mu.Unlock()
	if cur != nil && cur.rev.Commit == rev.Commit {
		return cur, nil
	}
	fsys, err := h.repo.FS(rev.Commit)
	if err != nil {
		return nil, fmt.Errorf("read revision %s: %w", rev, err)
	}
	next := &head{rev: rev, fsys: fsys, loaded: rev}
	next.cfg, err = renderer.Load(ctx, fsys)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		h.good = next
	case h.good == nil:
		return nil, fmt.Errorf("load revision %s: %w", rev, err)
	default:
		next.cfg, next.loaded, next.broken = h.good.cfg, h.good.rev, err
	}
	h.cur = next
	return next, nil
}

// renderTimeout bounds the render of a head, made once for every page
// that needs it, whichever request asked first.
const renderTimeout = 2 * time.Minute

// rendered returns the head's render, made on first use. It is made apart
// from the request that asked first, so that a request cancelled mid-way
// leaves nothing wrong behind for the next.
func (hd *head) rendered(ctx context.Context) (*renderer.Result, error) {
	hd.once.Do(func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renderTimeout)
		defer cancel()
		hd.res, hd.err = renderer.Render(rctx, hd.fsys, renderer.Options{Timeout: renderTimeout})
	})
	return hd.res, hd.err
}

// solution returns the solution named name.
func (hd *head) solution(name string) (*renderer.Solution, bool) {
	return find(hd.cfg.Solutions, name)
}

func find(solutions []*renderer.Solution, name string) (*renderer.Solution, bool) {
	for _, s := range solutions {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}
