package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

type applyOptions struct {
	revision    string
	remote      gitFlags
	cacheDir    string
	clusters    clusterFlags
	instance    instanceFlags
	only        []string
	timeout     time.Duration
	concurrency int
	output      string
}

func newApplyCommand() *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply [PATH | --repo URL]",
		Short: "Reconcile every cluster once to a revision of a config repository",
		Long: `Apply the config repository at PATH (default ".") or at --repo URL to every
cluster it targets, once, and wait for health: what "tandem serve" does for
each new commit, run by hand.

The repository is rendered whole first; if it does not render, the error
names the file and field and nothing is applied. Then each cluster is
reconciled concurrently: server-side apply, pruning of what the revision no
longer has, and a wait until every object is healthy. Progress is printed per
cluster, solution and tier as it happens, on standard error; a summary of what
changed on each follows on standard output.

PATH is read as it is on disk, recorded as the revision
"dir:<absolute path>@sha256:<digest of the render>". With --revision, PATH must
be in a Git repository and the revision (a branch, tag, commit, HEAD~1…) is
read from it, not from the working tree. With --repo, the remote is mirrored
(in --cache-dir, or a temporary directory) and its --ref is read.

Clusters are resolved by name as "tandem serve" resolves them: kubeconfig
contexts of the same name, or with --cluster-secrets, Secrets labelled
tandem.dev/cluster=<name>.

Exit status: 0 every target is Ready, 1 the repository does not render or a
target is not Ready, 2 usage error.`,
		Example: `  # Apply the checkout in the current directory as it is.
  tandem apply --kubeconfig ~/.kube/fleet

  # Apply the previous commit to two plants only.
  tandem apply . --revision HEAD~1 --cluster plant-a --cluster plant-b

  # Apply the head of a remote branch and print the outcome as JSON.
  tandem apply --repo https://git.example.com/iot/config.git --ref main -o json`,
		Args: pathArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requirePositive(cmd.Flags(), "concurrency", "timeout", "git-timeout"); err != nil {
				return err
			}
			if err := o.validate(cmd.Flags(), args); err != nil {
				return &usageError{err}
			}
			clientLogsTo(cmd.ErrOrStderr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, o.timeout)
			defer cancel()
			return o.run(ctx, cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.revision, "revision", "", "read `REV` (branch, tag, commit, HEAD~1…) from the Git repository PATH is in, instead of the files on disk")
	o.remote.register(f)
	f.StringVar(&o.cacheDir, "cache-dir", "", "keep the mirror of --repo in `DIR` for later runs (default: a temporary directory)")
	o.clusters.register(f)
	o.instance.register(f, true)
	f.StringSliceVar(&o.only, "cluster", nil, "apply only to cluster `NAME`; repeatable")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long fetching, applying and waiting for health may take in all")
	f.IntVar(&o.concurrency, "concurrency", 16, "cluster reads and writes at once (connecting, applying or pruning a tier); waiting for health takes none")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (o *applyOptions) validate(f *pflag.FlagSet, args []string) error {
	switch {
	case o.output != "text" && o.output != "json":
		return fmt.Errorf("unknown output format %q: want text or json", o.output)
	}
	if o.remote.spec.URL == "" {
		for _, name := range []string{"ref", "cache-dir"} {
			if f.Changed(name) {
				return fmt.Errorf("--%s needs --repo", name)
			}
		}
		return nil
	}
	switch {
	case len(args) > 0:
		return errors.New("give either PATH or --repo, not both")
	case o.revision != "":
		return errors.New("--revision reads a local repository; with --repo, use --ref")
	}
	return o.remote.resolve()
}

