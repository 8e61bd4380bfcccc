package diff

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// ANSI escapes for WriteText's colours.
const (
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiReset  = "\x1b[0m"
)

// WriteText writes r for a terminal: the summary, then every cluster's
// changes with their diffs. With color, headings are bold and diff lines
// coloured as git colours them.
func WriteText(w io.Writer, r *Report, color bool) error {
	t := &textWriter{w: bufio.NewWriter(w), color: color}
	t.paint(ansiBold, fmt.Sprintf("tandem diff %s → %s", r.Base, r.Head))
	t.line(headline(r))
	if len(r.Failures) > 0 {
		t.line("")
		t.paint(ansiBold, "Not compared")
		for _, f := range r.Failures {
			t.paint(ansiRed, "  "+strings.ReplaceAll(f.String(), "\n", "\n    "))
		}
	}
	if r.Empty() {
		if len(r.Headroom) > 0 {
			t.line("")
			t.paint(ansiBold, "Headroom")
			for _, l := range headroomLines(r, func(names []string) string { return namesLabel(names, plain) }) {
				t.line("  " + l)
			}
		}
		return t.w.Flush()
	}

	t.line("")
	t.paint(ansiBold, "Summary")
	for _, s := range r.Scale {
		t.line("  " + scaleLine(s))
	}
	if len(r.SitesAdded) > 0 {
		t.line("  sites added: " + namesLabel(r.SitesAdded, plain))
	}
	if len(r.SitesRemoved) > 0 {
		t.line("  sites removed: " + namesLabel(r.SitesRemoved, plain))
	}
	multi := multiSolution(r)
	for i := range r.Summary {
		g := &r.Summary[i]
		t.line(fmt.Sprintf("  %s tier, %s:", tierName(g, multi), placesLabel(g, plain)))
		for _, l := range g.Lines() {
			t.line("    " + l)
		}
	}
	if len(r.Rollout) > 0 {
		t.line("  rollout:")
		for _, l := range rolloutLines(r, func(names []string) string { return namesLabel(names, plain) }) {
			t.line("    " + l)
		}
	}
	if len(r.Headroom) > 0 {
		t.line("  headroom:")
		for _, l := range headroomLines(r, func(names []string) string { return namesLabel(names, plain) }) {
			t.line("    " + l)
		}
	}

	for _, s := range sections(r) {
		t.line("")
		a, rm, c := count(s.changes)
		t.paint(ansiBold, fmt.Sprintf("%s: %s", clustersLabel(s.clusters, plain), countsLine(a, rm, c)))
		for _, c := range s.changes {
			t.paint(ansiYellow, fmt.Sprintf("  %s %s (%s tier) %s", c.Action.symbol(), c.ObjectKey, c.Tier, c.Action))
			for _, l := range lines(c.Diff) {
				l = "    " + strings.TrimSuffix(l, "\n")
				switch l[4] {
				case '+':
					t.paint(ansiGreen, l)
				case '-':
					t.paint(ansiRed, l)
				case '@':
					t.paint(ansiCyan, l)
				default:
					t.line(l)
				}
			}
		}
	}
	return t.w.Flush()
}

// clustersLabel names the clusters of a section: "cluster plant-a", or
// "50 clusters (site-0001, site-0002, site-0003 and 47 more), identical
// changes".
func clustersLabel(clusters []string, quote func(string) string) string {
	if len(clusters) == 1 {
		return "cluster " + quote(clusters[0])
	}
	g := &Group{Clusters: clusters}
	return placesLabel(g, quote) + ", identical changes"
}

func plain(s string) string { return s }

// textWriter writes lines; its bufio.Writer keeps the first error for Flush.
type textWriter struct {
	w     *bufio.Writer
	color bool
}

func (t *textWriter) line(s string) {
	t.w.WriteString(s)
	t.w.WriteByte('\n')
}

func (t *textWriter) paint(style, s string) {
	if !t.color {
		t.line(s)
		return
	}
	t.line(style + s + ansiReset)
}
