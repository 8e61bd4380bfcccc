package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

// guideTemplate is what the demo prints once the fleet has converged. Every
// line starting with "  $ " is a command a person can paste as it is, after
// sourcing env.sh; the demo's own test runs them.
var guideTemplate = template.Must(template.New("guide").Parse(`tandem is keeping {{len .Clusters}} clusters ({{.ClusterList}}) converged to the
smart-factory config repository.

  console      http://{{.Listen}}/console/  (user {{.ConsoleUser}}, password {{.ConsolePassword}})
  status       http://{{.Listen}}/api/v1/status
  metrics      http://{{.Listen}}/metrics
  daemon log   {{.Log}}
  repository   {{.RepoURL}}

## Set up a shell
In another terminal, load KUBECONFIG, PATH (tandem and kubectl) and a Git identity:

  $ source {{.Env}}
  $ kubectl --context plant-a get deploy -A

## Change the scale factor
In the browser: open http://{{.Listen}}/console/, sign in as {{.ConsoleUser}} with the
password above, open smart-factory, set the scale to 5 and press Preview to see
every site's replicas now and after, then Apply: the console commits the
one-line change as {{.ConsoleUser}} and shows it rolling out until every site is Ready.
Its History page reverts it the same way.

Or with Git: clone the config repository, scale the solution from 3 to 5 and
push; the push webhook reaches tandem at once, and every site follows in
proportion:

  $ git clone {{.RepoURL}} {{.Work}} && cd {{.Work}}
  $ sed -i 's/^  scale: 3$/  scale: 5/' tandem.yaml
  $ git commit --quiet -am "Scale smart-factory to 5" && git push --quiet
  $ tandem status --server http://{{.Listen}}
  $ kubectl --context plant-b get deploy -n factory-edge

## Review a change
What the last commit did to every cluster, rendered straight from Git:

  $ cd {{.Work}} && tandem diff --base HEAD~1 --head HEAD

## Roll back
A revert is a new commit; the replicas return to what they were:

  $ cd {{.Work}} && git revert --no-edit HEAD && git push --quiet

## Stop
Ctrl-C here, or from another terminal:

  $ make demo-down
`))

// guide writes env.sh and returns the guide.
func (d *demo) guide() (string, error) {
	env := filepath.Join(d.dir, "env.sh")
	cpBin := os.Getenv(testbed.BinDirEnv)
	if cpBin == "" {
		cpBin = filepath.Join("bin", "controlplane")
	}
	cpBin, err := filepath.Abs(cpBin)
	if err != nil {
		return "", err
	}
	script := fmt.Sprintf(`# Shell set-up for the tandem demo.
export KUBECONFIG=%q
export PATH=%q:%q:"$PATH"
export GIT_AUTHOR_NAME="tandem demo" GIT_AUTHOR_EMAIL=demo@tandem.dev
export GIT_COMMITTER_NAME="tandem demo" GIT_COMMITTER_EMAIL=demo@tandem.dev
`, d.fleet.Kubeconfig, filepath.Dir(d.tandemBin), cpBin)
	if err := os.WriteFile(env, []byte(script), 0o644); err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = guideTemplate.Execute(&b, map[string]any{
		"Clusters":        d.clusters,
		"ClusterList":     strings.Join(d.clusters, ", "),
		"Listen":          d.listen,
		"ConsoleUser":     d.consoleUser,
		"ConsolePassword": d.consolePassword,
		"Log":             d.logPath,
		"RepoURL":         d.repoURL,
		"Env":             env,
		"Work":            filepath.Join(d.dir, "work"),
	})
	return b.String(), err
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
