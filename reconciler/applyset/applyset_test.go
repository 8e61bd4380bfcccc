package applyset

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	if got := ID(ParentName("smart-factory", "edge")); got != tests[0].want {
		t.Errorf("ID = %s, want %s", got, tests[0].want)
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
		if got := OwnedByTandem(tt.tooling); got != tt.want {
			t.Errorf("OwnedByTandem(%q) = %t, want %t", tt.tooling, got, tt.want)
		}
	}
	if got := Tooling("v1.2.3"); got != "tandem/v1.2.3" {
		t.Errorf("Tooling = %s", got)
	}
}

func TestRecordRoundTripsThroughItsParent(t *testing.T) {
	rec := Record{
		Solution: "shop", Tier: "edge", ID: ID(ParentName("shop", "edge")),
		Tooling: Tooling("0.1.0"), Owner: "tandem", Revision: "rev-1",
		Phase: "Ready", Message: "applied", Since: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		GroupKinds: []schema.GroupKind{{Kind: "ConfigMap"}, {Group: "apps", Kind: "Deployment"}},
		Namespaces: []string{"edge"},
	}
	obj := rec.Object()
	if obj.GetName() != "shop.edge" || obj.GetNamespace() != Namespace || obj.GetKind() != "Secret" {
		t.Fatalf("parent %s/%s/%s", obj.GetKind(), obj.GetNamespace(), obj.GetName())
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: obj.GetLabels(), Annotations: obj.GetAnnotations()}}
	if got := Read(secret); !reflect.DeepEqual(got, rec) {
		t.Errorf("Read(Object()) = %+v, want %+v", got, rec)
	}
	if a := (Record{Tooling: "tandem/v0.1.0"}).Annotations(); len(a) != 2 || a[OwnerAnnotation] != "" {
		t.Errorf("annotations of an empty record %v, want tooling and owner alone", a)
	}
}
