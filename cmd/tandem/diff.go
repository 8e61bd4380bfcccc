package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

// exitDiffError is diff's exit status on error: 1 means "changes" under
// --exit-code, as with git diff.
const exitDiffError = 2

type diffOptions struct {
	base, head, repo string
	output           string
	color            string
	exitCode         bool
	maxSize          int
	live             bool
	clusters         clusterFlags
	instance         instanceFlags
	only             []string
}

func newDiffCommand() *cobra.Command {
	o := diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff --base REV [--head REV] [--repo PATH|URL] | diff BASE_DIR HEAD_DIR | diff --live [--head REV] [--repo PATH|URL] [DIR]",
		Short: "Show what a change of the config repository does to every cluster",
		Long: `Render two revisions of the config repository straight from Git, pair their
objects by cluster, group, kind, namespace and name, and show what the head
revision adds, removes and changes on every cluster, without access to any
cluster.

The summary comes first: per tier, which sites change and how, with replica
counts, container images and model versions called out; sites that change in
exactly the same way are one line however many they are. For every site with
a spec.capacity that the change touches, it shows each resource's use before
→ after in percent of the capacity, flagged above 90%. Then the unified
diff of every object's YAML; clusters with identical changes share one copy.

REV is anything git rev-parse accepts in the local repository at --repo
(default "."): a branch, a tag, origin/main, HEAD~1, a commit SHA. With a
remote URL for --repo, REV is a branch, a tag or a full commit SHA, fetched
into a temporary mirror. Given two directories instead, diff compares them as
they are on disk.

With --live, diff compares the head revision (or DIR, as it is on disk) with
the live clusters instead of a base revision: it plans a reconcile of every
cluster the head targets as "tandem apply" would run it, and shows what that
would create, change (the live object against the server's answer to a
server-side dry-run apply), prune, or leave in place without its ApplySet
label (tandem.dev/prune: disabled). Nothing is written to any cluster.
Clusters resolve by name as for "tandem apply"; a cluster that cannot be
reached is reported, and the others are compared all the same.

Output formats: text (coloured on a terminal), markdown (for a pull-request
comment: a collapsible section per cluster, capped at --max-size bytes with a
note of what was left out) and json.

Exit status: 0 success (with --exit-code: no change), 1 with --exit-code:
the head revision changes something, 2 error, including a revision that does
not render, named with its file and field, and with --live a cluster that
could not be compared (after the report of the others).`,
		Example: `  # What does this branch do to the fleet?
  tandem diff --base origin/main --head HEAD

  # A pull-request comment
  tandem diff --base origin/main -o markdown > diff.md

  # Two checkouts side by side
  tandem diff ../config-main ../config-feature

  # What would applying this branch change on two of the clusters?
  tandem diff --live --head feature --kubeconfig ~/.kube/fleet --cluster cloud --cluster plant-a`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.live {
				clientLogsTo(cmd.ErrOrStderr())
				return runLiveDiff(cmd, args, o)
			}
			for _, name := range liveFlags {
				if cmd.Flags().Changed(name) {
					return &usageError{fmt.Errorf("--%s needs --live", name)}
				}
			}
			return runDiff(cmd, args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.base, "base", "", "the revision to compare against, usually the target branch (`REV`)")
	f.StringVar(&o.head, "head", "HEAD", "the revision whose changes to show (`REV`)")
	f.StringVar(&o.repo, "repo", ".", "the config repository: a local `PATH` or a remote URL")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, markdown or json")
	f.StringVar(&o.color, "color", "auto", "colour text output: auto, always or never")
	f.BoolVar(&o.exitCode, "exit-code", false, "exit with status 1 when the head revision changes anything")
	f.IntVar(&o.maxSize, "max-size", diff.DefaultMarkdownSize, "cap markdown output at `BYTES`")
	f.BoolVar(&o.live, "live", false, "compare the head revision with the live clusters, through a server-side dry-run apply")
	o.clusters.register(f)
	o.instance.register(f, false)
	f.StringSliceVar(&o.only, "cluster", nil, "with --live, compare only cluster `NAME`; repeatable")
	return cmd
}

// liveFlags are the flags only --live reads.
var liveFlags = []string{"kubeconfig", "cluster-secrets", "cluster-secrets-namespace", "cluster", "instance"}

