package fieldset

import (
	"slices"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// driftedDeployment is a Deployment tandem applied, to which kubectl added
// a container, an env var and a label, and which Kubernetes annotated and
// gave a status.
const driftedDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: inference
  namespace: edge
  labels: {app: inference, team: vision}
  annotations: {deployment.kubernetes.io/revision: "2"}
  managedFields:
  - manager: tandem
    operation: Apply
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:labels: {f:app: {}}
      f:spec:
        f:replicas: {}
        f:template:
          f:spec:
            f:containers:
              k:{"name":"app"}:
                .: {}
                f:name: {}
                f:image: {}
  - manager: kube-controller-manager
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:annotations: {.: {}, f:deployment.kubernetes.io/revision: {}}}
  - manager: kube-controller-manager
    operation: Update
    subresource: status
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:status: {f:replicas: {}}
  - manager: kubectl-patch
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:labels: {f:team: {}}}
      f:spec:
        f:template:
          f:spec:
            f:containers:
              k:{"name":"app"}:
                f:env:
                  .: {}
                  k:{"name":"DEBUG"}: {.: {}, f:name: {}, f:value: {}}
              k:{"name":"sidecar"}:
                .: {}
                f:name: {}
                f:image: {}
                f:securityContext: {.: {}, f:privileged: {}}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: app
        image: registry.example/inference:1.0
        env: [{name: DEBUG, value: "1"}]
      - name: sidecar
        image: registry.example/sidecar:1.0
        securityContext: {privileged: true}
status: {replicas: 2}
`

const driftDesired = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: inference, namespace: edge, labels: {app: inference}}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - {name: app, image: "registry.example/inference:1.0"}
`

func TestAddedFieldsAreTheOutermostFieldsOtherManagersAdded(t *testing.T) {
	live, desired := decode(t, driftedDeployment), decode(t, driftDesired)
	d, managers := Added(desired, live, "tandem")
	var got []string
	for _, f := range d.Fields {
		got = append(got, f.Manager+" "+f.Path)
	}
	// Not the revision annotation (kube-controller-manager is exempt), not
	// the status (a subresource), not each field of the sidecar.
	want := []string{
		`kubectl-patch .metadata.labels.team`,
		`kubectl-patch .spec.template.spec.containers[name="sidecar"]`,
		`kubectl-patch .spec.template.spec.containers[name="app"].env`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("added fields\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(managers) != 1 || managers[0] != (ssa.FieldManager{Name: "kubectl-patch", ExactMatch: true, OperationType: "Update"}) {
		t.Errorf("cleanup managers %+v, want kubectl-patch's Update entry alone", managers)
	}

	planned := d.Remove(live)
	containers, _, _ := unstructured.NestedSlice(planned.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 || containers[0].(map[string]any)["env"] != nil {
		t.Errorf("planned containers %v, want the app container alone, without env", containers)
	}
	if labels := planned.GetLabels(); labels["team"] != "" || labels["app"] != "inference" {
		t.Errorf("planned labels %v, want app alone", labels)
	}
	if planned.GetAnnotations()["deployment.kubernetes.io/revision"] != "2" {
		t.Errorf("planned annotations %v, want the exempt revision annotation kept", planned.GetAnnotations())
	}
	if _, ok := live.GetLabels()["team"]; !ok {
		t.Error("Remove changed the live object it was given")
	}
}

func TestAddedFieldsLeaveWhatTheRenderSetsAndSomeoneChanged(t *testing.T) {
	live, desired := decode(t, driftedDeployment), decode(t, driftedDeployment)
	// The render sets every field kubectl touched: changed, not added.
	if d, _ := Added(desired, live, "tandem"); len(d.Fields) != 0 {
		t.Errorf("added fields %+v, want none when the render sets them all", d.Fields)
	}
}
