package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tandem-gitops/tandem/diff"
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
}

func newDiffCommand() *cobra.Command {
	o := diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff --base REV [--head REV] [--repo PATH|URL] | diff BASE_DIR HEAD_DIR",
		Short: "Show what a change of the config repository does to every cluster",
		Long: `Render two revisions of the config repository straight from Git, pair their
objects by cluster, group, kind, namespace and name, and show what the head
revision adds, removes and changes on every cluster, without access to any
cluster.

The summary comes first: per tier, which sites change and how, with replica
counts, container images and model versions called out; sites that change in
exactly the same way are one line however many they are. Then the unified
diff of every object's YAML; clusters with identical changes share one copy.

REV is anything git rev-parse accepts in the local repository at --repo
(default "."): a branch, a tag, origin/main, HEAD~1, a commit SHA. With a
remote URL for --repo, REV is a branch, a tag or a full commit SHA, fetched
into a temporary mirror. Given two directories instead, diff compares them as
they are on disk.

Output formats: text (coloured on a terminal), markdown (for a pull-request
comment: a collapsible section per cluster, capped at --max-size bytes with a
note of what was left out) and json.

Exit status: 0 success (with --exit-code: no change), 1 with --exit-code:
the head revision changes something, 2 error, including a revision that does
not render, named with its file and field.`,
		Example: `  # What does this branch do to the fleet?
  tandem diff --base origin/main --head HEAD

  # A pull-request comment
  tandem diff --base origin/main -o markdown > diff.md

  # Two checkouts side by side
  tandem diff ../config-main ../config-feature`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
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
	return cmd
}

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
	case isRemote(o.repo):
		base, head, err = renderRemote(cmd.Context(), o.repo, o.base, o.head)
	default:
		base, head, err = renderLocal(cmd.Context(), o.repo, o.base, o.head)
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
	if err := write(report); err != nil {
		return &exitError{code: exitDiffError, err: err}
	}
	if o.exitCode && !report.Empty() {
		return &exitError{code: exitFailure, err: fmt.Errorf("%s changes %d object(s) (--exit-code)", head.Name, len(report.Changes))}
	}
	return nil
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

// renderDirs renders two directories, each opened as an os.Root so that no
// symbolic link leads a render outside it.
func renderDirs(ctx context.Context, baseDir, headDir string) (base, head diff.Revision, err error) {
	open := func(dir string) (fs.FS, error) {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, fmt.Errorf("open config repository: %w", err)
		}
		return root.FS(), nil
	}
	fsys, err := open(baseDir)
	if err != nil {
		return base, head, err
	}
	if base, err = renderSide(ctx, "base", baseDir, fsys); err != nil {
		return base, head, err
	}
	if fsys, err = open(headDir); err != nil {
		return base, head, err
	}
	head, err = renderSide(ctx, "head", headDir, fsys)
	return base, head, err
}

// renderLocal renders two revisions of the Git repository at dir.
func renderLocal(ctx context.Context, dir, baseRev, headRev string) (base, head diff.Revision, err error) {
	repo, err := sources.OpenLocal(dir)
	if err != nil {
		return base, head, err
	}
	defer repo.Close()
	side := func(role, rev string) (diff.Revision, error) {
		resolved, err := repo.Resolve(rev)
		if err != nil {
			return diff.Revision{}, fmt.Errorf("%s revision: %w", role, err)
		}
		fsys, err := repo.FS(resolved.Commit)
		if err != nil {
			return diff.Revision{}, fmt.Errorf("%s revision %s: %w", role, rev, err)
		}
		return renderSide(ctx, role, revisionName(rev, resolved.Commit), fsys)
	}
	if base, err = side("base", baseRev); err != nil {
		return base, head, err
	}
	head, err = side("head", headRev)
	return base, head, err
}

// renderRemote renders two revisions of a remote repository, each fetched
// into a mirror of its own in a temporary directory.
func renderRemote(ctx context.Context, url, baseRev, headRev string) (base, head diff.Revision, err error) {
	tmp, err := os.MkdirTemp("", "tandem-diff-")
	if err != nil {
		return base, head, err
	}
	defer os.RemoveAll(tmp)
	side := func(role, rev string) (diff.Revision, error) {
		repo, resolved, err := fetchRevision(ctx, url, rev, filepath.Join(tmp, role))
		if err != nil {
			return diff.Revision{}, fmt.Errorf("%s revision: %w", role, err)
		}
		defer repo.Close()
		fsys, err := repo.FS(resolved.Commit)
		if err != nil {
			return diff.Revision{}, fmt.Errorf("%s revision %s: %w", role, rev, err)
		}
		return renderSide(ctx, role, revisionName(rev, resolved.Commit), fsys)
	}
	if base, err = side("base", baseRev); err != nil {
		return base, head, err
	}
	head, err = side("head", headRev)
	return base, head, err
}

// fetchRevision mirrors rev of the remote at url into cacheDir: a full
// commit SHA, else a branch, else a tag of that name.
func fetchRevision(ctx context.Context, url, rev, cacheDir string) (*sources.Repository, sources.Revision, error) {
	refs := []sources.Ref{{Branch: rev}, {Tag: rev}}
	if fullSHA.MatchString(rev) {
		refs = []sources.Ref{{Commit: rev}}
	}
	var err error
	for _, ref := range refs {
		var repo *sources.Repository
		repo, err = sources.Open(sources.Spec{URL: url, Ref: ref}, sources.Options{CacheDir: cacheDir})
		if err != nil {
			return nil, sources.Revision{}, err
		}
		var resolved sources.Revision
		resolved, err = repo.Fetch(ctx)
		if err == nil {
			return repo, resolved, nil
		}
		repo.Close()
		if !errors.Is(err, sources.ErrRefNotFound) {
			break
		}
	}
	return nil, sources.Revision{}, fmt.Errorf("%q: %w", rev, err)
}

// renderSide renders one side of the diff; its errors name the side and the
// revision, and the renderer's name the file and the field.
func renderSide(ctx context.Context, role, name string, fsys fs.FS) (diff.Revision, error) {
	res, err := renderer.Render(ctx, fsys, renderer.Options{})
	if err != nil {
		var verr *renderer.ValidationError
		if errors.As(err, &verr) && len(verr.Errors) > 1 {
			return diff.Revision{}, fmt.Errorf("%s revision %s does not render, %d problems:\n%w", role, name, len(verr.Errors), err)
		}
		return diff.Revision{}, fmt.Errorf("%s revision %s does not render: %w", role, name, err)
	}
	return diff.Revision{Name: name, Result: res}, nil
}

// revisionName names a revision as the user gave it, with its commit:
// "origin/main (1a2b3c4)".
func revisionName(rev, commit string) string {
	short := commit[:min(len(commit), 7)]
	if strings.HasPrefix(commit, rev) {
		return short
	}
	return fmt.Sprintf("%s (%s)", rev, short)
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
