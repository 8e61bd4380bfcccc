package sources_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
	"github.com/tandem-gitops/tandem/sources/webhook"
)

// The daemon's wiring: poll a repository, let webhooks trigger fetches, and
// render every new revision straight from its commit.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	repo, err := sources.Open(sources.Spec{
		URL:      "https://github.com/acme/factory-config.git",
		Ref:      sources.Ref{Branch: "main"},
		Interval: time.Minute,
		Auth:     sources.Auth{PasswordFile: "/etc/tandem/git-token"},
	}, sources.Options{CacheDir: "/var/cache/tandem/git"})
	if err != nil {
		log.Fatal(err)
	}
	defer repo.Close()
	poller := sources.NewPoller(repo, sources.PollerOptions{})
	hooks, err := webhook.NewReceiver(webhook.Options{Secret: []byte(os.Getenv("TANDEM_WEBHOOK_SECRET"))}, poller)
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("POST /hooks/git", hooks)

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return poller.Run(ctx) })
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case rev := <-poller.Revisions():
				fsys, err := repo.FS(rev.Commit)
				if err != nil {
					return err
				}
				if _, err := renderer.Render(ctx, fsys, renderer.Options{}); err != nil {
					log.Printf("render %s: %v", rev, err)
				}
			}
		}
	})
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}
