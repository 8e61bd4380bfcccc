package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/tandem-gitops/tandem/sources"
)

// gitFlags say which remote repository to read, at which ref, and how to
// authenticate; "serve" and "apply" share them.
type gitFlags struct {
	spec sources.Spec
	ref  string
}

func (g *gitFlags) register(f *pflag.FlagSet) {
	f.StringVar(&g.spec.URL, "repo", "", "`URL` of the config repository: https://, ssh://, user@host:path or file://")
	f.StringVar(&g.ref, "ref", "main", "what to follow in --repo: a branch (main, refs/heads/main), a tag (refs/tags/v1.2.0) or a full commit SHA")
	f.DurationVar(&g.spec.Timeout, "git-timeout", sources.DefaultTimeout, "bound on one fetch of --repo")
	f.StringVar(&g.spec.Auth.Username, "git-username", "", "user name for HTTPS authentication")
	f.StringVar(&g.spec.Auth.PasswordFile, "git-password-file", "", "`FILE` holding the HTTPS password or token")
	f.StringVar(&g.spec.Auth.PasswordEnv, "git-password-env", "", "environment `VARIABLE` holding the HTTPS password or token")
	f.StringVar(&g.spec.Auth.SSHKeyFile, "git-ssh-key-file", "", "SSH private key `FILE`")
	f.StringVar(&g.spec.Auth.KnownHostsFile, "git-known-hosts-file", "", "known_hosts `FILE` for SSH remotes (default $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts)")
	f.StringVar(&g.spec.CAFile, "git-ca-file", "", "PEM `FILE` of certificate authorities an https remote may chain to")
}

// resolve sets the spec's ref from --ref and validates the spec.
func (g *gitFlags) resolve() error {
	ref, err := sources.ParseRef(g.ref)
	if err != nil {
		return fmt.Errorf("--ref: %w", err)
	}
	g.spec.Ref = ref
	return g.spec.Validate()
}