func runDiff(cmd *cobra.Command, args []string, o diffOptions) error {
	write, err := o.writer(cmd.OutOrStdout())
	if err != nil {
		return err
	}
	var base, head diff.Revision
	switch {
	case len(args) == 2:
		if cmd.Flags().Changed("base") || cmd.Flags().Changed("head") || cmd.Flags().Changed("repo") {
			return &usageError{errors.New("give either two directories or --base, --head and --repo, not both")}
		}
		base, head, err = renderDirs(cmd.Context(), args[0], args[1])
	case len(args) == 1:
		return &usageError{errors.New("give two directories to compare, or none and --base")}
	case o.base == "":
		return &usageError{errors.New("--base is required: the revision to compare against, such as origin/main")}
	default:
		var revs []diff.Revision
		if revs, err = o.renderRevisions(cmd.Context(), side{"base", o.base}, side{"head", o.head}); err == nil {
			base, head = revs[0], revs[1]
		}
	}
	if err != nil {
		return &exitError{code: exitDiffError, err: err}
	}
	for _, rev := range []diff.Revision{base, head} {
		for _, w := range rev.Result.Warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %s: %s\n", rev.Name, w)
		}
	}
	report, err := diff.Compare(base, head)
	if err != nil {
		return &exitError{code: exitDiffError, err: err}
	}
	diff.Rollouts(report, head.Result, time.Now())
	if err := write(report); err != nil {
		return &exitError{code: exitDiffError, err: err}
	}
	if o.exitCode && !report.Empty() {
		return &exitError{code: exitFailure, err: fmt.Errorf("%s changes %d object(s) (--exit-code)", head.Name, len(report.Changes))}
	}
	return nil
}

// runLiveDiff compares the head revision with the live clusters: it
// renders the head, plans a reconcile of every cluster it targets, and
// prints the plan as a diff.
func runLiveDiff(cmd *cobra.Command, args []string, o diffOptions) error {
	write, err := o.writer(cmd.OutOrStdout())
	if err != nil {
		return err
	}
	switch {
	case cmd.Flags().Changed("base"):
		return &usageError{errors.New("--live compares the head revision with the clusters; give no --base")}
	case len(args) > 1:
		return &usageError{errors.New("--live takes one directory at most")}
	case len(args) == 1 && (cmd.Flags().Changed("head") || cmd.Flags().Changed("repo")):
		return &usageError{errors.New("give either a directory or --head and --repo, not both")}
	}
	resolver, err := o.clusters.resolver()
	if err != nil {
		return &exitError{code: exitDiffError, err: err}
	}

	ctx := cmd.Context()
	var head diff.Revision
	if len(args) == 1 {
		head, err = renderDir(ctx, "head", args[0])
	} else {
		var revs []diff.Revision
		if revs, err = o.renderRevisions(ctx, side{"head", o.head}); err == nil {
			head = revs[0]
		}
	}
	if err != nil {
		return &exitError{code: exitDiffError, err: err}
	}
	for _, w := range head.Result.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %s: %s\n", head.Name, w)
	}
	targets, err := selectClusters(reconciler.TargetsFor(head.Result, head.Name), o.only)
	if err != nil {
		return &exitError{code: exitDiffError, err: err}
	}

	r := reconciler.New(resolver, reconciler.Options{
		Version:  toolingVersion(),
		Instance: o.instance.orDerived(o.liveIdentity(args)),
		// A pull request's branch is not the instance that applies it
		// once merged: unless told which instance to compare as, plan
		// every rendered tier whoever owns it.
		TakeOver: o.instance.name == "",
		Logger:   slog.New(slog.DiscardHandler),
	})
	report, err := diff.Live(head, r.Plan(ctx, targets))
	if err != nil {
		return &exitError{code: exitDiffError, err: err}
	}
	if err := write(report); err != nil {
		return &exitError{code: exitDiffError, err: err}
	}
	if len(report.Failures) > 0 {
		var failed []string
		for _, f := range report.Failures {
			failed = append(failed, f.Cluster)
		}
		failed = slices.Compact(failed)
		return &exitError{code: exitDiffError, err: fmt.Errorf("%d of %d cluster(s) could not be compared: %s", len(failed), report.Clusters, strings.Join(failed, ", "))}
	}
	if o.exitCode && !report.Empty() {
		return &exitError{code: exitFailure, err: fmt.Errorf("%s changes %d object(s) on the live clusters (--exit-code)", head.Name, len(report.Changes))}
	}
	return nil
}

