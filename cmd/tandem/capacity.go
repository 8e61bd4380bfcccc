package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tandem-gitops/tandem/renderer"
)

// printHeadroom prints, per site with a spec.capacity, what the revision
// asks of each resource against what the site has, and names the sites
// without one, which no render checks.
func printHeadroom(w io.Writer, res *renderer.Result) error {
	hs, err := res.Headroom()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(hs, func(h renderer.Headroom) bool { return len(h.Usage) > 0 }) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SITE\tRESOURCE\tDEMAND\tCAPACITY\tUSE")
		for _, h := range hs {
			for _, u := range h.Usage {
				use := fmt.Sprintf("%d%%", u.Percent())
				if u.Percent() > renderer.HighUsage {
					use += fmt.Sprintf(" (above %d%%)", renderer.HighUsage)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Site, u.Resource, u.Demand.String(), u.Capacity.String(), use)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return printUnchecked(w, res)
}

// printUnchecked names the sites that run targets but declare no
// spec.capacity, so that nobody takes a passing check for a checked site.
func printUnchecked(w io.Writer, res *renderer.Result) error {
	placed := map[string]bool{}
	for _, t := range res.Targets {
		placed[t.Site] = true
	}
	var unchecked []string
	for _, s := range res.Sites {
		if len(s.Spec.Capacity) == 0 && placed[s.Name] {
			unchecked = append(unchecked, s.Name)
		}
	}
	if len(unchecked) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "capacity not checked: %d site(s) declare no spec.capacity: %s\n", len(unchecked), strings.Join(unchecked, ", "))
	return err
}
