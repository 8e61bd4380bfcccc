package gitwrite_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"

	"github.com/tandem-gitops/tandem/sources"
	"github.com/tandem-gitops/tandem/sources/gitwrite"
)

// A scale edit from the web console: read the file at the revision shown to
// the user, change it, and commit it based on that revision.
func ExampleWriter_Commit() {
	ctx := context.Background()
	repo, err := sources.Open(sources.Spec{
		URL: "git@github.com:acme/factory-config.git",
		Ref: sources.Ref{Branch: "main"},
		Auth: sources.Auth{
			SSHKeyFile:     "/etc/tandem/ssh/id_ed25519",
			KnownHostsFile: "/etc/tandem/ssh/known_hosts",
		},
	}, sources.Options{CacheDir: "/var/cache/tandem/git"})
	if err != nil {
		log.Fatal(err)
	}
	defer repo.Close()
	shown, err := repo.Fetch(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fsys, err := repo.FS(shown.Commit)
	if err != nil {
		log.Fatal(err)
	}
	descriptor, err := fs.ReadFile(fsys, "tandem.yaml")
	if err != nil {
		log.Fatal(err)
	}
	edited := descriptor // the console changes spec.scale here

	writer, err := gitwrite.NewWriter(repo, gitwrite.WriterOptions{
		Committer: gitwrite.Signature{Name: "tandem", Email: "tandem@acme.example"},
	})
	if err != nil {
		log.Fatal(err)
	}
	rev, err := writer.Commit(ctx, gitwrite.Change{
		Base:    shown.Commit,
		Files:   map[string][]byte{"tandem.yaml": edited},
		Author:  gitwrite.Signature{Name: "Olga Operator", Email: "olga@acme.example"},
		Message: "Scale smart-factory to 4",
	})
	var conflict *gitwrite.ConflictError
	switch {
	case errors.As(err, &conflict):
		fmt.Println("someone else changed", conflict.Paths, "- reload and try again")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("pushed", rev)
	}
}
