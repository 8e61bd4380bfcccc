package diff

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// DefaultMarkdownSize caps WriteMarkdown's output below the 65,536
// characters GitHub accepts in a pull-request comment, leaving room for a
// bot's own words around it.
const DefaultMarkdownSize = 60_000

// maxSummaryRows bounds the summary table; groups past it are counted.
const maxSummaryRows = 50

// cutNoteSize is room kept for the note that says what was cut.
const cutNoteSize = 400

// WriteMarkdown writes r for a pull-request comment: a summary table, then a
// collapsible section per cluster, or per set of clusters whose changes are
// identical, holding the diffs. Output longer than maxSize bytes
// (DefaultMarkdownSize when maxSize ≤ 0) leaves out the sections that do
// not fit and ends with a note of what was left out.
func WriteMarkdown(w io.Writer, r *Report, maxSize int) error {
	if maxSize <= 0 {
		maxSize = DefaultMarkdownSize
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### tandem diff `%s` → `%s`\n\n", mdCode(r.Base), mdCode(r.Head))
	fmt.Fprintf(&b, "**%s**\n", headline(r))
	if len(r.Failures) > 0 {
		b.WriteString("\n> [!WARNING]\n> Not compared:\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "> - %s\n", strings.ReplaceAll(html.EscapeString(f.String()), "\n", "<br>"))
		}
	}
	if r.Empty() {
		writeHeadroom(&b, r)
		_, err := io.WriteString(w, b.String())
		return err
	}
	writeSummary(&b, r)

	var cut []section
	budget := maxSize - cutNoteSize
	for _, s := range sections(r) {
		text := sectionMarkdown(s)
		if b.Len()+len(text) > budget {
			cut = append(cut, s)
			continue
		}
		b.WriteString(text)
	}
	if len(cut) > 0 {
		clusters, changes := 0, 0
		for _, s := range cut {
			clusters += len(s.clusters)
			changes += len(s.changes) * len(s.clusters)
		}
		fmt.Fprintf(&b, "\n> [!NOTE]\n> The diffs of %d %s (%d object %s) are left out to keep this comment under %d KB. Run `tandem diff` for all of them.\n",
			clusters, plural(clusters, "cluster"), changes, plural(changes, "change"), maxSize/1000)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSummary(b *strings.Builder, r *Report) {
	b.WriteString("\n")
	for _, s := range r.Scale {
		fmt.Fprintf(b, "- %s\n", html.EscapeString(scaleLine(s)))
	}
	if len(r.SitesAdded) > 0 {
		fmt.Fprintf(b, "- Sites added: %s\n", namesLabel(r.SitesAdded, code))
	}
	if len(r.SitesRemoved) > 0 {
		fmt.Fprintf(b, "- Sites removed: %s\n", namesLabel(r.SitesRemoved, code))
	}
	if len(r.Scale)+len(r.SitesAdded)+len(r.SitesRemoved) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("| tier | where | what changes |\n| --- | --- | --- |\n")
	multi := multiSolution(r)
	for i := range r.Summary[:min(len(r.Summary), maxSummaryRows)] {
		g := &r.Summary[i]
		effects := g.Lines()
		for j, e := range effects {
			effects[j] = mdCell(e)
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", mdCell(tierName(g, multi)), placesLabel(g, code), strings.Join(effects, "<br>"))
	}
	if more := len(r.Summary) - maxSummaryRows; more > 0 {
		fmt.Fprintf(b, "\n%d more %s of sites change in other ways; see the JSON output.\n", more, plural(more, "group"))
	}
	if lines := rolloutLines(r, func(names []string) string { return namesLabel(names, code) }); len(lines) > 0 {
		b.WriteString("\nRollout:\n")
		for _, l := range lines {
			fmt.Fprintf(b, "- %s\n", l)
		}
	}
	writeHeadroom(b, r)
	b.WriteString("\n")
}

// sectionMarkdown is one collapsible section of diffs.
func sectionMarkdown(s section) string {
	var b strings.Builder
	a, rm, c := count(s.changes)
	fmt.Fprintf(&b, "<details>\n<summary>%s: %s</summary>\n\n", clustersLabel(s.clusters, htmlCode), countsLine(a, rm, c))
	for _, c := range s.changes {
		fence := fenceFor(c.Diff)
		fmt.Fprintf(&b, "`%s` %s (%s tier)\n\n%sdiff\n%s%s\n\n",
			mdCode(c.ObjectKey.String()), c.Action, mdCell(c.Tier), fence, c.Diff, fence)
	}
	b.WriteString("</details>\n\n")
	return b.String()
}

// fenceFor returns a code fence longer than any run of backticks in s, so
// that no object's content can close it early.
func fenceFor(s string) string {
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

func code(s string) string     { return "`" + mdCode(s) + "`" }
func htmlCode(s string) string { return "<code>" + html.EscapeString(s) + "</code>" }

// mdCode makes s safe inside a Markdown code span.
func mdCode(s string) string { return strings.ReplaceAll(s, "`", "'") }

// mdCell makes s safe as text in a Markdown table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(html.EscapeString(s), "|", `\|`)
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

// writeHeadroom lists each site's use of its capacity before → after.
func writeHeadroom(b *strings.Builder, r *Report) {
	if lines := headroomLines(r, func(names []string) string { return namesLabel(names, code) }); len(lines) > 0 {
		b.WriteString("\nHeadroom:\n")
		for _, l := range lines {
			fmt.Fprintf(b, "- %s\n", l)
		}
	}
}
