package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func TestServeRefusesShardsItCannotRun(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shards", "0"}, "--shards must be at least 1"},
		{[]string{"--shards", "-3"}, "--shards must be at least 1"},
		{[]string{"--shards", "3", "--leader-elect"}, "--shards and --leader-elect exclude each other"},
		{[]string{"--shards", "3", "--shard-observe-interval", "0s"}, "--shard-observe-interval must be positive"},
	} {
		args := append([]string{"serve", "--repo", "file:///nonexistent/config.git", "--listen", "127.0.0.1:0",
			"--cache-dir", t.TempDir()}, tc.args...)
		_, _, err := run(t, args...)
		if got := exitCode(err); got != exitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("tandem %q = %v (exit %d); want a usage error: %s", args, err, got, tc.want)
		}
	}
}

// TestShardsPatchRunsThreeReplicasWithShards builds deploy/ with
// shards-patch.yaml added, as its comment says, and parses the arguments
// with tandem's own flags.
func TestShardsPatchRunsThreeReplicasWithShards(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../deploy")); err != nil {
		t.Fatal(err)
	}
	kustomization, err := os.OpenFile(filepath.Join(dir, "kustomization.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = kustomization.WriteString("patches:\n- path: shards-patch.yaml\n  target: {kind: Deployment, name: tandem}\n")
	if err := errors.Join(err, kustomization.Close()); err != nil {
		t.Fatal(err)
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build deploy/ with shards-patch.yaml: %v", err)
	}
	var deployment map[string]any
	for _, r := range resources.Resources() {
		if r.GetKind() == "Deployment" {
			if deployment, err = r.Map(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if deployment == nil {
		t.Fatal("deploy/sharded has no Deployment")
	}
	spec := deployment["spec"].(map[string]any)
	if replicas := spec["replicas"]; replicas != 3 && replicas != int64(3) && replicas != float64(3) {
		t.Errorf("replicas %v, want 3", replicas)
	}
	var args []string
	for _, a := range spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["args"].([]any) {
		args = append(args, strings.ReplaceAll(a.(string), "$(TANDEM_REPO)", "https://git.example.com/config.git"))
	}
	serve := newServeCommand()
	if err := serve.ParseFlags(args[1:]); err != nil {
		t.Fatalf("tandem serve does not accept the arguments %q: %v", args[1:], err)
	}
	f := serve.Flags()
	if n, _ := f.GetInt("shards"); !f.Changed("shards") || n != 3 || f.Changed("leader-elect") {
		t.Errorf("arguments %q: want --shards=3 and no --leader-elect", args)
	}
}
