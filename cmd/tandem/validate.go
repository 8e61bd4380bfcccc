package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tandem-gitops/tandem/renderer"
)

func newValidateCommand() *cobra.Command {
	var capacity bool
	cmd := &cobra.Command{
		Use:   "validate [PATH]",
		Short: "Check that a config repository renders, for pre-merge CI",
		Long: `Validate the config repository at PATH (default "."): parse every
descriptor strictly and render every target, as the daemon would, without
touching any cluster. Every problem is listed, each with its file, line and
field.

The guardrails the daemon applies are checked here too: a site asked for
more than its spec.capacity, a namespace asked for more than a
ResourceQuota holds, an object a solution's spec.policy rules or baseline
refuse, a site on a cluster outside spec.policy.allowedClusters, and CEL
replica expressions that fail at some site. --capacity prints every checked
site's use of each resource; sites without spec.capacity are named as not
checked. See docs/guardrails.md.

Exit status: 0 valid, 1 invalid, 2 usage error.`,
		Args: pathArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := renderRepo(cmd, args, renderer.Options{})
			if err != nil {
				var verr *renderer.ValidationError
				if errors.As(err, &verr) {
					err = fmt.Errorf("%d problem(s):\n%w", len(verr.Errors), verr)
				}
				return &exitError{code: exitFailure, err: err}
			}
			printWarnings(cmd.ErrOrStderr(), res.Warnings)
			objects := 0
			for _, t := range res.Targets {
				objects += len(t.Objects)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "valid: %d solution(s), %d site(s), %d target(s), %d object(s)\n",
				len(res.Solutions), len(res.Sites), len(res.Targets), objects)
			if capacity {
				return printHeadroom(w, res)
			}
			return printUnchecked(w, res)
		},
	}
	cmd.Flags().BoolVar(&capacity, "capacity", false, "print each site's demand and capacity per resource")
	return cmd
}
