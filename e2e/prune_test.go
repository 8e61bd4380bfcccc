package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// TestPruneLeavesWhatIsNotProvablyTandems runs "tandem serve" on one
// cluster and puts beside its objects what only looks like them: copies of
// a member carrying its ApplySet label, in namespaces the ApplySet does not
// hold and in its own namespace under another name, survive the prune of
// the original and are logged as left alone; an object made by hand that a
// commit then declares is a conflict, left unchanged, until the object or
// the tier allows its adoption; and a commit writing to tandem-system does
// not render, changing nothing.
func TestPruneLeavesWhatIsNotProvablyTandems(t *testing.T) {
	e := newFleetEnvWith(t, []string{"cloud"}, writeTree(t, factoryRepo), fleetOptions{
		APIServerOnly: true,
		DaemonArgs:    []string{"--log-format", "json"},
	})
	ctx := context.Background()
	kube := e.clients["cloud"]
	cm := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	const converge = time.Minute

	e.startDaemon()
	e.waitConverged(e.head(), converge)

	t.Run("copies of a member survive its prune and are logged as left alone", func(t *testing.T) {
		e.t = t
		if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scratch"}}); err != nil {
			t.Fatal(err)
		}
		original := &corev1.ConfigMap{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: "factory", Name: "thresholds"}, original); err != nil {
			t.Fatal(err)
		}
		if original.Labels[applyset.PartOfLabel] == "" {
			t.Fatalf("ConfigMap factory/thresholds carries no ApplySet label: %v", original.Labels)
		}
		copies := []client.ObjectKey{{Namespace: "kube-system", Name: "thresholds"}, {Namespace: "scratch", Name: "thresholds"}, {Namespace: "factory", Name: "thresholds-copy"}}
		for _, key := range copies {
			// As "kubectl get -o yaml | kubectl create -f -" would copy it:
			// labels and all, without what the server assigns.
			c := original.DeepCopy()
			c.ObjectMeta = metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: c.Labels, Annotations: c.Annotations}
			if err := kube.Create(ctx, c, client.FieldOwner("kubectl-create")); err != nil {
				t.Fatalf("copy to %s: %v", key, err)
			}
		}

		e.edit("tiers/factory/objects.yaml", func(s string) string { return strings.Replace(s, thresholds, "", 1) })
		head := e.commitAndPush("Drop the thresholds")
		e.waitConverged(head, converge)
		if e.exists("cloud", cm, "factory", "thresholds") {
			t.Error("ConfigMap factory/thresholds, which the commit removed, was not pruned")
		}
		for _, key := range copies {
			if !e.exists("cloud", cm, key.Namespace, key.Name) {
				t.Errorf("the copy %s was pruned", key)
			}
		}
		e.eventually(10*time.Second, "the prune and the copies left alone in the log", func() error {
			if _, ok := e.logged("pruned", map[string]string{"object": "ConfigMap/factory/thresholds"}); !ok {
				return errorf("no \"pruned\" line for ConfigMap/factory/thresholds")
			}
			for obj, reason := range map[string]string{
				"ConfigMap/kube-system/thresholds":  "namespace kube-system",
				"ConfigMap/scratch/thresholds":      "namespace scratch",
				"ConfigMap/factory/thresholds-copy": "never applied",
			} {
				rec, ok := e.logged("left alone", map[string]string{"object": obj})
				if !ok {
					return errorf("no \"left alone\" line for %s", obj)
				}
				if r, _ := rec["reason"].(string); !strings.Contains(r, reason) {
					return errorf("%s left alone for reason %q, want one saying %q", obj, r, reason)
				}
			}
			return nil
		})
	})

	t.Run("an object made by hand is a conflict until it allows adoption", func(t *testing.T) {
		e.t = t
		byHand := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "factory", Name: "line-config"},
			Data:       map[string]string{"speed": "10"},
		}
		if err := kube.Create(ctx, byHand, client.FieldOwner("kubectl-create")); err != nil {
			t.Fatal(err)
		}
		settingsBefore := e.configMapData("cloud", "factory", "settings")
		e.edit("tiers/factory/objects.yaml", func(s string) string {
			return strings.Replace(s, "mode: production", "mode: commissioning", 1) + lineConfig
		})
		head := e.commitAndPush("Declare the line config")
		e.eventually(converge, "the tier refused naming the object", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			ts, _ := targetOf(st, "factory", "factory", "cloud")
			if !strings.HasSuffix(ts.DesiredRevision, head) || ts.Phase != "Failed" ||
				!strings.Contains(ts.Message, "ConfigMap/factory/line-config exists and was not created by tandem") {
				return errorf("factory/factory on cloud at %s: %s: %s", ts.DesiredRevision, ts.Phase, ts.Message)
			}
			return nil
		})
		live := &corev1.ConfigMap{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(byHand), live); err != nil {
			t.Fatal(err)
		}
		if live.ResourceVersion != byHand.ResourceVersion || live.Data["speed"] != "10" || live.Labels[applyset.PartOfLabel] != "" {
			t.Errorf("the refused tier changed the object made by hand: resourceVersion %s → %s, data %v, labels %v",
				byHand.ResourceVersion, live.ResourceVersion, live.Data, live.Labels)
		}
		if got := e.configMapData("cloud", "factory", "settings"); got["mode"] != settingsBefore["mode"] {
			t.Errorf("the refused tier applied ConfigMap factory/settings: mode %q → %q", settingsBefore["mode"], got["mode"])
		}

		annotate := []byte(`{"metadata":{"annotations":{"` + reconciler.AdoptAnnotation + `":"true"}}}`)
		if err := kube.Patch(ctx, live, client.RawPatch(types.MergePatchType, annotate), client.FieldOwner("kubectl-annotate")); err != nil {
			t.Fatal(err)
		}
		e.waitAdopted(head, "ConfigMap/factory/line-config", `"speed":"10"`)
		if got := e.configMapData("cloud", "factory", "line-config")["speed"]; got != "12" {
			t.Errorf("the adopted line-config has speed %q, want the rendered 12", got)
		}
		if got := e.configMapData("cloud", "factory", "settings")["mode"]; got != "commissioning" {
			t.Errorf("ConfigMap factory/settings has mode %q after the adoption, want commissioning", got)
		}
	})

	t.Run("a tier with adopt: true takes over an object made by hand", func(t *testing.T) {
		e.t = t
		byHand := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "factory", Name: "shift-plan"},
			Data:       map[string]string{"shifts": "2"},
		}
		if err := kube.Create(ctx, byHand, client.FieldOwner("kubectl-create")); err != nil {
			t.Fatal(err)
		}
		e.edit("tandem.yaml", func(s string) string {
			return strings.Replace(s, "namespace: factory\n", "namespace: factory\n    adopt: true\n", 1)
		})
		e.edit("tiers/factory/objects.yaml", func(s string) string { return s + shiftPlan })
		head := e.commitAndPush("Let the factory tier adopt the shift plan")
		e.waitAdopted(head, "ConfigMap/factory/shift-plan", `"shifts":"2"`)
		if got := e.configMapData("cloud", "factory", "shift-plan")["shifts"]; got != "3" {
			t.Errorf("the adopted shift-plan has shifts %q, want the rendered 3", got)
		}
	})

	t.Run("a commit writing to tandem-system does not render and changes nothing", func(t *testing.T) {
		e.t = t
		good := e.head()
		e.waitDriftPass(30 * time.Second) // the adoption's message gives way to a plain one
		parentBefore := e.parent("cloud", "factory", "factory")
		e.edit("tiers/factory/objects.yaml", func(s string) string {
			return strings.Replace(s, "mode: commissioning", "mode: production", 1) + intruder
		})
		bad := e.commitAndPush("Put a ConfigMap in tandem-system")
		e.eventually(30*time.Second, "the render error naming the object", func() error {
			st, err := e.status()
			if err != nil {
				return err
			}
			if !strings.HasSuffix(st.Render.Revision, bad) || !strings.Contains(st.Render.Error, "ConfigMap/intruder in namespace tandem-system") {
				return errorf("render status %+v", st.Render)
			}
			return nil
		})
		// A pass after the refused render shows what the daemon applies now.
		e.waitDriftPass(30 * time.Second)
		st, err := e.status()
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range st.Targets {
			if !strings.HasSuffix(ts.DesiredRevision, good) || !strings.HasSuffix(ts.AppliedRevision, good) {
				t.Errorf("%s/%s on %s moved to %s / %s after a commit that does not render", ts.Solution, ts.Tier, ts.Cluster, ts.DesiredRevision, ts.AppliedRevision)
			}
		}
		if e.exists("cloud", cm, applyset.Namespace, "intruder") {
			t.Errorf("ConfigMap %s/intruder was applied", applyset.Namespace)
		}
		if got := e.configMapData("cloud", "factory", "settings")["mode"]; got != "commissioning" {
			t.Errorf("ConfigMap factory/settings has mode %q, want commissioning from the last good revision", got)
		}
		if after := e.parent("cloud", "factory", "factory"); after.ResourceVersion != parentBefore.ResourceVersion {
			t.Errorf("the ApplySet parent was rewritten after a commit that does not render: %v", after.Annotations)
		}
	})
}

