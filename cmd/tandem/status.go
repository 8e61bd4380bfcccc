package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

type statusOptions struct {
	server         string
	kubeconfig     string
	contexts       []string
	requestTimeout time.Duration
	output         string
	// models shows the models each target serves rather than its phase.
	models bool
}

func newStatusCommand() *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status [models] [--server URL | --kubeconfig FILE [--context NAME]...]",
		Short: "Show where every tier of every solution stands on every cluster",
		Long: `Show one row per solution, tier and cluster: its phase, the revision last
applied in full, how long it has been in its phase, and what the reconciler
said about it.

"tandem status models --server URL" shows instead one row per model a tier
serves on a cluster: the serving workload and the versions of the model its
available pods run, as the daemon's latest pass read them from the pods
("1.4.0 on 2/3 available pods, 1.5.0 on 1/3" mid-rollout). Only the daemon
reads pods, so the models view needs --server. With -o json, each target
carries its models either way.

With --server, the status is read from a running "tandem serve" at
URL/api/v1/status; a revision that does not render and a repository that
cannot be fetched are reported too. Otherwise it is read from the clusters
themselves: the ApplySet parents tandem keeps in namespace tandem-system of
each cluster, reached through the kubeconfig's contexts (every context, or
those named by --context), so no daemon needs to run. A cluster that cannot
be read is listed with phase Unreachable and the error; the others are listed
as usual.

Exit status: 0 every target is Ready, 1 a target is not Ready, a cluster could
not be read, the daemon's latest revision does not render or the status could
not be read at all, 2 usage error.`,
		Example: `  # Ask the clusters of every context of a kubeconfig.
  tandem status --kubeconfig ~/.kube/fleet

  # Ask two clusters only.
  tandem status --context plant-a --context plant-b

  # Ask the daemon.
  tandem status --server http://tandem.tandem-system:8080 -o json

  # Which version of each model every site serves.
  tandem status models --server http://tandem.tandem-system:8080`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && args[0] == "models":
				o.models = true
			case len(args) > 0:
				return &usageError{fmt.Errorf("unexpected argument %q: status takes models or flags only", args[len(args)-1])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return &usageError{err}
			}
			clientLogsTo(cmd.ErrOrStderr())
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "`URL` of a running tandem serve to ask instead of the clusters")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` whose contexts reach the clusters (default: the KUBECONFIG list, then ~/.kube/config)")
	f.StringSliceVar(&o.contexts, "context", nil, "read only the cluster of kubeconfig context `NAME`; repeatable (default: every context)")
	f.DurationVar(&o.requestTimeout, "request-timeout", 10*time.Second, "bound on each request to the server or a cluster")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (o *statusOptions) validate() error {
	switch {
	case o.output != "table" && o.output != "json":
		return fmt.Errorf("unknown output format %q: want table or json", o.output)
	case o.server != "" && (o.kubeconfig != "" || len(o.contexts) > 0):
		return errors.New("--server reads the daemon; --kubeconfig and --context read the clusters: give one or the other")
	case o.models && o.server == "":
		return errors.New("the models served are read from the pods by tandem serve: give --server")
	case o.requestTimeout <= 0:
		return errors.New("--request-timeout must be positive")
	}
	return nil
}

// statusReport is what status prints: the targets, and with --server what
// the daemon knows of its source and latest render.
type statusReport struct {
	Source   *daemon.SourceStatus   `json:"source,omitempty"`
	Render   *daemon.RenderStatus   `json:"render,omitempty"`
	Rollouts []daemon.RolloutStatus `json:"rollouts,omitempty"`
	Targets  []targetRow            `json:"targets"`
}

// targetRow is where one tier of one solution stands on one cluster.
func (r targetRow) key() reconciler.Key {
	return reconciler.Key{Cluster: r.Cluster, Solution: r.Solution, Tier: r.Tier}
}

type targetRow struct {
	Solution string `json:"solution"`
	Tier     string `json:"tier"`
	Cluster  string `json:"cluster"`
	Phase    string `json:"phase"`
	// Revision is the revision last applied in full.
	Revision string `json:"revision,omitempty"`
	// DesiredRevision is the revision the daemon is applying; only the
	// daemon knows it.
	DesiredRevision string    `json:"desiredRevision,omitempty"`
	Since           time.Time `json:"since,omitzero"`
	Message         string    `json:"message,omitempty"`
	// Changes counts what the daemon's latest pass did.
	Changes *daemon.Changes `json:"changes,omitempty"`
	// Owner is the tandem instance that owns the tier on the cluster, as
	// the cluster records it.
	Owner string `json:"owner,omitempty"`
	// Shard and Replica say, when replicas of the daemon share the fleet
	// in shards, the cluster's shard and the replica holding it.
	Shard   *int   `json:"shard,omitempty"`
	Replica string `json:"replica,omitempty"`
	// Mode is "pull" for a pull site, whose Agent reports to the daemon;
	// only the daemon knows it.
	Mode  string              `json:"mode,omitempty"`
	Agent *daemon.AgentStatus `json:"agent,omitempty"`
	// Models says what the tier serves of each model, as the daemon's
	// latest pass read it from the pods; only the daemon knows it.
	Models []reconciler.ModelServing `json:"models,omitempty"`
}

func (o *statusOptions) run(cmd *cobra.Command) error {
	var report statusReport
	var err error
	if o.server != "" {
		report, err = o.fromServer(cmd.Context())
	} else {
		report, err = o.fromClusters(cmd.Context())
	}
	if err != nil {
		return err
	}
	slices.SortFunc(report.Targets, func(a, b targetRow) int { return a.key().Compare(b.key()) })

	stderr := cmd.ErrOrStderr()
	if s := report.Source; s != nil && s.LastError != "" {
		fmt.Fprintf(stderr, "Warning: fetching %s has failed %d time(s) in a row: %s\n", s.URL, s.ConsecutiveFailures, s.LastError)
	}
	if r := report.Render; r != nil && r.Error != "" {
		fmt.Fprintf(stderr, "Warning: revision %s does not render; the clusters are given %s:\n%s\n",
			r.Revision, cmp.Or(r.LastGoodRevision, "no revision"), r.Error)
	}
	for _, r := range report.Rollouts {
		if r.Complete {
			continue
		}
		msg := fmt.Sprintf("Rollout of %s at %s: wave %d of %d released", r.Solution, r.Revision, r.Wave, r.Waves)
		if r.Halted != "" {
			msg += "; halted by " + strings.TrimPrefix(r.Halted, fmt.Sprintf("wave %d of %d: ", r.Wave, r.Waves))
		}
		fmt.Fprintln(stderr, msg)
	}
	switch {
	case o.output == "json":
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	case len(report.Targets) == 0:
		fmt.Fprintln(stderr, "No targets found.")
	case o.models && !slices.ContainsFunc(report.Targets, func(r targetRow) bool { return len(r.Models) > 0 }):
		fmt.Fprintln(stderr, "No models served.")
	case o.models:
		err = writeModelsTable(cmd.OutOrStdout(), report.Targets)
	default:
		err = writeStatusTable(cmd.OutOrStdout(), report.Targets, time.Now())
	}
	if err != nil {
		return err
	}
	if err := report.problems(); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	return nil
}

// problems says why the report is not all Ready, or returns nil.
func (r statusReport) problems() error {
	var problems []string
	if r.Render != nil && r.Render.Error != "" {
		problems = append(problems, fmt.Sprintf("revision %s does not render", r.Render.Revision))
	}
	var unread []string
	targets, notReady := 0, 0
	for _, t := range r.Targets {
		switch {
		case t.Solution == "":
			// A cluster that could not be read, not a target.
			unread = append(unread, t.Cluster)
		case t.Phase != string(reconciler.PhaseReady):
			notReady++
			fallthrough
		default:
			targets++
		}
	}
	if len(unread) > 0 {
		problems = append(problems, "cannot read cluster(s) "+strings.Join(unread, ", "))
	}
	if notReady > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d target(s) not Ready", notReady, targets))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// fromServer reads the daemon's status endpoint.
func (o *statusOptions) fromServer(ctx context.Context) (statusReport, error) {
	url := strings.TrimSuffix(o.server, "/") + "/api/v1/status"
	ctx, cancel := context.WithTimeout(ctx, o.requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return statusReport{}, &usageError{fmt.Errorf("--server: %w", err)}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return statusReport{}, fmt.Errorf("read status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return statusReport{}, fmt.Errorf("read status: GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	var st daemon.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return statusReport{}, fmt.Errorf("read status: decode the response of GET %s: %w", url, err)
	}
	report := statusReport{Source: &st.Source, Render: &st.Render, Rollouts: st.Rollouts, Targets: make([]targetRow, len(st.Targets))}
	for i, t := range st.Targets {
		changes := t.Changes
		report.Targets[i] = targetRow{
			Solution: t.Solution, Tier: t.Tier, Cluster: t.Cluster, Phase: t.Phase,
			Revision: t.AppliedRevision, DesiredRevision: t.DesiredRevision,
			Since: t.Since, Message: t.Message, Changes: &changes, Models: t.Models,
			Shard: t.Shard, Replica: t.Owner, Mode: t.Mode, Agent: t.Agent,
		}
	}
	return report, nil
}

// fromClusters reads the ApplySet parents of the cluster of every selected
// kubeconfig context, several at a time. A cluster that cannot be read is
// one Unreachable row saying why.
func (o *statusOptions) fromClusters(ctx context.Context) (statusReport, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	raw, err := rules.Load()
	if err != nil {
		return statusReport{}, fmt.Errorf("load kubeconfig: %w", err)
	}
	contexts := o.contexts
	for _, name := range contexts {
		if _, ok := raw.Contexts[name]; !ok {
			return statusReport{}, fmt.Errorf("context %s is not in the kubeconfig", name)
		}
	}
	if len(contexts) == 0 {
		for name := range raw.Contexts {
			contexts = append(contexts, name)
		}
		if len(contexts) == 0 {
			return statusReport{}, errors.New("the kubeconfig has no contexts")
		}
	}
	rows := make([][]targetRow, len(contexts))
	var g errgroup.Group
	g.SetLimit(8)
	for i, name := range contexts {
		g.Go(func() error {
			rows[i] = o.readCluster(ctx, clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules), name)
			return nil
		})
	}
	g.Wait()
	return statusReport{Targets: slices.Concat(rows...)}, nil
}

// readCluster returns the rows of the records of one cluster.
func (o *statusOptions) readCluster(ctx context.Context, cc clientcmd.ClientConfig, cluster string) []targetRow {
	cfg, err := cc.ClientConfig()
	var records []applyset.Record
	if err == nil {
		cfg.Timeout = o.requestTimeout
		records, err = applyset.ReadRecords(ctx, cfg)
	}
	if err != nil {
		return []targetRow{{Cluster: cluster, Phase: string(reconciler.PhaseUnreachable), Message: err.Error()}}
	}
	rows := make([]targetRow, len(records))
	for i, r := range records {
		rows[i] = targetRow{
			Solution: r.Solution, Tier: r.Tier, Cluster: cluster,
			Phase: r.Phase, Revision: r.Revision, Since: r.Since, Message: r.Message, Owner: r.Owner,
		}
	}
	return rows
}

// writeStatusTable prints the rows as "kubectl get" prints objects; when
// replicas share the fleet in shards, with each cluster's shard and the
// replica holding it; when there are pull sites, with when each one's
// agent was last seen.
func writeStatusTable(w io.Writer, rows []targetRow, now time.Time) error {
	sharded := slices.ContainsFunc(rows, func(r targetRow) bool { return r.Shard != nil })
	pulled := slices.ContainsFunc(rows, func(r targetRow) bool { return r.Agent != nil })
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	header := "SOLUTION\tTIER\tCLUSTER\t"
	if sharded {
		header += "SHARD\tREPLICA\t"
	}
	if pulled {
		header += "AGENT\t"
	}
	fmt.Fprintln(tw, header+"PHASE\tREVISION\tAGE\tMESSAGE")
	for _, r := range rows {
		age := "<unknown>"
		if !r.Since.IsZero() {
			age = duration.HumanDuration(now.Sub(r.Since))
		}
		placement := ""
		if sharded {
			shard := "<none>"
			if r.Shard != nil {
				shard = strconv.Itoa(*r.Shard)
			}
			placement = shard + "\t" + cmp.Or(r.Replica, "<none>") + "\t"
		}
		if pulled {
			placement += agentSeen(r.Agent, now) + "\t"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s%s\t%s\t%s\t%s\n",
			cmp.Or(r.Solution, "<unknown>"), cmp.Or(r.Tier, "<unknown>"), r.Cluster, placement, cmp.Or(r.Phase, "<unknown>"),
			shortRevision(r.Revision), age, strings.Join(strings.Fields(r.Message), " "))
	}
	return tw.Flush()
}

// agentSeen says when a pull site's agent was last seen, "<push>" for a
// site the daemon reaches itself.
func agentSeen(a *daemon.AgentStatus, now time.Time) string {
	switch {
	case a == nil:
		return "<push>"
	case a.LastSeen.IsZero():
		return "never seen"
	}
	return "seen " + duration.HumanDuration(now.Sub(a.LastSeen)) + " ago"
}

// writeModelsTable prints a row per model each target serves, with the
// versions its available pods run; a target that serves none has no row.
func writeModelsTable(w io.Writer, rows []targetRow) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "SOLUTION\tTIER\tCLUSTER\tMODEL\tWORKLOAD\tSERVING")
	for _, r := range rows {
		for _, m := range r.Models {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Solution, r.Tier, r.Cluster, m.Model, m.Workload,
				strings.Join(strings.Fields(m.Serving()), " "))
		}
	}
	return tw.Flush()
}

// shortRevision abbreviates a revision for a table, as "git log --oneline"
// abbreviates commits: the short name of its ref and the first 12 hex digits
// of its digest. JSON output keeps it whole.
func shortRevision(rev string) string {
	if rev == "" {
		return "<none>"
	}
	rev = strings.TrimPrefix(rev, "refs/heads/")
	rev = strings.TrimPrefix(rev, "refs/tags/")
	i := strings.LastIndexByte(rev, ':')
	if i < 0 || len(rev)-i-1 <= 12 {
		return rev
	}
	return rev[:i+1+12]
}
