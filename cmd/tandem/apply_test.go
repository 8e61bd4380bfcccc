package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/e2e/testbed"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

const smartFactory = "../../fixtures/smart-factory"

// The fixture's targets: a cloud tier, and two tiers at each of three plants.
var smartFactoryTargets = []string{
	"cloud/smart-factory/cloud",
	"plant-a/smart-factory/edge", "plant-a/smart-factory/platform-edge",
	"plant-b/smart-factory/edge", "plant-b/smart-factory/platform-edge",
	"plant-c/smart-factory/edge", "plant-c/smart-factory/platform-edge",
}

// TestApplyAndStatusOnClusters applies the fixture to four clusters and reads
// back what they say, step by step: the clusters are shared by the steps, as
// starting them takes most of the time.
// factoryInstance is the instance every apply of the smart factory acts as:
// the test applies it from several copies of the repository, which are one
// deployment.
const factoryInstance = "smart-factory-test"

func TestApplyAndStatusOnClusters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Kubernetes control planes")
	}
	fleet := testbed.StartT(t, testbed.Options{Names: []string{"cloud", "plant-a", "plant-b", "plant-c"}, Full: true})
	kubeconfig := fleet.Kubeconfig
	dirRevision := ""

	step(t, "first apply creates every object and waits until Ready", func(t *testing.T) {
		stdout, stderr, err := run(t, "apply", smartFactory, "--kubeconfig", kubeconfig, "--timeout", "2m", "--instance", factoryInstance)
		if err != nil {
			t.Fatalf("apply: %v\n%s\n%s", err, stderr, stdout)
		}
		t.Logf("stderr:\n%s\nstdout:\n%s", stderr, stdout)
		for _, want := range []string{"plant-a smart-factory/edge Ready", "Deployment/factory-edge/inference created"} {
			if !hasLine(stderr, want) {
				t.Errorf("progress has no line %q", want)
			}
		}
		if !strings.Contains(stdout, "7 of 7 target(s) Ready at dir:") {
			t.Errorf("summary does not say every target is Ready")
		}
		var d appsv1.Deployment
		if err := kubeClient(t, fleet, "plant-a").Get(t.Context(), client.ObjectKey{Namespace: "factory-edge", Name: "inference"}, &d); err != nil {
			t.Fatalf("Deployment/factory-edge/inference on plant-a: %v", err)
		}
	})

	step(t, "second apply changes nothing", func(t *testing.T) {
		results := applyJSON(t, 0, smartFactory, "--kubeconfig", kubeconfig, "--instance", factoryInstance)
		for _, r := range results {
			if r.Changes.Created+r.Changes.Configured+r.Changes.Deleted != 0 || r.Changes.Unchanged == 0 {
				t.Errorf("%s/%s/%s: changes %+v, want only unchanged objects", r.Cluster, r.Solution, r.Tier, r.Changes)
			}
		}
		dirRevision = results[0].Revision
	})

	step(t, "status lists every target Ready at the applied revision", func(t *testing.T) {
		requireRecords(t, statusJSON(t, 0, "--kubeconfig", kubeconfig), dirRevision, nil)
		stdout, _, err := run(t, "status", "--kubeconfig", kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 8 ||
			!strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "smart-factory cloud cloud Ready dir:") {
			t.Errorf("want a header and 7 rows, cloud first:\n%s", stdout)
		}
	})

	step(t, "another repository holding the same solution is refused", func(t *testing.T) {
		repo, _ := fixtureRepository(t, "config")
		results := applyJSON(t, exitFailure, filepath.Join(repo, "config"), "--kubeconfig", kubeconfig)
		for _, r := range results {
			if r.Phase != string(reconciler.PhaseFailed) || (!strings.Contains(r.Message, `by tandem instance "`+factoryInstance+`"`) &&
				!strings.Contains(r.Message, "dependency")) {
				t.Errorf("%s/%s/%s: %s %q; want Failed, naming the owner %s", r.Cluster, r.Solution, r.Tier, r.Phase, r.Message, factoryInstance)
			}
		}
		report := statusJSON(t, 0, "--kubeconfig", kubeconfig)
		requireRecords(t, report, dirRevision, nil)
		for _, r := range report.Targets {
			if r.Owner != factoryInstance {
				t.Errorf("%s/%s/%s: owner %q, want %s", r.Cluster, r.Solution, r.Tier, r.Owner, factoryInstance)
			}
		}
	})

	step(t, "apply --revision reads a commit of the repository PATH is in", func(t *testing.T) {
		repo, commits := fixtureRepository(t, "config")
		// HEAD has scale 5; HEAD~1 is what the clusters run already.
		results := applyJSON(t, 0, filepath.Join(repo, "config"), "--revision", "HEAD~1",
			"--cluster", "cloud", "--cluster", "plant-a", "--kubeconfig", kubeconfig, "--instance", factoryInstance)
		requireTargets(t, results, smartFactoryTargets[:3])
		for _, r := range results {
			if r.Revision != "sha1:"+commits[0] || r.Changes.Unchanged == 0 || r.Changes.Configured != 0 {
				t.Errorf("%s/%s/%s: revision %s, changes %+v; want sha1:%s, nothing changed", r.Cluster, r.Solution, r.Tier, r.Revision, r.Changes, commits[0])
			}
		}
	})

	remoteRevision := ""
	step(t, "apply --repo fetches a commit of a remote", func(t *testing.T) {
		repo, commits := fixtureRepository(t, "")
		remoteRevision = "sha1:" + commits[0]
		results := applyJSON(t, 0, "--repo", "file://"+repo, "--ref", commits[0], "--kubeconfig", kubeconfig, "--instance", factoryInstance)
		requireTargets(t, results, smartFactoryTargets)
		for _, r := range results {
			if r.Revision != remoteRevision || r.Changes.Configured+r.Changes.Created != 0 {
				t.Errorf("%s/%s/%s: revision %s, changes %+v; want %s, nothing changed", r.Cluster, r.Solution, r.Tier, r.Revision, r.Changes, remoteRevision)
			}
		}
	})

	step(t, "a descriptor that does not render is applied nowhere", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(smartFactory)); err != nil {
			t.Fatal(err)
		}
		editFile(t, filepath.Join(dir, "tandem.yaml"), "scale: 3", "scale: 5\n  replicaz: 2")
		_, stderr, err := run(t, "apply", dir, "--kubeconfig", kubeconfig)
		if exitStatus(err) != exitFailure || !strings.Contains(err.Error(), "tandem.yaml") || !strings.Contains(err.Error(), "replicaz") {
			t.Fatalf("apply of a bad descriptor: exit %d, %v; want exit 1 naming tandem.yaml and replicaz", exitStatus(err), err)
		}
		if strings.Contains(stderr, "Applying") {
			t.Errorf("apply started although the repository does not render:\n%s", stderr)
		}
		requireRecords(t, statusJSON(t, 0, "--kubeconfig", kubeconfig), remoteRevision, nil)
	})

	step(t, "a copy of a member in another namespace is left alone and named", func(t *testing.T) {
		kube := kubeClient(t, fleet, "plant-a")
		var members corev1.ConfigMapList
		if err := kube.List(t.Context(), &members, client.InNamespace("factory-edge"), client.HasLabels{applyset.PartOfLabel}); err != nil || len(members.Items) == 0 {
			t.Fatalf("list the edge tier's ConfigMaps: %v (%d found)", err, len(members.Items))
		}
		copied := members.Items[0].DeepCopy()
		copied.Namespace, copied.ResourceVersion, copied.UID = "default", "", ""
		if err := kube.Create(t.Context(), copied); err != nil {
			t.Fatal(err)
		}
		results := applyJSON(t, 0, smartFactory, "--kubeconfig", kubeconfig, "--instance", factoryInstance, "--cluster", "plant-a")
		want := "ConfigMap/default/" + copied.Name
		found := false
		for _, r := range results {
			for _, ig := range r.Ignored {
				found = found || ig.Subject == want && strings.Contains(ig.Reason, "namespace default")
			}
		}
		if !found {
			t.Errorf("no result names %s as left alone: %+v", want, results)
		}
		if err := kube.Get(t.Context(), client.ObjectKeyFromObject(copied), copied); err != nil {
			t.Errorf("the copy is gone: %v", err)
		}
	})

	// The last step: plant-c stays unreachable.
	step(t, "an unreachable cluster fails alone", func(t *testing.T) {
		if err := fleet.Cluster("plant-c").StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		results := applyJSON(t, exitFailure, smartFactory, "--kubeconfig", kubeconfig, "--instance", factoryInstance)
		requireTargets(t, results, smartFactoryTargets)
		for _, r := range results {
			want := reconciler.PhaseReady
			if r.Cluster == "plant-c" {
				want = reconciler.PhaseUnreachable
			}
			if r.Phase != string(want) {
				t.Errorf("%s/%s/%s: %s (%s), want %s", r.Cluster, r.Solution, r.Tier, r.Phase, r.Message, want)
			}
		}
		requireRecords(t, statusJSON(t, exitFailure, "--kubeconfig", kubeconfig), dirRevision, []string{"plant-c"})
	})
}