// waitAdopted waits until the tier is Ready at commit saying it adopted
// subject, and checks the log recorded the object's previous state.
func (e *fleetEnv) waitAdopted(commit, subject, previously string) {
	e.t.Helper()
	e.eventually(time.Minute, "the adoption of "+subject+" in the status", func() error {
		st, err := e.status()
		if err != nil {
			return err
		}
		ts, _ := targetOf(st, "factory", "factory", "cloud")
		if ts.Phase != "Ready" || !strings.HasSuffix(ts.AppliedRevision, commit) || !strings.Contains(ts.Message, "adopted "+subject) {
			return errorf("factory/factory on cloud at %s: %s: %s", ts.AppliedRevision, ts.Phase, ts.Message)
		}
		return nil
	})
	rec, ok := e.logged("adopting", map[string]string{"object": subject})
	if !ok {
		e.t.Fatalf("no \"adopting\" line for %s in the log", subject)
	}
	if prev, _ := rec["previous"].(string); !strings.Contains(prev, previously) {
		e.t.Errorf("adopting %s logged the previous state %s, want it to hold %s", subject, prev, previously)
	}
	live := &corev1.ConfigMap{}
	name, _ := strings.CutPrefix(subject, "ConfigMap/factory/")
	if err := e.clients["cloud"].Get(context.Background(), client.ObjectKey{Namespace: "factory", Name: name}, live); err != nil {
		e.t.Fatal(err)
	}
	if live.Labels[applyset.PartOfLabel] != applyset.ID(applyset.ParentName("factory", "factory")) {
		e.t.Errorf("the adopted %s is not a member of the tier's ApplySet: labels %v", subject, live.Labels)
	}
}

