package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureDir is the smart-factory config repository.
const fixtureDir = "../../fixtures/smart-factory"

// gitRun runs git in dir with a fixed identity and clock, so that commits,
// and the SHAs the golden files show, are the same on every run.
func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada Author", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada Author", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// configRepo returns a Git repository whose branch main holds the
// smart-factory fixture.
func configRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixtureDir)); err != nil {
		t.Fatal(err)
	}
	gitRun(t, dir, "init", "--quiet", "--initial-branch=main")
	gitRun(t, dir, "add", "--all")
	gitRun(t, dir, "commit", "--quiet", "-m", "Smart factory with three plants")
	return dir
}

// pullRequest commits edits on a new branch off main, as a pull request
// would, and goes back to main. Each edit replaces old with new in a file.
func pullRequest(t *testing.T, dir, branch string, edits ...[3]string) {
	t.Helper()
	gitRun(t, dir, "checkout", "--quiet", "-b", branch, "main")
	for _, e := range edits {
		path := filepath.Join(dir, e[0])
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte(e[1])) {
			t.Fatalf("%s has no %q", e[0], e[1])
		}
		if err := os.WriteFile(path, bytes.Replace(data, []byte(e[1]), []byte(e[2]), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitRun(t, dir, "commit", "--quiet", "--all", "-m", branch)
	gitRun(t, dir, "checkout", "--quiet", "main")
}

var scaleOut = [3]string{"tandem.yaml", "scale: 3", "scale: 5"}

func TestDiffShowsWhatAPullRequestDoesToEveryCluster(t *testing.T) {
	repo := configRepo(t)
	pullRequest(t, repo, "scale-out", scaleOut)
	pullRequest(t, repo, "model-bump",
		[3]string{"tandem.yaml", `version: "1.4.0"`, `version: "1.5.0"`},
		[3]string{"tandem.yaml", "defect-detector/1.4.0/", "defect-detector/1.5.0/"})

	tests := []struct {
		golden string
		args   []string
	}{
		{"diff-scale-out.md", []string{"--head", "scale-out", "-o", "markdown"}},
		{"diff-scale-out.txt", []string{"--head", "scale-out"}},
		{"diff-model-bump.json", []string{"--head", "model-bump", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			args := append([]string{"diff", "--repo", repo, "--base", "main"}, tt.args...)
			out, stderr, err := run(t, args...)
			if err != nil {
				t.Fatalf("tandem %s: %v\n%s", strings.Join(args, " "), err, stderr)
			}
			golden(t, tt.golden, out)
		})
	}
}

func TestDiffExitCodes(t *testing.T) {
	repo := configRepo(t)
	pullRequest(t, repo, "scale-out", scaleOut)
	pullRequest(t, repo, "broken", [3]string{"tandem.yaml", "perScale: 1,", "perScal: 1,"})

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"no change", []string{"--base", "main", "--head", "main"}, exitOK, nil},
		{"no change, --exit-code", []string{"--base", "main", "--head", "main", "--exit-code"}, exitOK, nil},
		{"changes", []string{"--base", "main", "--head", "scale-out"}, exitOK, nil},
		{"changes, --exit-code", []string{"--base", "main", "--head", "scale-out", "--exit-code"}, 1, []string{"changes 7 object"}},
		{"head does not render", []string{"--base", "main", "--head", "broken", "--exit-code"}, 2,
			[]string{"head revision broken (", "does not render", "tandem.yaml:16", "spec.tiers[0].replicas[0].perScal"}},
		{"base does not render", []string{"--base", "broken", "--head", "main"}, 2, []string{"base revision broken ("}},
		{"unknown revision", []string{"--base", "no-such-branch"}, 2, []string{"base revision", `"no-such-branch"`}},
		{"no base", nil, 2, []string{"--base is required"}},
		{"one directory", []string{fixtureDir}, 2, []string{"two directories"}},
		{"directories and revisions", []string{fixtureDir, fixtureDir, "--base", "main"}, 2, []string{"not both"}},
		{"unknown format", []string{"--base", "main", "-o", "yaml"}, 2, []string{`"yaml"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"diff", "--repo", repo}, tt.args...)
			_, _, err := run(t, args...)
			code := exitOK
			if err != nil {
				code = exitCode(err)
			}
			if code != tt.wantCode {
				t.Fatalf("tandem %s exited %d (%v), want %d", strings.Join(args, " "), code, err, tt.wantCode)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestDiffComparesTwoDirectories(t *testing.T) {
	head := t.TempDir()
	if err := os.CopyFS(head, os.DirFS(fixtureDir)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(head, "tandem.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(head, "tandem.yaml"), bytes.Replace(data, []byte(scaleOut[1]), []byte(scaleOut[2]), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run(t, "diff", fixtureDir, head, "--color", "never")
	if err != nil {
		t.Fatalf("tandem diff: %v\n%s", err, stderr)
	}
	for _, want := range []string{"tandem diff " + fixtureDir + " → " + head, "smart-factory scale 3 → 5", "edge tier, site plant-b:\n    inference replicas 3 → 5"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
}

func TestDiffFetchesRevisionsOfARemoteRepository(t *testing.T) {
	repo := configRepo(t)
	pullRequest(t, repo, "scale-out", scaleOut)
	gitRun(t, repo, "tag", "v1", "main")
	scaleOutCommit := gitRun(t, repo, "rev-parse", "scale-out")

	for _, head := range []string{"scale-out", scaleOutCommit} {
		out, stderr, err := run(t, "diff", "--repo", "file://"+filepath.ToSlash(repo), "--base", "v1", "--head", head, "-o", "json")
		if err != nil {
			t.Fatalf("tandem diff --head %s: %v\n%s", head, err, stderr)
		}
		if !strings.Contains(out, `"from": "3"`) || !strings.Contains(out, `"to": "5"`) {
			t.Errorf("diff of v1 and %s shows no replica change:\n%s", head, out)
		}
	}
}

func TestIsRemote(t *testing.T) {
	tests := map[string]bool{
		".":                                  false,
		"../config":                          false,
		"/srv/git/config":                    false,
		`C:\config`:                          false,
		"./dir:with-colon":                   false,
		"https://git.example.com/config.git": true,
		"ssh://git@git.example.com/config":   true,
		"file:///srv/git/config.git":         true,
		"git@github.com:acme/config.git":     true,
	}
	for repo, want := range tests {
		if got := isRemote(repo); got != want {
			t.Errorf("isRemote(%q) = %t, want %t", repo, got, want)
		}
	}
}