// step runs a subtest and stops the test when it fails, since the next
// steps start from where it leaves the clusters.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

func TestApplyRefusesConflictingFlags(t *testing.T) {
	tests := [][]string{
		{"apply", smartFactory, "-o", "yaml"},
		{"apply", smartFactory, "--repo", "https://git.example.com/config.git"},
		{"apply", "--repo", "https://git.example.com/config.git", "--revision", "HEAD~1"},
		{"apply", "--repo", "https://git.example.com/config.git", "--ref", "refs/remotes/origin/main"},
		{"apply", smartFactory, "--ref", "main"},
		{"apply", smartFactory, "--timeout", "0s"},
		{"apply", "a", "b"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			if _, _, err := run(t, args...); exitStatus(err) != exitUsage {
				t.Errorf("exit %d (%v), want %d", exitStatus(err), err, exitUsage)
			}
		})
	}
}

func TestApplyNamesTheClustersOfTheRepositoryForAnUnknownCluster(t *testing.T) {
	_, stderr, err := run(t, "apply", smartFactory, "--cluster", "plant-x", "--kubeconfig", filepath.Join(t.TempDir(), "none"))
	if exitStatus(err) != exitFailure || !strings.Contains(err.Error(), "cloud, plant-a, plant-b, plant-c") {
		t.Fatalf("exit %d, %v; want exit 1 naming the fixture's clusters", exitStatus(err), err)
	}
	if strings.Contains(stderr, "Applying") {
		t.Errorf("apply started:\n%s", stderr)
	}
}

