package renderer

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestUsagePercentRoundsUp(t *testing.T) {
	tests := []struct {
		demand, capacity string
		want             int64
	}{
		{"0", "8", 0},
		{"1200m", "1600m", 75},
		{"7201m", "8", 91},
		{"8", "8", 100},
		{"9500m", "8", 119},
		{"1Gi", "16Gi", 7},
		{"3", "0", 100},
		{"0", "0", 0},
		{"900Ti", "1Pi", 88},
	}
	for _, tt := range tests {
		u := Usage{Resource: corev1.ResourceCPU, Demand: resource.MustParse(tt.demand), Capacity: resource.MustParse(tt.capacity)}
		if got := u.Percent(); got != tt.want {
			t.Errorf("Percent of %s of %s = %d; want %d", tt.demand, tt.capacity, got, tt.want)
		}
	}
}

// headroomOf prints every site's usage, one string per site, or the error.
func headroomOf(hs []Headroom, err error) []string {
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, h := range hs {
		line := h.Site + ":"
		for _, u := range h.Usage {
			line += " " + u.String()
		}
		if h.Err != nil {
			line += " refused: " + h.Err.Error()
		}
		out = append(out, line)
	}
	return out
}

func TestHeadroomAtAnotherScaleIsWhatTheRenderOfThatScaleHas(t *testing.T) {
	// Site a (weight 2) runs scale × 0.5 × 2 tills, site b (weight 1,
	// no capacity) is not checked.
	repo := capacityRepo("  capacity: {cpu: \"3\", pods: \"20\"}\n", `{requests: {cpu: 500m}}`, nil)
	ctx := context.Background()
	res, err := Render(ctx, repoWith(repo), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := headroomOf(res.Headroom())
	want := []string{"a: cpu 2 of 3 (67%) pods 4 of 20 (20%)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Headroom (-want +got):\n%s", diff)
	}
	for _, scale := range []int{2, 6, 7} {
		at := headroomOf(res.HeadroomAt(res.Solutions[0], float64(scale)))
		scaled := map[string]string{}
		for k, v := range repo {
			scaled[k] = v
		}
		scaled["tandem.yaml"] = strings.Replace(testRepo["tandem.yaml"], "scale: 4", fmt.Sprintf("scale: %d", scale), 1)
		rendered, err := Render(ctx, repoWith(scaled), Options{})
		switch {
		case scale <= 6 && err != nil:
			t.Fatalf("render at scale %d: %v", scale, err)
		case scale <= 6:
			if diff := cmp.Diff(headroomOf(rendered.Headroom()), at); diff != "" {
				t.Errorf("HeadroomAt(%d) differs from the render at that scale (-render +at):\n%s", scale, diff)
			}
		case err == nil:
			t.Fatalf("render at scale %d fits; want it refused", scale)
		default:
			want := "a: cpu 3500m of 3 (117%) pods 7 of 20 (35%) refused: " + err.Error()
			if len(at) != 1 || at[0] != want {
				t.Errorf("HeadroomAt(%d) = %q\nwant %q", scale, at, want)
			}
		}
	}
}
