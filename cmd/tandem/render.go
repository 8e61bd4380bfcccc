package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

func newRenderCommand() *cobra.Command {
	var (
		opts        renderer.Options
		output      string
		outDir      string
		applySets   bool
		showSecrets bool
		capacity    bool
	)
	cmd := &cobra.Command{
		Use:   "render [PATH]",
		Short: "Render the manifests of every cluster from a config repository",
		Long: `Render every solution of the config repository at PATH (default ".") and
print each cluster's manifests exactly as they are applied, in the order they
are applied: one YAML stream per cluster, or, with --out, one file per object
under DIR/<cluster>/<solution>/<tier>/, named <n>-<kind>.<group>-<name> and
numbered in apply order (CRDs, Namespaces and ClusterRoles first, then
classes, then the rest).

Every object carries the label applyset.kubernetes.io/part-of of its tier's
ApplySet, as tandem applies it; --applyset-labels=false leaves it out. So,
once a commit is applied, kubectl's server-side diff of its render is empty:

  tandem render . --cluster plant-a | kubectl --context plant-a diff --server-side --field-manager tandem -f -
  tandem render . --out rendered/ && kubectl --context plant-a diff --server-side --field-manager tandem -R -f rendered/plant-a/

Secret values are masked, each shown as a short digest of the value
("***sha256:1a2b3c4d") under its key, so that a render can be read, pasted
or kept without leaking them; --show-secrets prints them as they are
applied, as a render to be diffed or applied by kubectl needs.

--capacity prints, instead of the manifests, what the render asks of each
site with a spec.capacity, per resource, against what the site has.

Exit status: 0 rendered, 1 the repository does not render, 2 usage error.`,
		Example: `  tandem render fixtures/smart-factory
  tandem render . --site plant-a
  tandem render . --out rendered/ -o json
  tandem render . --capacity`,
		Args: pathArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "yaml" && output != "json" {
				return &usageError{fmt.Errorf("unknown output format %q: want yaml or json", output)}
			}
			res, err := renderRepo(cmd, args, opts)
			if err != nil {
				return err
			}
			printWarnings(cmd.ErrOrStderr(), res.Warnings)
			if capacity {
				return printHeadroom(cmd.OutOrStdout(), res)
			}
			targets := asApplied(res.Targets, applySets)
			if !showSecrets {
				maskSecrets(targets)
			}
			if outDir != "" {
				return writeTree(outDir, targets, output)
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), targets)
			}
			return writeYAML(cmd.OutOrStdout(), targets)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	f.StringVar(&outDir, "out", "", "write one file per object under `DIR`/<cluster>/ instead of printing")
	f.StringVar(&opts.Cluster, "cluster", "", "render only the targets on cluster `NAME`")
	f.StringVar(&opts.Site, "site", "", "render only the targets of site `NAME`")
	f.BoolVar(&applySets, "applyset-labels", true, "label every object as a member of its tier's ApplySet, as tandem applies it")
	f.BoolVar(&showSecrets, "show-secrets", false, "print Secret values in clear instead of a digest of each")
	f.BoolVar(&capacity, "capacity", false, "print each site's demand and capacity per resource instead of the manifests")
	return cmd
}

// asApplied returns targets with their objects as a pass applies them: in
// apply order and, with applySets, labelled as members of their tier's
// ApplySet. The renderer's objects are left as they are.
func asApplied(targets []renderer.Target, applySets bool) []renderer.Target {
	out := make([]renderer.Target, len(targets))
	for i, t := range targets {
		objs := make([]*unstructured.Unstructured, len(t.Objects))
		for j, o := range t.Objects {
			objs[j] = o.DeepCopy()
			if applySets {
				labels := objs[j].GetLabels()
				if labels == nil {
					labels = map[string]string{}
				}
				maps.Copy(labels, applyset.MemberLabels(t.Solution, t.Tier))
				objs[j].SetLabels(labels)
			}
		}
		reconciler.SortForApply(objs)
		t.Objects = objs
		out[i] = t
	}
	return out
}

// maskSecrets replaces the values of every Secret of targets by a digest
// of each, as diff shows them.
func maskSecrets(targets []renderer.Target) {
	for _, t := range targets {
		for i, o := range t.Objects {
			t.Objects[i] = diff.MaskSecret(o)
		}
	}
}

// pathArg accepts an optional repository path.
func pathArg(_ *cobra.Command, args []string) error {
	if len(args) > 1 {
		return &usageError{fmt.Errorf("want at most one PATH, got %d arguments", len(args))}
	}
	return nil
}

