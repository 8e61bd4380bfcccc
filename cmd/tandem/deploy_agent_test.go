package main

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestDeployAgentManifestsRunAgentWithValidFlags builds deploy/agent with
// kustomize and parses the Deployment's arguments with the agent's own
// flags, so the manifests cannot drift from the CLI; the Role must let the
// agent store the release of the site the Deployment names.
func TestDeployAgentManifestsRunAgentWithValidFlags(t *testing.T) {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../../deploy/agent")
	if err != nil {
		t.Fatalf("kustomize build deploy/agent: %v", err)
	}
	kinds := map[string]bool{}
	var args, storeNames []string
	for _, r := range resources.Resources() {
		kinds[r.GetKind()] = true
		if r.GetNamespace() != "tandem-system" && !slices.Contains([]string{"Namespace", "ClusterRole", "ClusterRoleBinding"}, r.GetKind()) {
			t.Errorf("%s/%s is in namespace %q, want tandem-system", r.GetKind(), r.GetName(), r.GetNamespace())
		}
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		switch r.GetKind() {
		case "Deployment":
			containers := m["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
			for _, a := range containers[0].(map[string]any)["args"].([]any) {
				args = append(args, strings.ReplaceAll(a.(string), "$(TANDEM_REPO)", "https://git.example.com/config.git"))
			}
		case "Role":
			for _, rule := range m["rules"].([]any) {
				rule := rule.(map[string]any)
				if !slices.Contains(rule["resources"].([]any), any("configmaps")) {
					continue
				}
				for _, name := range rule["resourceNames"].([]any) {
					storeNames = append(storeNames, name.(string))
				}
			}
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret", "Deployment"} {
		if !kinds[k] {
			t.Errorf("deploy/agent has no %s", k)
		}
	}
	if len(args) == 0 || args[0] != "agent" {
		t.Fatalf("the Deployment runs %q, want tandem agent", args)
	}
	cmd := newAgentCommand()
	if err := cmd.ParseFlags(args[1:]); err != nil {
		t.Fatalf("tandem agent does not accept the Deployment's arguments %q: %v", args[1:], err)
	}
	if err := cmd.ValidateRequiredFlags(); err != nil {
		t.Errorf("the Deployment's arguments %q: %v", args[1:], err)
	}
	for _, flag := range []string{"listen", "cache-dir", "token-file"} {
		if !cmd.Flags().Changed(flag) {
			t.Errorf("the Deployment does not set --%s", flag)
		}
	}
	site, err := cmd.Flags().GetString("site")
	if err != nil {
		t.Fatal(err)
	}
	if want := "tandem-agent-" + site; !slices.Equal(storeNames, []string{want}) {
		t.Errorf("the Role grants ConfigMaps %q, want only %s, where the agent of site %s stores its release", storeNames, want, site)
	}
}
