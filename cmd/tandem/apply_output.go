package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/fluxcd/pkg/ssa"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/fieldset"
)

// progress prints each result as the reconciler sends it, one aligned
// line per cluster and tier, followed by the objects it changed.
type progress struct {
	w            io.Writer
	clusterWidth int
	tierWidth    int
	// printed counts the change set entries already printed per tier.
	printed map[reconciler.Key]int
}

func newProgress(w io.Writer, targets []reconciler.Target) *progress {
	p := &progress{w: w, printed: make(map[reconciler.Key]int)}
	for _, t := range targets {
		p.clusterWidth = max(p.clusterWidth, len(t.Cluster))
		for _, ts := range t.Tiers {
			p.tierWidth = max(p.tierWidth, len(ts.Solution)+1+len(ts.Tier))
		}
	}
	return p
}

func (p *progress) show(r reconciler.Result) {
	fmt.Fprintf(p.w, "%-*s  %-*s  %-11s  %s\n", p.clusterWidth, r.Cluster, p.tierWidth, r.Solution+"/"+r.Tier, r.Phase, r.Message)
	if r.ChangeSet == nil {
		return
	}
	// A tier reports Progressing and then its final phase with the same
	// change set: each entry is printed once.
	for _, e := range r.ChangeSet.Entries[min(p.printed[r.Key], len(r.ChangeSet.Entries)):] {
		if e.Action != ssa.UnchangedAction {
			fmt.Fprintf(p.w, "%*s  %s\n", p.clusterWidth, "", e)
		}
	}
	p.printed[r.Key] = len(r.ChangeSet.Entries)
	if r.Finished.IsZero() {
		return
	}
	for _, a := range r.Adopted {
		fmt.Fprintf(p.w, "%*s  %s adopted, it was: %s\n", p.clusterWidth, "", a.Subject, a.Previous)
	}
	for _, ig := range r.Ignored {
		fmt.Fprintf(p.w, "%*s  %s left alone: %s\n", p.clusterWidth, "", ig.Subject, ig.Reason)
	}
	for _, d := range r.Drift {
		verb := "removed"
		if !d.Corrected {
			verb = "left in place (drift: report)"
		}
		for _, f := range d.Fields {
			fmt.Fprintf(p.w, "%*s  %s drift: %s added by %s, %s\n", p.clusterWidth, "", d.Subject, f.Path, f.Manager, verb)
		}
	}
}

// writeApplySummary prints a table of what each pass changed, like
// "kubectl get", then a line saying how many targets are Ready.
func writeApplySummary(w io.Writer, results []reconciler.Result, revision string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tSOLUTION\tTIER\tPHASE\tCREATED\tCONFIGURED\tUNCHANGED\tDELETED\tSKIPPED\tDURATION\tMESSAGE")
	for _, r := range results {
		c := r.Counts()
		// A Ready tier's message only repeats the revision.
		message := ""
		if r.Phase != reconciler.PhaseReady {
			message = r.Message
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n",
			r.Cluster, r.Solution, r.Tier, r.Phase, c.Created, c.Configured, c.Unchanged, c.Deleted, c.Skipped,
			passDuration(r), message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d of %d target(s) Ready at %s\n", countReady(results), len(results), revision)
	return err
}

func passDuration(r reconciler.Result) string {
	if r.Started.IsZero() || r.Finished.IsZero() {
		return "-"
	}
	return r.Finished.Sub(r.Started).Round(100 * time.Millisecond).String()
}

// applyResultJSON is the JSON form of a pass: the counts as the status
// endpoint names them, and every object with what happened to it.
type applyResultJSON struct {
	Cluster   string         `json:"cluster"`
	Solution  string         `json:"solution"`
	Tier      string         `json:"tier"`
	Revision  string         `json:"revision"`
	Phase     string         `json:"phase"`
	Message   string         `json:"message,omitempty"`
	Changes   daemon.Changes `json:"changes"`
	Corrected int            `json:"corrected"`
	Objects   []objectJSON   `json:"objects"`
	// Adopted and Ignored are the existing objects the pass took over,
	// and those carrying the tier's ApplySet label that it left alone.
	Adopted []reconciler.Adopted `json:"adopted,omitempty"`
	Ignored []reconciler.Ignored `json:"ignored,omitempty"`
	// Drift lists the fields other field managers added, removed or left.
	Drift    []fieldset.Drift `json:"drift,omitempty"`
	Started  time.Time        `json:"started,omitzero"`
	Finished time.Time        `json:"finished,omitzero"`
}

type objectJSON struct {
	Subject string `json:"subject"`
	Action  string `json:"action"`
}

func writeApplyJSON(w io.Writer, results []reconciler.Result) error {
	out := make([]applyResultJSON, len(results))
	for i, r := range results {
		c := r.Counts()
		out[i] = applyResultJSON{
			Cluster: r.Cluster, Solution: r.Solution, Tier: r.Tier, Revision: r.Revision,
			Phase: string(r.Phase), Message: r.Message, Corrected: r.Corrected,
			Changes: daemon.Changes{Created: c.Created, Configured: c.Configured, Unchanged: c.Unchanged, Deleted: c.Deleted, Skipped: c.Skipped},
			Objects: []objectJSON{}, Adopted: r.Adopted, Ignored: r.Ignored, Drift: r.Drift,
			Started: r.Started, Finished: r.Finished,
		}
		if r.ChangeSet != nil {
			for _, e := range r.ChangeSet.Entries {
				out[i].Objects = append(out[i].Objects, objectJSON{Subject: e.Subject, Action: string(e.Action)})
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