// renderRepo renders the repository at args[0], or ".", as it is on disk.
func renderRepo(cmd *cobra.Command, args []string, opts renderer.Options) (*renderer.Result, error) {
	res, _, err := renderLocation(cmd.Context(), sources.Location{Path: dirArg(args)}, "", opts)
	return res, err
}

// dirArg is the optional PATH argument, "." when not given.
func dirArg(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return "."
}

// renderLocation opens revision rev of loc and renders it whole. A render
// error is headed by the directory as given or by the revision's name.
func renderLocation(ctx context.Context, loc sources.Location, rev string, opts renderer.Options) (*renderer.Result, sources.Revision, error) {
	snap, err := sources.OpenRevision(ctx, loc, rev)
	if err != nil {
		return nil, sources.Revision{}, err
	}
	defer snap.Close()
	res, err := renderer.Render(ctx, snap.FS, opts)
	if err != nil {
		name := snap.Revision.String()
		if snap.Revision.Dir != "" {
			name = snap.Revision.Given
		}
		return nil, sources.Revision{}, fmt.Errorf("render %s:\n%w", name, err)
	}
	return res, snap.Revision, nil
}

func printWarnings(w io.Writer, warnings []string) {
	for _, msg := range warnings {
		fmt.Fprintln(w, "Warning:", msg)
	}
}

// writeYAML prints one YAML stream per cluster, each object a document,
// each cluster and target announced by a comment line.
func writeYAML(w io.Writer, targets []renderer.Target) error {
	cluster := ""
	for i, t := range targets {
		if i == 0 || t.Cluster != cluster {
			cluster = t.Cluster
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "# ==== cluster %s ====\n", cluster)
		}
		fmt.Fprintf(w, "# ---- %s ----\n", describeTarget(t))
		for _, o := range t.Objects {
			data, err := yaml.Marshal(o.Object)
			if err != nil {
				return fmt.Errorf("encode %s/%s: %w", o.GetKind(), o.GetName(), err)
			}
			if _, err := fmt.Fprintf(w, "---\n%s", data); err != nil {
				return err
			}
		}
	}
	return nil
}

func describeTarget(t renderer.Target) string {
	s := fmt.Sprintf("solution %s, tier %s", t.Solution, t.Tier)
	if t.Site != "" {
		s += ", site " + t.Site
	}
	if len(t.DependsOn) > 0 {
		s += ", after " + strings.Join(t.DependsOn, ", ")
	}
	return s
}

// targetJSON is the JSON form of a rendered target.
type targetJSON struct {
	Cluster   string                       `json:"cluster"`
	Solution  string                       `json:"solution"`
	Tier      string                       `json:"tier"`
	Site      string                       `json:"site,omitempty"`
	DependsOn []string                     `json:"dependsOn,omitempty"`
	Objects   []*unstructured.Unstructured `json:"objects"`
}

func writeJSON(w io.Writer, targets []renderer.Target) error {
	out := make([]targetJSON, len(targets))
	for i, t := range targets {
		out[i] = targetJSON{t.Cluster, t.Solution, t.Tier, t.Site, t.DependsOn, t.Objects}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeTree writes each object to its own file under dir, in directories
// per cluster, solution and tier, numbered in the order of targets' objects.
func writeTree(dir string, targets []renderer.Target, format string) error {
	for _, t := range targets {
		tdir := filepath.Join(dir, t.Cluster, t.Solution, t.Tier)
		if err := os.MkdirAll(tdir, 0o755); err != nil {
			return err
		}
		for i, o := range t.Objects {
			var data []byte
			var err error
			if format == "json" {
				data, err = json.MarshalIndent(o.Object, "", "  ")
				data = append(data, '\n')
			} else {
				data, err = yaml.Marshal(o.Object)
			}
			if err != nil {
				return fmt.Errorf("encode %s/%s: %w", o.GetKind(), o.GetName(), err)
			}
			name := fmt.Sprintf("%03d-%s-%s.%s", i, kindFileName(o), o.GetName(), format)
			if err := os.WriteFile(filepath.Join(tdir, name), data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// kindFileName names o's kind in a file name: the kind, lower case, and
// its API group, if any, as kubectl names resources ("deployment.apps"),
// so that kinds of the same name in different groups stay apart.
func kindFileName(o *unstructured.Unstructured) string {
	gk := o.GroupVersionKind().GroupKind()
	if gk.Group == "" {
		return strings.ToLower(gk.Kind)
	}
	return strings.ToLower(gk.Kind) + "." + gk.Group
}
