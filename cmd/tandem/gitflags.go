package main

import (
	"fmt"
	"regexp"
	"strings"

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
	ref, err := parseRef(g.ref)
	if err != nil {
		return err
	}
	g.spec.Ref = ref
	return g.spec.Validate()
}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// parseRef reads --ref: refs/tags/NAME is a tag, a full commit SHA pins
// that commit, and anything else, with or without refs/heads/, is a branch.
func parseRef(ref string) (sources.Ref, error) {
	switch {
	case ref == "":
		return sources.Ref{}, fmt.Errorf("--ref is empty: want a branch, refs/tags/NAME or a commit SHA")
	case strings.HasPrefix(ref, "refs/tags/"):
		return sources.Ref{Tag: strings.TrimPrefix(ref, "refs/tags/")}, nil
	case fullSHA.MatchString(ref):
		return sources.Ref{Commit: ref}, nil
	case strings.HasPrefix(ref, "refs/") && !strings.HasPrefix(ref, "refs/heads/"):
		return sources.Ref{}, fmt.Errorf("--ref %q: want a branch, refs/tags/NAME or a commit SHA", ref)
	default:
		return sources.Ref{Branch: strings.TrimPrefix(ref, "refs/heads/")}, nil
	}
}
