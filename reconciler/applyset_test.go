package reconciler

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestApplySetIDMatchesKubectl(t *testing.T) {
	tests := []struct {
		name, namespace string
		gk              schema.GroupKind
		want            string
	}{
		// base64url(sha256("<name>.<namespace>.<kind>.<group>")), unpadded.
		{"smart-factory.edge", Namespace, schema.GroupKind{Kind: "Secret"}, "applyset-phUwFb9AyNb6hq9IBgiLIb97Uqvpjgn9vTO8bdPr6Gw-v1"},
		{"example", "default", schema.GroupKind{Kind: "ConfigMap"}, "applyset-OWmdUBxh4h3xzK2nxpNKbpSGFZDLvliwFdJ4clKnUqE-v1"},
	}
	for _, tt := range tests {
		if got := applySetID(tt.name, tt.namespace, tt.gk); got != tt.want {
			t.Errorf("applySetID(%s, %s, %s) = %s, want %s", tt.name, tt.namespace, tt.gk, got, tt.want)
		}
	}
	if got := ApplySetID(ParentName("smart-factory", "edge")); got != tests[0].want {
		t.Errorf("ApplySetID = %s, want %s", got, tests[0].want)
	}
}

func TestGroupKindsAnnotation(t *testing.T) {
	gks := []schema.GroupKind{
		{Group: "apps", Kind: "Deployment"}, {Kind: "Namespace"}, {Kind: "ConfigMap"},
		{Group: "apps", Kind: "Deployment"}, {Group: "cert-manager.io", Kind: "Certificate"},
	}
	const want = "Certificate.cert-manager.io,ConfigMap,Deployment.apps,Namespace"
	got := formatGroupKinds(gks)
	if got != want {
		t.Fatalf("formatGroupKinds = %q, want %q", got, want)
	}
	if again := formatGroupKinds(parseGroupKinds(got)); again != want {
		t.Errorf("round trip = %q, want %q", again, want)
	}
	if parsed := parseGroupKinds(""); len(parsed) != 0 {
		t.Errorf("parseGroupKinds(\"\") = %v, want none", parsed)
	}
}

func TestNamespacesAnnotationLeavesOutParentNamespace(t *testing.T) {
	got := formatNamespaces([]string{"edge", "", Namespace, "apps", "edge"})
	if got != "apps,edge" {
		t.Errorf("formatNamespaces = %q, want %q", got, "apps,edge")
	}
}

func TestToolingOwnership(t *testing.T) {
	tests := []struct {
		tooling string
		want    bool
	}{
		{"tandem/v0.1.0", true},
		{"tandem/v2", true},
		{"", true},
		{"kubectl/v1.37", false},
		{"tandemx/v1", false},
	}
	for _, tt := range tests {
		if got := ownedByTandem(tt.tooling); got != tt.want {
			t.Errorf("ownedByTandem(%q) = %t, want %t", tt.tooling, got, tt.want)
		}
	}
	if got := tooling("v1.2.3"); got != "tandem/v1.2.3" {
		t.Errorf("tooling = %s", got)
	}
}
