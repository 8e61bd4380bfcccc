package renderer

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	testDigest = "8c1e5b7d9f3a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e"
	testSHA256 = "3f9a1c0d5e7b2a4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c"
)

// withModels returns testRepo with its solution serving models, given as
// the YAML lines of spec.models, and its edge Deployment till running a
// second container, sidecar.
func withModels(models string, extra ...string) map[string]string {
	return map[string]string{
		"tandem.yaml": testRepo["tandem.yaml"] + strings.Join(extra, "") + "  models:\n" + models,
		"tiers/edge/till.yaml": strings.Replace(deployment("till"), "containers: [{name: app, image: example.com/till:1}]",
			"containers: [{name: app, image: example.com/till:1}, {name: sidecar, image: example.com/sidecar:1}]", 1),
	}
}

// podSpecOf renders repo and returns the pod spec of Deployment till at
// site a, as YAML.
func podSpecOf(t *testing.T, files map[string]string) string {
	t.Helper()
	res, err := Render(context.Background(), repoWith(files), Options{Site: "a"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range res.Targets {
		for _, o := range tg.Objects {
			if o.GetKind() != "Deployment" || o.GetName() != "till" {
				continue
			}
			spec, _, _ := unstructured.NestedMap(o.Object, "spec", "template")
			out, err := yaml.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			return string(out)
		}
	}
	t.Fatal("no Deployment till at site a")
	return ""
}

func TestRenderDeliversEachModelByItsForm(t *testing.T) {
	tests := []struct {
		name   string
		models string
		extra  string
		want   string
	}{
		{"image volume into every container", `  - {name: segmenter, version: "0.9.2", image: "ghcr.io/acme/segmenter@sha256:` + testDigest + `", tier: edge, workload: till}
`, "", `metadata:
  annotations:
    model.tandem.dev/segmenter.image: ghcr.io/acme/segmenter@sha256:` + testDigest + `
    model.tandem.dev/segmenter.version: 0.9.2
  labels:
    app: till
spec:
  containers:
  - env:
    - name: MODEL_SEGMENTER_PATH
      value: /models/segmenter
    - name: MODEL_SEGMENTER_VERSION
      value: 0.9.2
    image: example.com/till:1
    name: app
    volumeMounts:
    - mountPath: /models/segmenter
      name: model-segmenter
      readOnly: true
  - env:
    - name: MODEL_SEGMENTER_PATH
      value: /models/segmenter
    - name: MODEL_SEGMENTER_VERSION
      value: 0.9.2
    image: example.com/sidecar:1
    name: sidecar
    volumeMounts:
    - mountPath: /models/segmenter
      name: model-segmenter
      readOnly: true
  volumes:
  - image:
      pullPolicy: IfNotPresent
      reference: ghcr.io/acme/segmenter@sha256:` + testDigest + `
    name: model-segmenter
`},
		{"tagged image allowed, into named containers at a mount path", `  - {name: seg, version: "1", image: "ghcr.io/acme/seg:1", allowTag: true, tier: edge, workload: till, containers: [sidecar], mountPath: /srv/seg}
`, "", `metadata:
  annotations:
    model.tandem.dev/seg.image: ghcr.io/acme/seg:1
    model.tandem.dev/seg.version: "1"
  labels:
    app: till
spec:
  containers:
  - image: example.com/till:1
    name: app
  - env:
    - name: MODEL_SEG_PATH
      value: /srv/seg
    - name: MODEL_SEG_VERSION
      value: "1"
    image: example.com/sidecar:1
    name: sidecar
    volumeMounts:
    - mountPath: /srv/seg
      name: model-seg
      readOnly: true
  volumes:
  - image:
      pullPolicy: IfNotPresent
      reference: ghcr.io/acme/seg:1
    name: model-seg
`},
		{"uri downloaded by an init container into an emptyDir", `  - {name: defect-detector, version: "1.4.0", uri: "https://models.example/dd/1.4.0/model.onnx", sha256: ` + testSHA256 + `, tier: edge, workload: till, containers: [app]}
`, "  modelFetchImage: registry.example/tandem@sha256:" + testDigest + "\n", `metadata:
  annotations:
    model.tandem.dev/defect-detector.sha256: ` + testSHA256 + `
    model.tandem.dev/defect-detector.uri: https://models.example/dd/1.4.0/model.onnx
    model.tandem.dev/defect-detector.version: 1.4.0
  labels:
    app: till
spec:
  containers:
  - env:
    - name: MODEL_DEFECT_DETECTOR_PATH
      value: /models/defect-detector
    - name: MODEL_DEFECT_DETECTOR_VERSION
      value: 1.4.0
    image: example.com/till:1
    name: app
    volumeMounts:
    - mountPath: /models/defect-detector
      name: model-defect-detector
      readOnly: true
  - image: example.com/sidecar:1
    name: sidecar
  initContainers:
  - args:
    - --uri
    - https://models.example/dd/1.4.0/model.onnx
    - --sha256
    - ` + testSHA256 + `
    - --dest
    - /models/defect-detector
    command:
    - tandem
    - model
    - fetch
    image: registry.example/tandem@sha256:` + testDigest + `
    name: model-fetch-defect-detector
    resources:
      limits:
        memory: 256Mi
      requests:
        cpu: 50m
        memory: 64Mi
    volumeMounts:
    - mountPath: /models/defect-detector
      name: model-defect-detector
  volumes:
  - emptyDir: {}
    name: model-defect-detector
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := podSpecOf(t, withModels(tt.models, tt.extra))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pod template differs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderDeliversAURIModelWithTandemsImageByDefault(t *testing.T) {
	got := podSpecOf(t, withModels(`  - {name: m, version: "1", uri: "https://models.example/m.onnx", sha256: `+testSHA256+`, tier: edge, workload: till}
`))
	if !strings.Contains(got, "image: "+DefaultModelFetchImage+"\n") {
		t.Errorf("init container does not run %s:\n%s", DefaultModelFetchImage, got)
	}
}

func TestRenderRefusesModelsItCannotDeliverSafely(t *testing.T) {
	tests := []struct {
		name, models string
		wants        []string
	}{
		{"tag without digest", `  - {name: m, version: "1", image: ghcr.io/acme/m:1, tier: edge, workload: till}
`, []string{`tandem.yaml:19: spec.models[0].image: "ghcr.io/acme/m:1" has no digest, so each pull may get a different model: pin it as REPO@sha256:DIGEST, or set allowTag: true`}},
		{"digest that is not sha256", `  - {name: m, version: "1", image: "ghcr.io/acme/m@sha512:abc", tier: edge, workload: till}
`, []string{`tandem.yaml:19: spec.models[0].image: "ghcr.io/acme/m@sha512:abc": want a sha256 digest, got sha512:abc`}},
		{"uri without sha256", `  - {name: m, version: "1", uri: "https://models.example/m.onnx", tier: edge, workload: till}
`, []string{`tandem.yaml:19: spec.models[0].sha256: sha256 is required with uri`}},
		{"sha256 that is not 64 hex digits", `  - {name: m, version: "1", uri: "https://models.example/m.onnx", sha256: ABC, tier: edge, workload: till}
`, []string{`tandem.yaml:19: spec.models[0].sha256: want 64 lowercase hex digits`}},
		{"uri that is not http", `  - {name: m, version: "1", uri: "s3://bucket/m.onnx", sha256: ` + testSHA256 + `, tier: edge, workload: till}
`, []string{`tandem.yaml:19: spec.models[0].uri: "s3://bucket/m.onnx": want an http or https URL`}},
		{"uri naming no file", `  - {name: m, version: "1", uri: "https://models.example/m/", sha256: ` + testSHA256 + `, tier: edge, workload: till}
`, []string{`tandem.yaml:19: spec.models[0].uri: "https://models.example/m/": the path must end in the model's file name`}},
		{"both image and uri", `  - {name: m, version: "1", image: "ghcr.io/acme/m@sha256:` + testDigest + `", uri: "https://models.example/m.onnx", tier: edge, workload: till}
`, []string{`tandem.yaml:19: spec.models[0].uri: a model is delivered by image or by uri, not both`}},
		{"neither image nor uri", `  - {name: m, version: "1", tier: edge, workload: till}
`, []string{`tandem.yaml:19: spec.models[0]: a model needs an image (REGISTRY/REPO@sha256:DIGEST) or a uri and its sha256`}},
		{"unknown container", `  - {name: m, version: "1", image: "ghcr.io/acme/m@sha256:` + testDigest + `", tier: edge, workload: till, containers: [app, sidecr]}
`, []string{`tandem.yaml:19: spec.models[0].containers[1]: Deployment till of tier edge has no container named "sidecr" (it has app, sidecar)`}},
		{"relative mount path", `  - {name: m, version: "1", image: "ghcr.io/acme/m@sha256:` + testDigest + `", tier: edge, workload: till, mountPath: models/m}
`, []string{`tandem.yaml:19: spec.models[0].mountPath: "models/m": want an absolute, clean directory path other than /`}},
		{"two models at one mount path", `  - {name: a, version: "1", image: "ghcr.io/acme/a@sha256:` + testDigest + `", tier: edge, workload: till, mountPath: /models}
  - {name: b, version: "1", image: "ghcr.io/acme/b@sha256:` + testDigest + `", tier: edge, workload: till, mountPath: /models}
`, []string{`tandem.yaml:20: spec.models[1]: model b: Deployment till of tiers/edge: container app: already mounts a volume at /models`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRenderErrors(t, repoWith(withModels(tt.models)), tt.wants)
		})
	}
}

func TestModelEnvironmentNamesAreUpperCaseWithUnderscores(t *testing.T) {
	for name, want := range map[string]string{
		"defect-detector": "MODEL_DEFECT_DETECTOR_",
		"yolo-v8":         "MODEL_YOLO_V8_",
		"m":               "MODEL_M_",
	} {
		if got := (&Model{Name: name}).envPrefix(); got != want {
			t.Errorf("envPrefix of %s = %s, want %s", name, got, want)
		}
	}
}
