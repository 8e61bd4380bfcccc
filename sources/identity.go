package sources

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Identity names what a tandem follows: a repository, a ref in it and a
// directory of it, as "host/path@ref" with "//dir" when the config
// repository is a directory of a larger one. It is the same for every URL
// of one repository (https://, ssh://, user@host:path, with or without
// credentials or ".git"), so that a daemon and a hand-run apply of the same
// branch are one owner of what they apply. A pinned commit names no branch:
// the identity is then the repository's alone, the same for every commit
// pinned, as each CI run of a detached checkout pins another one.
func Identity(rawURL, ref, dir string) string {
	id := repositoryName(rawURL)
	if ref != "" && !commitSHA.MatchString(ref) {
		id += "@" + shortRef(ref)
	}
	if dir = strings.Trim(path.Clean("/"+filepath.ToSlash(dir)), "/"); dir != "" {
		id += "//" + dir
	}
	return id
}

// scpLike matches the user@host:path form of SSH remotes.
var scpLike = regexp.MustCompile(`^(?:[^@/]+@)?([^:/]+):(.*)$`)

// repositoryName is a repository URL without scheme, credentials and
// ".git": host and path, or the path of a local repository.
func repositoryName(rawURL string) string {
	var host, p string
	if u, err := url.Parse(rawURL); err == nil && u.Scheme != "" && u.Host+u.Path != "" && len(u.Scheme) > 1 {
		host, p = strings.ToLower(u.Host), u.Path
	} else if m := scpLike.FindStringSubmatch(rawURL); m != nil {
		host, p = strings.ToLower(m[1]), m[2]
	} else {
		p = rawURL
	}
	p = strings.TrimSuffix(strings.TrimRight(p, "/"), ".git")
	if host == "" {
		return p
	}
	return host + "/" + strings.TrimLeft(p, "/")
}

// shortRef is a ref as people say it: main for refs/heads/main, tags/v1
// for refs/tags/v1, a commit as its SHA.
func shortRef(ref string) string {
	name := plumbing.ReferenceName(ref)
	switch {
	case name.IsBranch():
		return name.Short()
	case name.IsTag():
		return "tags/" + name.Short()
	default:
		return ref
	}
}

// Identity names the checkout as a tandem following it would: the URL of
// its origin remote (its own path when it has none), the branch checked
// out and the directory OpenLocal was given. A detached HEAD, as CI checks
// out, names the branch at the same commit, local or of origin, if there is
// one.
func (l *LocalRepository) Identity() (string, error) {
	repoURL := strings.TrimPrefix(l.r.url, "file://")
	if l.sub != "" {
		repoURL = strings.TrimSuffix(repoURL, "/"+l.sub)
	}
	if remote, err := l.r.git.Remote("origin"); err == nil && len(remote.Config().URLs) > 0 {
		repoURL = remote.Config().URLs[0]
	}
	head, err := l.r.git.Reference(plumbing.HEAD, false)
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	ref := head.Target().String()
	if head.Type() == plumbing.HashReference {
		ref = l.branchAt(head.Hash())
	}
	return Identity(repoURL, ref, l.sub), nil
}

// branchAt returns the full name of a branch whose head is commit, a local
// one before one of origin's, or "".
func (l *LocalRepository) branchAt(commit plumbing.Hash) string {
	refs, err := l.r.git.References()
	if err != nil {
		return ""
	}
	var local, remote []string
	_ = refs.ForEach(func(ref *plumbing.Reference) error {
		name := ref.Name()
		switch {
		case ref.Type() != plumbing.HashReference || ref.Hash() != commit:
		case name.IsBranch():
			local = append(local, name.String())
		case name.IsRemote() && strings.HasPrefix(name.String(), "refs/remotes/origin/") && name.String() != "refs/remotes/origin/HEAD":
			remote = append(remote, plumbing.NewBranchReferenceName(strings.TrimPrefix(name.String(), "refs/remotes/origin/")).String())
		}
		return nil
	})
	slices.Sort(local)
	slices.Sort(remote)
	if names := append(local, remote...); len(names) > 0 {
		return names[0]
	}
	return ""
}
