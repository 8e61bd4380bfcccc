package reconciler

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestCountVersionsCountsAvailablePodsPerModelVersion(t *testing.T) {
	pod := func(version string, ready, deleting bool) corev1.Pod {
		p := corev1.Pod{}
		if version != "" {
			p.Annotations = map[string]string{"model.tandem.dev/defect-detector.version": version}
		}
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: status}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		}
		return p
	}
	tests := []struct {
		name string
		pods []corev1.Pod
		want []VersionCount
	}{
		{"no pods", nil, nil},
		{"one version, all available", []corev1.Pod{pod("1.4.0", true, false), pod("1.4.0", true, false)},
			[]VersionCount{{"1.4.0", 2, 2}}},
		{"mid-rollout, the most available first",
			[]corev1.Pod{pod("1.5.0", true, false), pod("1.4.0", true, false), pod("1.4.0", true, false), pod("1.5.0", false, false)},
			[]VersionCount{{"1.4.0", 2, 2}, {"1.5.0", 2, 1}}},
		{"as many available, by version", []corev1.Pod{pod("1.5.0", true, false), pod("1.4.0", true, false)},
			[]VersionCount{{"1.4.0", 1, 1}, {"1.5.0", 1, 1}}},
		{"pods being deleted do not count", []corev1.Pod{pod("1.4.0", true, true), pod("1.5.0", true, false)},
			[]VersionCount{{"1.5.0", 1, 1}}},
		{"pods from before the model have no version", []corev1.Pod{pod("", true, false), pod("1.4.0", false, false)},
			[]VersionCount{{"", 1, 1}, {"1.4.0", 1, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := countVersions("defect-detector", tt.pods); !slices.Equal(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestModelServingReadsAsVersionsOnAvailablePods(t *testing.T) {
	tests := []struct {
		ms   ModelServing
		want string
	}{
		{ModelServing{Model: "defect-detector", Versions: []VersionCount{{"1.4.0", 2, 2}, {"1.5.0", 1, 1}}},
			"defect-detector 1.4.0 on 2/3 available pods, 1.5.0 on 1/3"},
		{ModelServing{Model: "defect-detector", Versions: []VersionCount{{"1.4.0", 3, 3}, {"1.5.0", 1, 0}}},
			"defect-detector 1.4.0 on 3/3 available pods, 1.5.0 on 0/3 (+1 not available)"},
		{ModelServing{Model: "defect-detector"}, "defect-detector on no pods"},
		{ModelServing{Model: "defect-detector", Error: "list the pods: forbidden"}, "defect-detector: list the pods: forbidden"},
	}
	for _, tt := range tests {
		if got := tt.ms.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestServingWorkloadsAreThoseWhosePodTemplateNamesAModelVersion(t *testing.T) {
	plain := deployment("m", "ingest", 1)
	serving := servingDeployment("m", "inference", 1, "1.4.0")
	_ = unstructured.SetNestedField(serving.Object, "s3cr3t", "spec", "template", "metadata", "annotations", "model.tandem.dev/defect-detector.sha256")
	got := servingWorkloads([]*unstructured.Unstructured{namespace("m"), plain, serving})
	if len(got) != 1 || got[0].obj != serving || !slices.Equal(got[0].models, []string{"defect-detector"}) {
		t.Errorf("got %+v, want inference serving defect-detector", got)
	}
}

func TestPassReportsTheModelVersionsAvailablePodsRun(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	r := New(fleetResolver(f, nil), testOptions(t))
	apply := func(rev string, inference *unstructured.Unstructured, healthTimeout time.Duration) Result {
		return onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{{
			Solution: "models", Tier: "edge", Revision: rev, HealthTimeout: healthTimeout,
			Objects: []*unstructured.Unstructured{namespace("models"), deployment("models", "ingest", 1), inference},
		}}}}, nil))
	}
	serves := func(res Result, want ...VersionCount) {
		t.Helper()
		if len(res.Models) != 1 || res.Models[0].Model != "defect-detector" || res.Models[0].Workload != "Deployment/models/inference" {
			t.Fatalf("models %+v, want defect-detector on Deployment/models/inference alone", res.Models)
		}
		if got := res.Models[0].Versions; !slices.Equal(got, want) {
			t.Errorf("versions %+v, want %+v (%s)", got, want, res.Models[0])
		}
	}

	res := apply("rev-1", servingDeployment("models", "inference", 3, "1.4.0"), 0)
	requirePhase(t, res, PhaseReady)
	serves(res, VersionCount{"1.4.0", 3, 3})

	res = apply("rev-2", servingDeployment("models", "inference", 3, "1.5.0"), 0)
	requirePhase(t, res, PhaseReady)
	serves(res, VersionCount{"1.5.0", 3, 3})

	// A version no node can run: the new ReplicaSet's pod never becomes
	// available, the old ReplicaSet's pods serve on, and the failed pass
	// says so.
	stuck := servingDeployment("models", "inference", 3, "1.6.0")
	_ = unstructured.SetNestedStringMap(stuck.Object, map[string]string{"zone": "nowhere"}, "spec", "template", "spec", "nodeSelector")
	res = apply("rev-3", stuck, 5*time.Second)
	requirePhase(t, res, PhaseFailed)
	if len(res.Models) != 1 {
		t.Fatalf("models %+v, want defect-detector's", res.Models)
	}
	for _, v := range res.Models[0].Versions {
		if v.Version == "1.5.0" && (v.Pods != 3 || v.Available != 3) || v.Version != "1.5.0" && v.Available != 0 {
			t.Errorf("versions %+v, want 1.5.0 on 3/3 available pods and no other available (%s)", res.Models[0].Versions, res.Models[0])
		}
	}
}

// servingDeployment is a Deployment serving version of model
// defect-detector, annotated as the renderer annotates it.
func servingDeployment(ns, name string, replicas int64, version string) *unstructured.Unstructured {
	d := deployment(ns, name, replicas)
	_ = unstructured.SetNestedStringMap(d.Object, map[string]string{"model.tandem.dev/defect-detector.version": version},
		"spec", "template", "metadata", "annotations")
	return d
}
