package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-gitops/tandem/daemon"
)

// rolloutOptions are the flags of tandem rollout's subcommands.
type rolloutOptions struct {
	server         string
	tokenFile      string
	output         string
	requestTimeout time.Duration
}

func newRolloutCommand() *cobra.Command {
	o := &rolloutOptions{}
	cmd := &cobra.Command{
		Use:   "rollout status|approve|resume|abort [SOLUTION] --server URL",
		Short: "Show and steer the rollout of the revision tandem serve is rolling out",
		Long: `Show how far tandem serve has rolled its current revision out, wave by
wave, and steer it: approve a wave that waits for an approval, resume a
rollout its progress deadline halted, or abort one, which gives every site
of the solution back the revision it ran before (a git revert does the same
and stays in the history).

approve, resume and abort need a token of serve's --api-token-file
(--token-file FILE, or the TANDEM_TOKEN environment variable); every action
is logged with the token's name.`,
		Example: `  tandem rollout status --server http://tandem.tandem-system:8080
  tandem rollout approve smart-factory --server http://127.0.0.1:8080 --token-file ~/.tandem/token`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.server, "server", "", "`URL` of tandem serve's --listen address (required)")
	f.StringVar(&o.tokenFile, "token-file", "", "`FILE` holding an API token of serve's --api-token-file (default $TANDEM_TOKEN)")
	f.DurationVar(&o.requestTimeout, "request-timeout", 30*time.Second, "bound on the request to the server")
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the rollout of every solution",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.status(cmd) },
	}
	status.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(status)
	for _, a := range []struct{ verb, short string }{
		{daemon.ActionApprove, "Release the wave of SOLUTION that waits for an approval"},
		{daemon.ActionResume, "Resume the rollout of SOLUTION that its progress deadline halted"},
		{daemon.ActionAbort, "Give every site of SOLUTION back the revision it ran before"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   a.verb + " SOLUTION",
			Short: a.short,
			Args:  cobra.ExactArgs(1),
			RunE:  func(cmd *cobra.Command, args []string) error { return o.act(cmd, a.verb, args[0]) },
		})
	}
	return cmd
}

func (o *rolloutOptions) url(path string) (string, error) {
	if o.server == "" {
		return "", &usageError{fmt.Errorf("--server is required")}
	}
	return strings.TrimSuffix(o.server, "/") + path, nil
}

func (o *rolloutOptions) status(cmd *cobra.Command) error {
	if o.output != "text" && o.output != "json" {
		return &usageError{fmt.Errorf("--output %q: want text or json", o.output)}
	}
	url, err := o.url("/api/v1/status")
	if err != nil {
		return err
	}
	var st daemon.Status
	if err := o.do(cmd.Context(), http.MethodGet, url, "", &st); err != nil {
		return fmt.Errorf("read the rollout: %w", err)
	}
	if o.output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(st.Rollouts)
	}
	if len(st.Rollouts) == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "No revision is rolling out.")
		return nil
	}
	return writeRollouts(cmd.OutOrStdout(), st.Rollouts, time.Now())
}

// writeRollouts prints a table of rollouts, like kubectl get.
func writeRollouts(w io.Writer, rollouts []daemon.RolloutStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SOLUTION\tREVISION\tWAVE\tSITES\tSTATE\tSINCE\tDETAIL")
	for _, r := range rollouts {
		detail := r.Halted
		if r.SoakUntil != nil {
			detail = "soaking until " + r.SoakUntil.Format(time.RFC3339)
		}
		if len(r.Waiting) > 0 {
			detail = strings.TrimPrefix(detail+"; "+strings.Join(r.Waiting, "; "), "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d/%d\t%s\t%s\t%s\n", r.Solution, r.Revision, r.Wave, r.Waves, r.Updated, r.Sites,
			r.State, now.Sub(r.Since).Round(time.Second), detail)
	}
	return tw.Flush()
}

func (o *rolloutOptions) act(cmd *cobra.Command, verb, solution string) error {
	url, err := o.url("/api/v1/rollouts/" + solution + "/" + verb)
	if err != nil {
		return err
	}
	token := strings.TrimSpace(os.Getenv("TANDEM_TOKEN"))
	if o.tokenFile != "" {
		data, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return &usageError{fmt.Errorf("--token-file: %w", err)}
		}
		token = strings.TrimSpace(string(data))
	}
	if token == "" {
		return &usageError{fmt.Errorf("%s needs a token: --token-file FILE or $TANDEM_TOKEN", verb)}
	}
	var st daemon.RolloutStatus
	if err := o.do(cmd.Context(), http.MethodPost, url, token, &st); err != nil {
		return fmt.Errorf("%s the rollout of %s: %w", verb, solution, err)
	}
	return writeRollouts(cmd.OutOrStdout(), []daemon.RolloutStatus{st}, time.Now())
}

// do makes a request of the server and decodes its JSON answer into out.
func (o *rolloutOptions) do(ctx context.Context, method, url, token string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, o.requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return &usageError{fmt.Errorf("--server: %w", err)}
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode the answer of %s %s: %w", method, url, err)
	}
	return nil
}