func (o *applyOptions) run(ctx context.Context, cmd *cobra.Command, args []string) error {
	stderr := cmd.ErrOrStderr()
	res, rev, err := o.render(ctx, args)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	revision := rev.String()
	printWarnings(stderr, res.Warnings)
	targets, err := selectClusters(reconciler.TargetsFor(res, revision), o.only)
	if err != nil {
		return err
	}
	resolver, err := o.clusters.resolver()
	if err != nil {
		return err
	}

	fmt.Fprintf(stderr, "Applying %s to %d cluster(s)\n", revision, len(targets))
	progress := newProgress(stderr, targets)
	r := reconciler.New(resolver, reconciler.Options{
		Version:       toolingVersion(),
		Instance:      o.instance.orDerived(o.identity(args)),
		TakeOver:      o.instance.takeOver,
		Concurrency:   o.concurrency,
		HealthTimeout: o.timeout,
		// Progress reports every result; the reconciler's log would
		// repeat it.
		Logger: slog.New(slog.DiscardHandler),
	})
	sent := make(chan reconciler.Result)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for res := range sent {
			progress.show(res)
		}
	}()
	applied := r.Apply(ctx, targets, sent)
	close(sent)
	<-printed
	results := withUnfinished(applied, targets, ctx.Err())

	if o.output == "json" {
		err = writeApplyJSON(cmd.OutOrStdout(), results)
	} else {
		err = writeApplySummary(cmd.OutOrStdout(), results, revision)
	}
	if err != nil {
		return err
	}
	if n := len(results) - countReady(results); n > 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d target(s) not Ready", n, len(results))}
	}
	return nil
}

// identity is the instance identity of what apply reads: the remote and
// its ref, or the checkout PATH is in.
func (o *applyOptions) identity(args []string) string {
	if o.remote.spec.URL != "" {
		return sources.Identity(o.remote.spec.URL, o.remote.spec.Ref.String(), "")
	}
	return localIdentity(dirArg(args))
}

// render renders the repository whole and returns the revision to record:
// --ref of --repo, --revision of the repository PATH is in, or PATH as it
// is on disk.
func (o *applyOptions) render(ctx context.Context, args []string) (*renderer.Result, sources.Revision, error) {
	loc, rev := sources.Location{Path: dirArg(args)}, o.revision
	if o.remote.spec.URL != "" {
		loc = sources.Location{Remote: o.remote.spec, CacheDir: o.cacheDir, Logger: slog.New(slog.DiscardHandler)}
		rev = o.remote.ref
	}
	res, revision, err := renderLocation(ctx, loc, rev, renderer.Options{})
	if err != nil || revision.Dir == "" {
		return res, revision, err
	}
	revision.Digest, err = renderDigest(res)
	return res, revision, err
}

// renderDigest is the digest of what a plain directory renders to. Files
// on disk have no commit, so it stands in for one: two applies of the same
// content record the same revision, and an edit a new one, which keeps
// "corrected" meaning drift undone, never an edit applied.
func renderDigest(res *renderer.Result) (string, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, t := range res.Targets {
		if err := enc.Encode([]string{t.Cluster, t.Solution, t.Tier}); err != nil {
			return "", err
		}
		for _, obj := range t.Objects {
			if err := enc.Encode(obj.Object); err != nil {
				return "", fmt.Errorf("digest %s/%s: %w", obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// selectClusters keeps the targets of the named clusters; none named keeps
// them all.
func selectClusters(targets []reconciler.Target, names []string) ([]reconciler.Target, error) {
	if len(names) == 0 {
		return targets, nil
	}
	var known []string
	for _, t := range targets {
		known = append(known, t.Cluster)
	}
	for _, name := range names {
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("cluster %s is not targeted by the repository; its clusters are %s", name, strings.Join(known, ", "))
		}
	}
	return slices.DeleteFunc(slices.Clone(targets), func(t reconciler.Target) bool {
		return !slices.Contains(names, t.Cluster)
	}), nil
}

// withUnfinished adds a Failed result for every tier of targets that has
// none: a cluster whose turn never came before the timeout or an interrupt.
func withUnfinished(results []reconciler.Result, targets []reconciler.Target, cause error) []reconciler.Result {
	seen := make(map[reconciler.Key]bool, len(results))
	for _, r := range results {
		seen[r.Key] = true
	}
	for _, t := range targets {
		for _, ts := range t.Tiers {
			if key := reconciler.KeyOf(t.Cluster, ts); !seen[key] {
				results = append(results, reconciler.Result{Key: key, Revision: ts.Revision,
					Phase: reconciler.PhaseFailed, Message: fmt.Sprintf("not applied: %v", cause)})
			}
		}
	}
	slices.SortFunc(results, func(a, b reconciler.Result) int { return a.Key.Compare(b.Key) })
	return results
}

func countReady(results []reconciler.Result) int {
	n := 0
	for _, r := range results {
		if r.Phase == reconciler.PhaseReady {
			n++
		}
	}
	return n
}
