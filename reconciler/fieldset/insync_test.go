package fieldset

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// liveDeployment is a Deployment as the server returns it after tandem
// applied desiredDeployment: defaults filled in, a status, and a field set
// per manager.
const liveDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: inference
  namespace: edge
  labels: {app: inference, team: vision}
  finalizers: [example.com/keep]
  managedFields:
  - manager: tandem
    operation: Apply
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:labels: {f:app: {}}
        f:finalizers: {v:"example.com/keep": {}}
      f:spec:
        f:replicas: {}
        f:selector: {}
        f:template:
          f:metadata: {f:labels: {f:app: {}}}
          f:spec:
            f:containers:
              k:{"name":"app"}:
                .: {}
                f:name: {}
                f:image: {}
                f:args: {}
                f:ports:
                  k:{"containerPort":8080,"protocol":"TCP"}:
                    .: {}
                    f:containerPort: {}
              k:{"name":"sidecar"}:
                .: {}
                f:name: {}
                f:image: {}
  - manager: kubectl-label
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:labels: {f:team: {}}}
spec:
  replicas: 2
  progressDeadlineSeconds: 600
  selector: {matchLabels: {app: inference}}
  template:
    metadata: {labels: {app: inference}}
    spec:
      restartPolicy: Always
      containers:
      - name: app
        image: registry.example/inference:1.0
        args: [--listen, ":8080"]
        imagePullPolicy: IfNotPresent
        ports: [{containerPort: 8080, protocol: TCP}]
      - name: sidecar
        image: registry.example/sidecar:1.0
status: {replicas: 2}
`

const desiredDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: inference
  namespace: edge
  labels: {app: inference}
  finalizers: [example.com/keep]
spec:
  replicas: 2
  selector: {matchLabels: {app: inference}}
  template:
    metadata: {labels: {app: inference}, creationTimestamp: null}
    spec:
      containers:
      - name: app
        image: registry.example/inference:1.0
        args: [--listen, ":8080"]
        ports: [{containerPort: 8080}]
      - name: sidecar
        image: registry.example/sidecar:1.0
`

func TestInSync(t *testing.T) {
	tests := []struct {
		name    string
		desired func(d *unstructured.Unstructured)
		live    func(l *unstructured.Unstructured)
		manager string
		want    bool
	}{
		{name: "as applied", want: true},
		{name: "fields of other managers and defaults are not compared", live: func(l *unstructured.Unstructured) {
			l.SetLabels(map[string]string{"app": "inference", "team": "other"})
			_ = unstructured.SetNestedField(l.Object, int64(300), "spec", "progressDeadlineSeconds")
		}, want: true},
		{name: "integers read as floats", desired: func(d *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(d.Object, float64(2), "spec", "replicas")
		}, want: true},
		{name: "owned value changed", live: func(l *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(l.Object, int64(5), "spec", "replicas")
		}},
		{name: "desired value changed", desired: func(d *unstructured.Unstructured) {
			setContainer(d, 0, "image", "registry.example/inference:1.1")
		}},
		{name: "atomic list changed", desired: func(d *unstructured.Unstructured) {
			setContainer(d, 0, "args", []any{"--listen", ":9090"})
		}},
		{name: "field removed from desired", desired: func(d *unstructured.Unstructured) {
			unstructured.RemoveNestedField(d.Object, "spec", "replicas")
		}},
		{name: "field added to desired", desired: func(d *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(d.Object, int64(10), "spec", "revisionHistoryLimit")
		}},
		{name: "list item removed from desired", desired: func(d *unstructured.Unstructured) {
			cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
			_ = unstructured.SetNestedSlice(d.Object, cs[:1], "spec", "template", "spec", "containers")
		}},
		{name: "list items reordered", desired: func(d *unstructured.Unstructured) {
			cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
			_ = unstructured.SetNestedSlice(d.Object, []any{cs[1], cs[0]}, "spec", "template", "spec", "containers")
		}},
		{name: "set value changed", desired: func(d *unstructured.Unstructured) {
			d.SetFinalizers([]string{"example.com/other"})
		}},
		{name: "object deleted and recreated by someone else", live: func(l *unstructured.Unstructured) {
			l.SetManagedFields(l.GetManagedFields()[1:])
		}},
		{name: "applied at another version", desired: func(d *unstructured.Unstructured) {
			d.SetAPIVersion("apps/v2")
		}},
		{name: "another field manager", manager: "flux"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired, live := decode(t, desiredDeployment), decode(t, liveDeployment)
			if tt.desired != nil {
				tt.desired(desired)
			}
			if tt.live != nil {
				tt.live(live)
			}
			manager := tt.manager
			if manager == "" {
				manager = "tandem"
			}
			if got := InSync(desired, live, manager); got != tt.want {
				t.Errorf("InSync = %t, want %t", got, tt.want)
			}
		})
	}
}

func setContainer(d *unstructured.Unstructured, i int, field string, value any) {
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	cs[i].(map[string]any)[field] = value
	_ = unstructured.SetNestedSlice(d.Object, cs, "spec", "template", "spec", "containers")
}

// decode reads a YAML object; managed fields written as YAML maps are
// turned into the FieldsV1 JSON the server returns.
func decode(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	mfs, _, _ := unstructured.NestedSlice(u.Object, "metadata", "managedFields")
	var entries []metav1.ManagedFieldsEntry
	for _, m := range mfs {
		m := m.(map[string]any)
		raw, err := yaml.Marshal(m["fieldsV1"])
		if err != nil {
			t.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, metav1.ManagedFieldsEntry{
			Manager:    m["manager"].(string),
			Operation:  metav1.ManagedFieldsOperationType(m["operation"].(string)),
			APIVersion: m["apiVersion"].(string),
			FieldsType: "FieldsV1",
			FieldsV1:   &metav1.FieldsV1{Raw: js},
		})
	}
	u.SetManagedFields(entries)
	return u
}
