package sources

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Auth says where a remote's credentials are. It holds file paths and
// environment variable names, never a secret, so it is safe to log and to
// keep in configuration. Secrets are read on every fetch and push, so a
// rotated token or key is picked up without a restart.
type Auth struct {
	// Username for HTTPS basic authentication; "git" when a password is set
	// without one (GitHub, GitLab and Gitea accept any user name with a
	// token). For SSH, the user of the URL is used, or "git".
	Username string
	// PasswordFile is a file holding the HTTPS password or access token.
	// Surrounding whitespace is trimmed.
	PasswordFile string
	// PasswordEnv is an environment variable holding the HTTPS password or
	// access token; used when PasswordFile is empty.
	PasswordEnv string
	// SSHKeyFile is a PEM or OpenSSH private key for ssh:// and scp-like
	// URLs. Passphrase-protected keys are not supported.
	SSHKeyFile string
	// KnownHostsFile lists the host keys an SSH remote may present. When
	// empty, $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts is used; an unknown or
	// mismatched host key always fails the connection.
	KnownHostsFile string
}

func (a Auth) validate(rawURL string) error {
	if a.PasswordFile != "" && a.PasswordEnv != "" {
		return errors.New("auth: set passwordFile or passwordEnv, not both")
	}
	hasPassword := a.PasswordFile != "" || a.PasswordEnv != ""
	switch transportOf(rawURL) {
	case "ssh":
		if hasPassword || a.Username != "" {
			return errors.New("auth: an ssh remote takes sshKeyFile and knownHostsFile, not a user name or password")
		}
	case "http":
		if a.SSHKeyFile != "" || a.KnownHostsFile != "" {
			return errors.New("auth: an http(s) remote takes a user name and password, not an SSH key")
		}
		if a.Username != "" && !hasPassword {
			return errors.New("auth: username is set but neither passwordFile nor passwordEnv")
		}
	case "file":
		if hasPassword || a.Username != "" || a.SSHKeyFile != "" || a.KnownHostsFile != "" {
			return errors.New("auth: a file remote takes no credentials")
		}
	default:
		return fmt.Errorf("url: unsupported scheme in %q (want https, http, ssh or file)", redactURL(rawURL))
	}
	return nil
}

// transportOf classifies a URL as "http", "ssh", "file", or "" when tandem
// does not support it.
func transportOf(rawURL string) string {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return ""
	}
	switch ep.Protocol {
	case "http", "https":
		return "http"
	case "ssh":
		return "ssh"
	case "file":
		return "file"
	}
	return ""
}

// method loads the secrets and returns the go-git auth method for the
// remote, or nil when the remote needs none.
func (a Auth) method(rawURL string) (transport.AuthMethod, error) {
	switch transportOf(rawURL) {
	case "http":
		password, err := a.password()
		if err != nil || password == "" {
			return nil, err
		}
		user := a.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: password}, nil
	case "ssh":
		return a.sshMethod(rawURL)
	}
	return nil, nil
}

func (a Auth) password() (string, error) {
	switch {
	case a.PasswordFile != "":
		b, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("read password file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case a.PasswordEnv != "":
		v, ok := os.LookupEnv(a.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("password environment variable %s is not set", a.PasswordEnv)
		}
		return strings.TrimSpace(v), nil
	}
	return "", nil
}

func (a Auth) sshMethod(rawURL string) (transport.AuthMethod, error) {
	if a.SSHKeyFile == "" {
		return nil, errors.New("auth: sshKeyFile must be set for an ssh remote")
	}
	user := "git"
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		ep = nil
	} else if ep.User != "" {
		user = ep.User
	}
	keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, "")
	if err != nil {
		return nil, fmt.Errorf("load ssh key %s: %w", a.SSHKeyFile, err)
	}
	var files []string
	if a.KnownHostsFile != "" {
		files = []string{a.KnownHostsFile}
	}
	db, err := gitssh.NewKnownHostsDb(files...)
	if err != nil {
		return nil, fmt.Errorf("load known hosts: %w", err)
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	if ep != nil {
		// Offer only the key types known_hosts lists for this host, or the
		// server may present another type and fail a correct check.
		port := ep.Port
		if port == 0 {
			port = 22
		}
		keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	}
	return keys, nil
}

// hostOf returns the host of a URL, for naming mirrors; "" for file URLs.
func hostOf(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		return u.Hostname()
	}
	if ep, err := transport.NewEndpoint(rawURL); err == nil {
		return ep.Host
	}
	return ""
}
