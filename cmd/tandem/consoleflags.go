package main

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/spf13/pflag"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/daemon/console"
	"github.com/tandem-gitops/tandem/sources"
	"github.com/tandem-gitops/tandem/sources/gitwrite"
)

// consoleFlags enable and configure the operations console of serve.
type consoleFlags struct {
	users      string
	listen     string
	authHeader string
}

func (c *consoleFlags) register(f *pflag.FlagSet) {
	f.StringVar(&c.users, "console-users", "", "`FILE` of console users, name:bcrypt-hash[:operator|viewer] per line (htpasswd -B); enables the console at /console/")
	f.StringVar(&c.listen, "console-listen", "", "`ADDRESS` to serve the console on instead of --listen")
	f.StringVar(&c.authHeader, "console-auth-header", "", "request `HEADER` an authenticating proxy sets to the user's name (X-Forwarded-User for oauth2-proxy); roles still come from --console-users")
}

// handler returns the console, or nil when it is not enabled.
func (c *consoleFlags) handler(repo *sources.Repository, d *daemon.Daemon, poller *sources.Poller, log *slog.Logger) (http.Handler, error) {
	if c.users == "" {
		if c.listen != "" || c.authHeader != "" {
			return nil, &usageError{fmt.Errorf("--console-listen and --console-auth-header need --console-users")}
		}
		return nil, nil
	}
	if c.authHeader != "" && c.listen == "" {
		// Anyone who reaches --listen could set the header.
		return nil, &usageError{fmt.Errorf("--console-auth-header needs --console-listen: an address only the authenticating proxy reaches")}
	}
	users, err := console.ReadUsers(c.users)
	if err != nil {
		return nil, err
	}
	writer, err := gitwrite.NewWriter(repo, gitwrite.WriterOptions{
		Committer: gitwrite.Signature{Name: "tandem console", Email: "console@tandem.invalid"}, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return console.New(console.Config{Status: d.Status, Repository: repo, Writer: writer, Trigger: poller.Trigger,
		Users: users, AuthHeader: c.authHeader, Logger: log})
}
