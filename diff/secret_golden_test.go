package diff_test

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/renderer"
)

// secretRevision renders one Secret, and a ConfigMap beside it, on the cloud
// cluster.
func secretRevision(t *testing.T, name, password, token string) diff.Revision {
	secret := fromYAML(t, `{apiVersion: v1, kind: Secret, metadata: {name: registry, namespace: factory-cloud},
  data: {password: `+password+`, user: aW5nZXN0}, stringData: {token: `+token+`}}`)
	settings := fromYAML(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: factory-cloud}, data: {mode: cloud}}`)
	return diff.Revision{Name: name, Result: &renderer.Result{Targets: []renderer.Target{{
		Solution: "smart-factory", Tier: "cloud", Cluster: "cloud",
		Objects: []*unstructured.Unstructured{secret, settings},
	}}}}
}

func TestChangedSecretValueShowsAsAChangedDigestAndNeverInClear(t *testing.T) {
	// "aHVudGVyMg==" and "aHVudGVyMw==" are "hunter2" and "hunter3".
	base := secretRevision(t, "main (1a2b3c4)", "aHVudGVyMg==", "tok-before-9f8e")
	head := secretRevision(t, "rotate (5d6e7f8)", "aHVudGVyMw==", "tok-after-7a6b")
	r, err := diff.Compare(base, head)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Changes) != 1 || r.Changes[0].Kind != "Secret" || r.Changes[0].Action != diff.Changed {
		t.Fatalf("changes %+v, want the Secret changed", r.Changes)
	}
	d := r.Changes[0].Diff
	for _, line := range []string{
		"-  password: '***sha256:f52fbd32'", "+  password: '***sha256:fb8c2e2b'",
		"-  token: '***sha256:", "+  token: '***sha256:",
		"   user: '***sha256:", // unchanged, so context
	} {
		if !strings.Contains(d, line) {
			t.Errorf("diff has no line %q:\n%s", line, d)
		}
	}

	var out bytes.Buffer
	for _, write := range []func() error{
		func() error { return diff.WriteText(&out, r, false) },
		func() error { return diff.WriteMarkdown(&out, r, 0) },
		func() error { return diff.WriteJSON(&out, r) },
	} {
		if err := write(); err != nil {
			t.Fatal(err)
		}
	}
	for _, clear := range []string{"aHVudGVyMg==", "aHVudGVyMw==", "hunter", "aW5nZXN0", "ingest", "tok-before-9f8e", "tok-after-7a6b"} {
		if strings.Contains(out.String(), clear) {
			t.Errorf("output shows the value %q in clear:\n%s", clear, out.String())
		}
	}
	goldenReport(t, "secret-rotated", r)
}
