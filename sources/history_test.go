package sources

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHistoryListsFirstParentCommitsThatChangedThePaths(t *testing.T) {
	up := newUpstream(t, map[string]string{
		"tandem.yaml":                "scale: 1\n",
		"tiers/cloud/deploy.yaml":    "replicas: 1\n",
		"sites/berlin.yaml":          "weight: 1\n",
		"solutions/other/descr.yaml": "scale: 1\n",
	})
	up.commit("Scale to 2", map[string]string{"tandem.yaml": "scale: 2\n"})
	up.commit("Weigh Berlin", map[string]string{"sites/berlin.yaml": "weight: 2\n"})
	up.commit("Raise cloud replicas", map[string]string{"tiers/cloud/deploy.yaml": "replicas: 2\n"})
	// A side branch merged with a merge commit: first-parent history shows
	// the merge, not the side branch's own commits.
	runGit(t, up.work, "checkout", "--quiet", "-b", "side")
	up.write(map[string]string{"tiers/cloud/deploy.yaml": "replicas: 3\n"})
	runGit(t, up.work, "commit", "--quiet", "--all", "-m", "Side: raise cloud replicas")
	runGit(t, up.work, "checkout", "--quiet", "main")
	up.commit("Remove the other solution", map[string]string{"solutions/other/descr.yaml": ""})
	runGit(t, up.work, "merge", "--quiet", "--no-ff", "-m", "Merge side", "side")
	runGit(t, up.work, "push", "--quiet", "origin", "main")
	up.commit("Scale to 4\n\nThe plant doubled its lines.", map[string]string{"tandem.yaml": "scale: 4\n"})

	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	if _, err := repo.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		paths []string
		limit int
	}{
		{"one file", []string{"tandem.yaml"}, 10},
		{"a directory", []string{"tiers"}, 10},
		{"a nested directory", []string{"tiers/cloud"}, 10},
		{"several paths", []string{"tandem.yaml", "sites/berlin.yaml"}, 10},
		{"limited", []string{"tandem.yaml", "tiers"}, 2},
		{"a deleted directory", []string{"solutions/other"}, 10},
		{"the whole tree", []string{"."}, 3},
		{"a path never written", []string{"sites/lyon.yaml"}, 10},
		{"a path below a file", []string{"tandem.yaml/x"}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := repo.History(context.Background(), tt.paths, tt.limit)
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			var gotSHAs []string
			for _, c := range got {
				gotSHAs = append(gotSHAs, c.SHA)
			}
			args := append([]string{"log", "--first-parent", "--format=%H", "-n", strconv.Itoa(tt.limit), "main", "--"}, tt.paths...)
			var want []string
			if out := runGit(t, up.bare, args...); out != "" {
				want = strings.Split(out, "\n")
			}
			if diff := cmp.Diff(want, gotSHAs); diff != "" {
				t.Errorf("History(%q, %d) commits, compared with git log --first-parent (-want +got):\n%s", tt.paths, tt.limit, diff)
			}
		})
	}
}

func TestHistoryDescribesEachCommit(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	first := up.head("main")
	second := up.commit("Scale to 4\n\nThe plant doubled its lines.", map[string]string{"tandem.yaml": "scale: 4\n"})
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	if _, err := repo.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}

	got, err := repo.History(context.Background(), []string{"tandem.yaml"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("History = %+v, want two commits", got)
	}
	c := got[0]
	if c.SHA != second || c.Parent != first || c.Subject != "Scale to 4" || c.AuthorName != "Ada Author" || c.AuthorEmail != "ada@example.com" {
		t.Errorf("newest commit = %+v", c)
	}
	if when := runGit(t, up.bare, "log", "-1", "--format=%at", second); strconv.FormatInt(c.AuthorTime.Unix(), 10) != when {
		t.Errorf("AuthorTime = %v, want unix %s", c.AuthorTime, when)
	}
	if root := got[1]; root.SHA != first || root.Parent != "" || root.Subject != "Initial configuration" {
		t.Errorf("root commit = %+v", root)
	}
}

func TestHistoryRefusesBadArguments(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	tests := []struct {
		name  string
		paths []string
		limit int
		want  string
	}{
		{"not fetched", []string{"tandem.yaml"}, 1, "not fetched yet"},
		{"no limit", []string{"tandem.yaml"}, 0, "limit 0 must be > 0"},
		{"no paths", nil, 1, "no paths"},
		{"an absolute path", []string{"/tandem.yaml"}, 1, `invalid path "/tandem.yaml"`},
		{"a path with a trailing slash", []string{"tiers/"}, 1, `invalid path "tiers/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := repo.History(context.Background(), tt.paths, tt.limit)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("History error = %v, want %q", err, tt.want)
			}
		})
	}
}