// liveIdentity is the instance identity --live compares as: that of the
// directory, the remote or the local repository at --repo.
func (o diffOptions) liveIdentity(args []string) string {
	switch {
	case len(args) == 1:
		return localIdentity(args[0])
	case isRemote(o.repo):
		ref := ""
		if r, err := sources.ParseRef(o.head); err == nil && o.head != "HEAD" {
			ref = r.String()
		}
		return sources.Identity(o.repo, ref, "")
	default:
		return localIdentity(o.repo)
	}
}

// renderRevisions renders revisions of the repository at --repo, local or
// remote.
func (o diffOptions) renderRevisions(ctx context.Context, sides ...side) ([]diff.Revision, error) {
	loc := sources.Location{Path: o.repo}
	if isRemote(o.repo) {
		loc = sources.Location{Remote: sources.Spec{URL: o.repo}}
	}
	revs := make([]diff.Revision, len(sides))
	for i, s := range sides {
		var err error
		if revs[i], err = renderSide(ctx, s.role, loc, s.rev); err != nil {
			return nil, err
		}
	}
	return revs, nil
}

// writer checks the output flags and returns the function that prints a
// report with them.
func (o diffOptions) writer(w io.Writer) (func(*diff.Report) error, error) {
	var color bool
	switch o.color {
	case "auto":
		f, ok := w.(*os.File)
		color = ok && term.IsTerminal(int(f.Fd())) && os.Getenv("NO_COLOR") == ""
	case "always":
		color = true
	case "never":
	default:
		return nil, &usageError{fmt.Errorf("unknown --color %q: want auto, always or never", o.color)}
	}
	switch o.output {
	case "text":
		return func(r *diff.Report) error { return diff.WriteText(w, r, color) }, nil
	case "markdown", "md":
		return func(r *diff.Report) error { return diff.WriteMarkdown(w, r, o.maxSize) }, nil
	case "json":
		return func(r *diff.Report) error { return diff.WriteJSON(w, r) }, nil
	}
	return nil, &usageError{fmt.Errorf("unknown output format %q: want text, markdown or json", o.output)}
}

// renderDirs renders two directories.
func renderDirs(ctx context.Context, baseDir, headDir string) (base, head diff.Revision, err error) {
	if base, err = renderDir(ctx, "base", baseDir); err != nil {
		return base, head, err
	}
	head, err = renderDir(ctx, "head", headDir)
	return base, head, err
}

// renderDir renders a directory as it is on disk.
func renderDir(ctx context.Context, role, dir string) (diff.Revision, error) {
	return renderSide(ctx, role, sources.Location{Path: dir}, "")
}

// side is a revision to render and its role in the diff: base or head.
type side struct{ role, rev string }

// renderSide renders one side of the diff, named as the user named it; its
// errors name the side and the revision, and the renderer's name the file
// and the field.
func renderSide(ctx context.Context, role string, loc sources.Location, rev string) (diff.Revision, error) {
	snap, err := sources.OpenRevision(ctx, loc, rev)
	switch {
	case err != nil && rev == "":
		return diff.Revision{}, err // names the directory
	case err != nil:
		return diff.Revision{}, fmt.Errorf("%s revision: %w", role, err)
	}
	defer snap.Close()
	name := snap.Revision.Short()
	res, err := renderer.Render(ctx, snap.FS, renderer.Options{})
	if err != nil {
		var verr *renderer.ValidationError
		if errors.As(err, &verr) && len(verr.Errors) > 1 {
			return diff.Revision{}, fmt.Errorf("%s revision %s does not render, %d problems:\n%w", role, name, len(verr.Errors), err)
		}
		return diff.Revision{}, fmt.Errorf("%s revision %s does not render: %w", role, name, err)
	}
	return diff.Revision{Name: name, Result: res}, nil
}

// isRemote reports whether repo is a URL or an scp-like address rather than
// a local path.
func isRemote(repo string) bool {
	if strings.Contains(repo, "://") {
		return true
	}
	// user@host:path, as git reads it: a colon before any slash.
	colon, slash := strings.Index(repo, ":"), strings.Index(repo, "/")
	return colon > 0 && (slash < 0 || colon < slash) && !isWindowsDrive(repo)
}

func isWindowsDrive(p string) bool {
	return len(p) >= 2 && p[1] == ':' && (p[0] >= 'a' && p[0] <= 'z' || p[0] >= 'A' && p[0] <= 'Z')
}
