package main

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestDeployManifestsRunServeWithValidFlags builds deploy/ with kustomize
// and parses the Deployment's arguments with tandem's own flags, so the
// manifests cannot drift from the CLI.
func TestDeployManifestsRunServeWithValidFlags(t *testing.T) {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../../deploy")
	if err != nil {
		t.Fatalf("kustomize build deploy: %v", err)
	}
	kinds := map[string]bool{}
	var args []string
	for _, r := range resources.Resources() {
		kinds[r.GetKind()] = true
		if r.GetNamespace() != "tandem-system" && r.GetKind() != "Namespace" {
			t.Errorf("%s/%s is in namespace %q, want tandem-system", r.GetKind(), r.GetName(), r.GetNamespace())
		}
		if r.GetKind() == "Deployment" {
			m, err := r.Map()
			if err != nil {
				t.Fatal(err)
			}
			containers := m["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
			for _, a := range containers[0].(map[string]any)["args"].([]any) {
				args = append(args, strings.ReplaceAll(a.(string), "$(TANDEM_REPO)", "https://git.example.com/config.git"))
			}
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"} {
		if !kinds[k] {
			t.Errorf("deploy/ has no %s", k)
		}
	}
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("the Deployment runs %q, want tandem serve", args)
	}
	serve := newServeCommand()
	if err := serve.ParseFlags(args[1:]); err != nil {
		t.Fatalf("tandem serve does not accept the Deployment's arguments %q: %v", args[1:], err)
	}
	for _, flag := range []string{"leader-elect", "cluster-secrets", "webhook-secret-file"} {
		if !serve.Flags().Changed(flag) {
			t.Errorf("the Deployment does not set --%s", flag)
		}
	}
}