func TestDirRevisionNamesTheContentRendered(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(smartFactory)); err != nil {
		t.Fatal(err)
	}
	revision := func() string {
		t.Helper()
		_, rev, err := (&applyOptions{}).render(t.Context(), []string{dir})
		if err != nil {
			t.Fatal(err)
		}
		return rev.String()
	}
	first := revision()
	if !strings.HasPrefix(first, "dir:"+dir+"@sha256:") {
		t.Errorf("revision %s, want dir:%s@sha256:…", first, dir)
	}
	if again := revision(); again != first {
		t.Errorf("the same content has revisions %s and %s", first, again)
	}
	editFile(t, filepath.Join(dir, "tandem.yaml"), "scale: 3", "scale: 4")
	if edited := revision(); edited == first {
		t.Errorf("an edit kept revision %s", first)
	}
}

// applyJSON runs "tandem apply -o json" with args, expects exit code want,
// and returns the results it printed.
func applyJSON(t *testing.T, want int, args ...string) []applyResultJSON {
	t.Helper()
	stdout, stderr, err := run(t, append([]string{"apply", "-o", "json", "--timeout", "2m"}, args...)...)
	if exitStatus(err) != want {
		t.Fatalf("apply: exit %d (%v), want %d\n%s", exitStatus(err), err, want, stderr)
	}
	var results []applyResultJSON
	if err := json.Unmarshal([]byte(stdout), &results); err != nil {
		t.Fatalf("decode apply output: %v\n%s", err, stdout)
	}
	return results
}

func requireTargets(t *testing.T, results []applyResultJSON, want []string) {
	t.Helper()
	var got []string
	for _, r := range results {
		got = append(got, r.Cluster+"/"+r.Solution+"/"+r.Tier)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("results for %v, want %v", got, want)
	}
}

// requireRecords checks that status lists every target of the fixture Ready
// at revision, but those on the clusters unreachable: one Unreachable row
// each.
func requireRecords(t *testing.T, report statusReport, revision string, unreachable []string) {
	t.Helper()
	var got, want []string
	for _, r := range report.Targets {
		if slices.Contains(unreachable, r.Cluster) {
			got = append(got, r.Cluster+" "+r.Phase)
			continue
		}
		got = append(got, r.Cluster+"/"+r.Solution+"/"+r.Tier+" "+r.Phase+" "+r.Revision)
	}
	for _, target := range smartFactoryTargets {
		cluster, _, _ := strings.Cut(target, "/")
		if !slices.Contains(unreachable, cluster) {
			want = append(want, target+" Ready "+revision)
		} else if !slices.Contains(want, cluster+" Unreachable") {
			want = append(want, cluster+" Unreachable")
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("status:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// fixtureRepository returns a Git repository with two commits on its branch
// master: the fixture in subdir, then the fixture with scale 5. It returns
// the commits, oldest first.
func fixtureRepository(t *testing.T, subdir string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, subdir), os.DirFS(smartFactory)); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	commit := func(msg string) string {
		t.Helper()
		if err := wt.AddGlob("."); err != nil {
			t.Fatal(err)
		}
		sig := &object.Signature{Name: "Ada Author", Email: "ada@example.com", When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		hash, err := wt.Commit(msg, &git.CommitOptions{Author: sig})
		if err != nil {
			t.Fatal(err)
		}
		return hash.String()
	}
	first := commit("Smart factory with three plants")
	editFile(t, filepath.Join(dir, subdir, "tandem.yaml"), "scale: 3", "scale: 5")
	return dir, []string{first, commit("Scale out")}
}

// exitStatus is the exit status of a run that returned err.
func exitStatus(err error) int {
	if err == nil {
		return exitOK
	}
	return exitCode(err)
}

// hasLine reports whether a line of out starts with the words of prefix,
// whatever the spaces aligning them.
func hasLine(out, prefix string) bool {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(strings.Join(strings.Fields(line), " "), prefix) {
			return true
		}
	}
	return false
}

func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s has no %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func kubeClient(t *testing.T, fleet *testbed.Fleet, name string) client.Client {
	t.Helper()
	c, err := client.New(fleet.Cluster(name).RESTConfig(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
