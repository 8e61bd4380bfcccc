package agent

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/sources"
)

// solution is a config repository with a tier for the hub's own cluster
// and one for the pull-mode site plant-a.
var solution = map[string]string{
	"tandem.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata: {name: factory}
spec:
  scale: 2
  tiers:
  - name: cloud
    path: tiers/cloud
    targets: {clusters: [hub]}
  - name: edge
    path: tiers/edge
    targets: {clusters: [plant-a]}
    replicas:
    - {workload: inference, perScale: 1}
`,
	"tiers/cloud/kustomization.yaml": "resources: [ingest.yaml]\n",
	"tiers/cloud/ingest.yaml":        deployment("ingest", "ingest:1"),
	"tiers/edge/kustomization.yaml":  "resources: [inference.yaml]\n",
	"tiers/edge/inference.yaml":      deployment("inference", "inference:1"),
}

func deployment(name, image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: factory}
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
      containers: [{name: ` + name + `, image: "` + image + `"}]
`
}

// configRepo is a bare config repository, the remote hub and agent both
// follow, and a clone in which a test commits as a person would.
type configRepo struct {
	t          *testing.T
	bare, work string
}

func newConfigRepo(t *testing.T) *configRepo {
	t.Helper()
	root := t.TempDir()
	r := &configRepo{t: t, bare: filepath.Join(root, "config.git"), work: filepath.Join(root, "work")}
	r.git(root, "init", "--quiet", "--bare", "--initial-branch=main", r.bare)
	r.git(root, "clone", "--quiet", r.bare, r.work)
	return r
}

