package diff

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// object decodes a YAML manifest.
func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

const inference = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: inference, namespace: factory-edge}
spec:
  replicas: 2
  template:
    metadata:
      annotations:
        model.tandem.dev/defect-detector.version: "1.4.0"
        model.tandem.dev/defect-detector.uri: https://models.example/1.4.0
    spec:
      initContainers:
      - {name: fetch, image: ghcr.io/acme/fetch:1.0}
      containers:
      - {name: inference, image: ghcr.io/acme/inference:2.3.0}
      - {name: exporter, image: ghcr.io/acme/exporter@sha256:aaaa}
`

func TestHighlightsCallOutReplicasImagesAndModels(t *testing.T) {
	tests := []struct {
		name      string
		base      string
		head      string
		want      []Highlight
		wantOther bool
	}{{
		name: "replicas",
		base: inference,
		head: replace(inference, "replicas: 2", "replicas: 5"),
		want: []Highlight{{Field: Replicas, From: "2", To: "5"}},
	}, {
		name: "replicas set where unset",
		base: replace(inference, "  replicas: 2\n", ""),
		head: inference,
		want: []Highlight{{Field: Replicas, From: "", To: "2"}},
	}, {
		name: "image of a container and of an init container",
		base: inference,
		head: replace(replace(inference, "inference:2.3.0", "inference:2.4.0"), "fetch:1.0", "fetch:1.1"),
		want: []Highlight{
			{Field: Image, Name: "fetch", From: "ghcr.io/acme/fetch:1.0", To: "ghcr.io/acme/fetch:1.1"},
			{Field: Image, Name: "inference", From: "ghcr.io/acme/inference:2.3.0", To: "ghcr.io/acme/inference:2.4.0"},
		},
	}, {
		name: "model version with its URI",
		base: inference,
		head: replace(replace(inference, `"1.4.0"`, `"1.5.0"`), "example/1.4.0", "example/1.5.0"),
		want: []Highlight{{Field: Model, Name: "defect-detector", From: "1.4.0", To: "1.5.0"}},
	}, {
		name:      "model URI alone is another change",
		base:      inference,
		head:      replace(inference, "example/1.4.0", "example/1.4.0-fixed"),
		wantOther: true,
	}, {
		name:      "replicas and something else",
		base:      inference,
		head:      replace(replace(inference, "replicas: 2", "replicas: 3"), "namespace: factory-edge}", "namespace: factory-edge, labels: {a: b}}"),
		want:      []Highlight{{Field: Replicas, From: "2", To: "3"}},
		wantOther: true,
	}, {
		name:      "a new container is no image change",
		base:      inference,
		head:      replace(inference, "      - {name: exporter", "      - {name: probe, image: busybox:1}\n      - {name: exporter"),
		wantOther: true,
	}, {
		name:      "a ConfigMap has nothing to highlight",
		base:      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1'}\n",
		head:      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '2'}\n",
		wantOther: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, other := highlights(object(t, tt.base), object(t, tt.head))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("highlights (-want +got):\n%s", d)
			}
			if other != tt.wantOther {
				t.Errorf("other = %t, want %t", other, tt.wantOther)
			}
		})
	}
}

func TestHighlightsLeaveTheObjectsUntouched(t *testing.T) {
	a, b := object(t, inference), object(t, replace(inference, "replicas: 2", "replicas: 5"))
	before := b.DeepCopy()
	highlights(a, b)
	if d := cmp.Diff(before.Object, b.Object); d != "" {
		t.Errorf("highlights changed its input (-before +after):\n%s", d)
	}
}

func TestHighlightString(t *testing.T) {
	tests := []struct {
		h    Highlight
		want string
	}{
		{Highlight{Field: Replicas, From: "3", To: "5"}, "replicas 3 → 5"},
		{Highlight{Field: Replicas, To: "2"}, "replicas none → 2"},
		{Highlight{Field: Image, From: "ghcr.io/a/b:1.0", To: "ghcr.io/a/b:1.1"}, "image ghcr.io/a/b 1.0 → 1.1"},
		{Highlight{Field: Image, From: "localhost:5000/b:1.0", To: "localhost:5000/b:1.1"}, "image localhost:5000/b 1.0 → 1.1"},
		{Highlight{Field: Image, From: "b@sha256:aa", To: "b@sha256:bb"}, "image b sha256:aa → sha256:bb"},
		{Highlight{Field: Image, From: "a:1", To: "b:1"}, "image a:1 → b:1"},
		{Highlight{Field: Image, From: "localhost:5000/b", To: "localhost:5000/b:2"}, "image localhost:5000/b → localhost:5000/b:2"},
		{Highlight{Field: Model, Name: "m", From: "1.4.0", To: "1.5.0"}, "model m 1.4.0 → 1.5.0"},
		{Highlight{Field: Model, Name: "m", From: "1.4.0"}, "model m 1.4.0 → none"},
	}
	for _, tt := range tests {
		if got := tt.h.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.h, got, tt.want)
		}
	}
}