// logged returns the latest record of the daemon's JSON log with message
// msg and the given string attributes.
func (e *fleetEnv) logged(msg string, attrs map[string]string) (map[string]any, bool) {
	e.t.Helper()
	data, err := os.ReadFile(e.logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	var found map[string]any
	lines := bufio.NewScanner(bytes.NewReader(data))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var rec map[string]any
		if json.Unmarshal(lines.Bytes(), &rec) != nil || rec["msg"] != msg {
			continue
		}
		matches := true
		for k, v := range attrs {
			if rec[k] != v {
				matches = false
			}
		}
		if matches {
			found = rec
		}
	}
	return found, found != nil
}

var factoryRepo = map[string]string{
	"tandem.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata:
  name: factory
spec:
  scale: 1
  tiers:
  - name: factory
    path: tiers/factory
    namespace: factory
    targets: {clusters: [cloud]}
`,
	"tiers/factory/kustomization.yaml": kustomization,
	"tiers/factory/objects.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: factory
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: production
` + thresholds,
}

const thresholds = `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: thresholds
data:
  vibration: "0.8"
`

const lineConfig = `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: line-config
data:
  speed: "12"
`

const shiftPlan = `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: shift-plan
data:
  shifts: "3"
`

const intruder = `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: intruder
  namespace: tandem-system
data:
  note: not tandem's to hold
`
