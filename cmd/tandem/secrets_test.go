package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretRepo is a repository whose tier holds a Secret with password in
// data and token in stringData.
func secretRepo(t *testing.T, password, token string) map[string]string {
	t.Helper()
	return map[string]string{
		"tandem.yaml": "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: lab}\nspec:\n  scale: 1\n" +
			"  tiers:\n  - {name: base, path: base, namespace: lab, targets: {clusters: [lab]}}\n",
		"base/kustomization.yaml": "resources: [secret.yaml]\n",
		"base/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: registry}\n" +
			"data: {password: " + password + "}\nstringData: {token: " + token + "}\n",
	}
}

// "aHVudGVyMg==" and "aHVudGVyMw==" are "hunter2" and "hunter3".
const (
	passwordBefore, passwordAfter = "aHVudGVyMg==", "aHVudGVyMw=="
	tokenBefore, tokenAfter       = "tok-before-9f8e", "tok-after-7a6b"
)

// requireNoClearValue fails if out holds any of the Secret values the
// tests write.
func requireNoClearValue(t *testing.T, what, out string) {
	t.Helper()
	for _, v := range []string{passwordBefore, passwordAfter, "hunter", tokenBefore, tokenAfter} {
		if strings.Contains(out, v) {
			t.Errorf("%s shows the value %q in clear:\n%s", what, v, out)
		}
	}
}

func TestRenderMasksSecretValuesUnlessAskedToShowThem(t *testing.T) {
	repo := writeRepo(t, secretRepo(t, passwordBefore, tokenBefore))
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			out, stderr, err := run(t, "render", repo, "-o", format)
			if err != nil {
				t.Fatalf("render: %v\n%s", err, stderr)
			}
			requireNoClearValue(t, "render", out)
			for _, key := range []string{"password", "token"} {
				if !strings.Contains(out, key) {
					t.Errorf("render does not name the key %s:\n%s", key, out)
				}
			}
			if !strings.Contains(out, "***sha256:f52fbd32") {
				t.Errorf("render does not show the digest of the password:\n%s", out)
			}

			dir := t.TempDir()
			if _, stderr, err := run(t, "render", repo, "-o", format, "--out", dir); err != nil {
				t.Fatalf("render --out: %v\n%s", err, stderr)
			}
			for _, file := range treeFiles(t, dir) {
				data, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil {
					t.Fatal(err)
				}
				requireNoClearValue(t, file, string(data))
			}

			out, stderr, err = run(t, "render", repo, "-o", format, "--show-secrets")
			if err != nil {
				t.Fatalf("render --show-secrets: %v\n%s", err, stderr)
			}
			if !strings.Contains(out, passwordBefore) || !strings.Contains(out, tokenBefore) || strings.Contains(out, "***") {
				t.Errorf("render --show-secrets does not show the values in clear:\n%s", out)
			}
		})
	}
}

func TestDiffShowsAChangedSecretValueAsAChangedDigestAndNeverInClear(t *testing.T) {
	base := writeRepo(t, secretRepo(t, passwordBefore, tokenBefore))
	head := writeRepo(t, secretRepo(t, passwordAfter, tokenAfter))
	for _, format := range []string{"text", "markdown", "json"} {
		t.Run("directories/"+format, func(t *testing.T) {
			out, stderr, err := run(t, "diff", base, head, "-o", format, "--color", "never")
			if err != nil {
				t.Fatalf("diff: %v\n%s", err, stderr)
			}
			requireNoClearValue(t, "diff", out)
			for _, want := range []string{"-  password: '***sha256:f52fbd32'", "+  password: '***sha256:fb8c2e2b'", "-  token: '***sha256:", "+  token: '***sha256:"} {
				if format == "json" {
					want = `\n` + want
				}
				if !strings.Contains(out, want) {
					t.Errorf("diff does not show %q:\n%s", want, out)
				}
			}
		})
	}

	t.Run("revisions", func(t *testing.T) {
		dir := base
		gitRun(t, dir, "init", "--quiet", "--initial-branch=main")
		gitRun(t, dir, "add", "--all")
		gitRun(t, dir, "commit", "--quiet", "-m", "Registry credentials")
		gitRun(t, dir, "checkout", "--quiet", "-b", "rotate")
		for name, data := range secretRepo(t, passwordAfter, tokenAfter) {
			if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		gitRun(t, dir, "commit", "--quiet", "--all", "-m", "Rotate the registry credentials")
		out, stderr, err := run(t, "diff", "--repo", dir, "--base", "main", "--head", "rotate", "-o", "markdown", "--exit-code")
		if exitStatus(err) != exitFailure {
			t.Fatalf("diff --exit-code: %v, want exit 1 for a change\n%s", err, stderr)
		}
		requireNoClearValue(t, "diff", out)
		for _, want := range []string{"-  password: '***sha256:f52fbd32'", "+  password: '***sha256:fb8c2e2b'", "-  token: '***sha256:", "+  token: '***sha256:"} {
			if !strings.Contains(out, want) {
				t.Errorf("diff does not show %q:\n%s", want, out)
			}
		}
	})
}