func (r *configRepo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files into the clone and commits them; pushed, to the
// remote's main too. It returns the commit.
func (r *configRepo) commit(message string, files map[string]string, push bool) string {
	r.t.Helper()
	for name, content := range files {
		path := filepath.Join(r.work, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git(r.work, "add", "--all")
	r.git(r.work, "commit", "--quiet", "-m", message)
	if push {
		r.git(r.work, "push", "--quiet", "origin", "HEAD:main")
	}
	return r.git(r.work, "rev-parse", "HEAD")
}

// follow opens a mirror of the remote's main in a cache directory of its
// own, as the hub and each agent keep theirs.
func (r *configRepo) follow() *sources.Repository {
	r.t.Helper()
	spec := sources.Spec{URL: "file://" + r.bare, Interval: time.Hour}
	repo, _, err := sources.Follow(r.t.Context(), spec, "main", sources.Options{CacheDir: r.t.TempDir(), Logger: discard})
	if err != nil {
		r.t.Fatalf("follow main of %s: %v", r.bare, err)
	}
	r.t.Cleanup(func() { repo.Close() })
	return repo
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// revisionOf names a commit of main as the hub names revisions.
func revisionOf(commit string) string {
	return sources.Revision{Ref: "refs/heads/main", Commit: commit}.String()
}

// hubRelease builds plant-a's release of commit as the hub does: the
// target its render of the commit has for the site's cluster, and that
// target's digest under instance. It returns the target too.
func hubRelease(t *testing.T, hub *sources.Repository, commit, instance string) (Release, reconciler.Target) {
	t.Helper()
	revision := revisionOf(commit)
	fsys, err := hub.FS(commit)
	if err != nil {
		t.Fatal(err)
	}
	res, err := renderer.Render(t.Context(), fsys, renderer.Options{})
	if err != nil {
		t.Fatalf("render %s: %v", revision, err)
	}
	for _, target := range reconciler.TargetsFor(res, revision) {
		if target.Cluster != "plant-a" {
			continue
		}
		rel := Release{Site: "plant-a", Cluster: target.Cluster, Instance: instance, Tiers: []ReleasedTier{}, AllowEmpty: target.AllowEmpty}
		for _, ts := range target.Tiers {
			rel.Tiers = append(rel.Tiers, ReleasedTier{Solution: ts.Solution, Tier: ts.Tier, Revision: ts.Revision})
		}
		if rel.Digest, err = reconciler.Digest(target, instance); err != nil {
			t.Fatal(err)
		}
		return rel, target
	}
	t.Fatalf("revision %s renders nothing for cluster plant-a", revision)
	return Release{}, reconciler.Target{}
}

// recordingApplier records the targets it is given.
type recordingApplier struct{ calls [][]reconciler.Target }

func (r *recordingApplier) Run(ctx context.Context, _ chan<- reconciler.Result) error {
	<-ctx.Done()
	return nil
}

func (r *recordingApplier) SetTargets(targets []reconciler.Target) {
	r.calls = append(r.calls, targets)
}

func newTestAgent(repo Repository, instance string) (*Agent, *recordingApplier) {
	applier := &recordingApplier{}
	return New(Config{Site: "plant-a", Repo: repo, Applier: applier, Instance: instance, Logger: discard}), applier
}

func TestTakeAppliesTheTargetTheHubReleased(t *testing.T) {
	tests := []struct {
		name string
		// later commits after the agent's mirror fetched, so that taking
		// the release needs a fetch.
		later bool
	}{
		{name: "commit the mirror has"},
		{name: "commit pushed after the mirror fetched", later: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := newConfigRepo(t)
			commit := config.commit("Add factory", solution, true)
			mirror := config.follow()
			if tt.later {
				commit = config.commit("Run inference 2", map[string]string{
					"tiers/edge/inference.yaml": deployment("inference", "inference:2"),
				}, true)
			}
			rel, want := hubRelease(t, config.follow(), commit, "tandem")
			a, applier := newTestAgent(mirror, "tandem")

			if err := a.take(t.Context(), rel); err != nil {
				t.Fatalf("take the hub's release: %v", err)
			}
			if len(applier.calls) != 1 || !reflect.DeepEqual(applier.calls[0], []reconciler.Target{want}) {
				t.Fatalf("applier given %+v, want once the hub's target %+v", applier.calls, want)
			}
			if tiers := want.Tiers; len(tiers) != 1 || tiers[0].Tier != "edge" || len(tiers[0].Objects) != 1 {
				t.Errorf("hub's target for plant-a has tiers %+v, want the edge tier and its Deployment", tiers)
			}
			if a.current.Digest != rel.Digest {
				t.Errorf("agent's current release has digest %q, want the one taken, %q", a.current.Digest, rel.Digest)
			}
		})
	}
}

func TestTakeRefusesAReleaseItDoesNotRenderAlike(t *testing.T) {
	config := newConfigRepo(t)
	commit := config.commit("Add factory", solution, true)
	unpushed := config.commit("Run inference 2", map[string]string{
		"tiers/edge/inference.yaml": deployment("inference", "inference:2"),
	}, false)
	hubRel, _ := hubRelease(t, config.follow(), commit, "tandem")

	tests := []struct {
		name     string
		instance string // the agent's
		release  func(Release) Release
		want     []string
	}{
		{
			name:     "release of another instance",
			instance: "plant-tandem",
			release:  func(r Release) Release { return r },
			want:     []string{`"plant-tandem"`, `"tandem"`, "--instance tandem"},
		},
		{
			name:     "digest rendered otherwise",
			instance: "tandem",
			release: func(r Release) Release {
				r.Digest = "sha256:0000"
				return r
			},
			want: []string{"sha256:0000", "same tandem version"},
		},
		{
			name:     "commit the remote does not have",
			instance: "tandem",
			release: func(r Release) Release {
				r.Tiers = []ReleasedTier{{Solution: "factory", Tier: "edge", Revision: revisionOf(unpushed)}}
				return r
			},
			want: []string{"commit " + unpushed, "refs/heads/main", "file://" + config.bare},
		},
		{
			name:     "tier the revision does not render",
			instance: "tandem",
			release: func(r Release) Release {
				r.Tiers = append(r.Tiers, ReleasedTier{Solution: "factory", Tier: "gateway", Revision: revisionOf(commit)})
				return r
			},
			want: []string{"no tier gateway of solution factory", "cluster plant-a", revisionOf(commit)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, applier := newTestAgent(config.follow(), tt.instance)
			err := a.take(t.Context(), tt.release(hubRel))
			if err == nil {
				t.Fatal("release taken, want it refused")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
			if len(applier.calls) != 0 || a.current.Released() {
				t.Errorf("refused release applied: applier given %+v, current %+v", applier.calls, a.current)
			}
		})
	}
}
