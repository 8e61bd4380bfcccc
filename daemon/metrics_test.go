package daemon

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/fieldset"
)

func TestDriftShowsInStatusAndMetrics(t *testing.T) {
	rev := revision("5555555555555555555555555555555555555555")
	res := result("plant-a", rev, reconciler.PhaseReady)
	res.Drift = []fieldset.Drift{
		{Subject: "Deployment/factory-edge/inference", Corrected: true,
			Fields: []fieldset.AddedField{{Path: `.spec.template.spec.containers[name="debug"]`, Manager: "kubectl-patch"}}},
		{Subject: "ConfigMap/factory-edge/settings", Corrected: true,
			Fields: []fieldset.AddedField{{Path: ".data.extra", Manager: "kubectl-edit"}}},
	}
	res.Corrected = 2

	s := newStatusStore()
	s.setTargets(targetsAt(rev, "plant-a"))
	s.observe(res)
	if st := s.snapshot().Targets[0]; len(st.Drift) != 2 || st.Drift[0].Fields[0].Manager != "kubectl-patch" || st.Corrected != 2 {
		t.Errorf("target status %+v, want both drifted objects and 2 corrected", st)
	}

	m := newMetrics(fakeSource{})
	m.observe(res)
	if v := testutil.ToFloat64(m.drifted.WithLabelValues("plant-a", "smart-factory", "edge", "true")); v != 2 {
		t.Errorf("tandem_drifted_objects{corrected=true} = %v, want 2", v)
	}
	if v := testutil.ToFloat64(m.corrected.WithLabelValues("plant-a")); v != 2 {
		t.Errorf("tandem_objects_corrected_total = %v, want 2", v)
	}
	// The next pass finds none: the gauge says so.
	clean := result("plant-a", rev, reconciler.PhaseReady)
	clean.Finished = time.Now()
	m.observe(clean)
	if v := testutil.ToFloat64(m.drifted.WithLabelValues("plant-a", "smart-factory", "edge", "true")); v != 0 {
		t.Errorf("tandem_drifted_objects after a clean pass = %v, want 0", v)
	}
}

func TestModelVersionsShowInStatusAndMetrics(t *testing.T) {
	rev := revision("6666666666666666666666666666666666666666")
	midRollout := result("plant-a", rev, reconciler.PhaseReady)
	midRollout.Models = []reconciler.ModelServing{{Model: "defect-detector", Workload: "Deployment/factory-edge/inference",
		Versions: []reconciler.VersionCount{{Version: "1.4.0", Pods: 2, Available: 2}, {Version: "1.5.0", Pods: 2, Available: 1}}}}

	s := newStatusStore()
	s.setTargets(targetsAt(rev, "plant-a"))
	s.observe(midRollout)
	// A progress report of the next pass has read no pods: the last
	// reading stays.
	progress := result("plant-a", rev, reconciler.PhaseProgressing)
	progress.Finished = time.Time{}
	s.observe(progress)
	body, err := json.Marshal(s.snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var served struct {
		Targets []struct {
			Models []struct {
				Model, Workload string
				Versions        []struct {
					Version         string
					Pods, Available int
				}
			}
		}
	}
	if err := json.Unmarshal(body, &served); err != nil {
		t.Fatal(err)
	}
	if len(served.Targets) != 1 || len(served.Targets[0].Models) != 1 {
		t.Fatalf("status %s, want targets[0].models with defect-detector", body)
	}
	if m := served.Targets[0].Models[0]; m.Model != "defect-detector" || m.Workload != "Deployment/factory-edge/inference" ||
		len(m.Versions) != 2 || m.Versions[1].Version != "1.5.0" || m.Versions[1].Pods != 2 || m.Versions[1].Available != 1 {
		t.Errorf("targets[0].models[0] %+v, want 1.4.0 on 2/2 and 1.5.0 on 1 of 2 pods", m)
	}

	m := newMetrics(fakeSource{})
	m.observe(midRollout)
	serving := func(version string) float64 {
		return testutil.ToFloat64(m.modelPods.WithLabelValues("smart-factory", "plant-a", "defect-detector", version))
	}
	if v1, v2 := serving("1.4.0"), serving("1.5.0"); v1 != 2 || v2 != 1 {
		t.Errorf("tandem_model_serving_pods = %v for 1.4.0, %v for 1.5.0; want 2 and 1", v1, v2)
	}
	// The rollout done, 1.4.0 has no pods left: its series goes.
	done := result("plant-a", rev, reconciler.PhaseReady)
	done.Models = []reconciler.ModelServing{{Model: "defect-detector", Workload: "Deployment/factory-edge/inference",
		Versions: []reconciler.VersionCount{{Version: "1.5.0", Pods: 3, Available: 3}}}}
	m.observe(done)
	if n := testutil.CollectAndCount(m.modelPods); n != 1 || serving("1.5.0") != 3 {
		t.Errorf("%d tandem_model_serving_pods series, 1.5.0 on %v; want 1.5.0 alone on 3", n, serving("1.5.0"))
	}
	m.forget(done.Key)
	if n := testutil.CollectAndCount(m.modelPods); n != 0 {
		t.Errorf("%d tandem_model_serving_pods series after the target is forgotten, want none", n)
	}
}
