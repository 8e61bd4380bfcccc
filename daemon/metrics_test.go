package daemon

import (
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
