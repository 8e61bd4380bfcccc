package renderer_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/renderer"
)

func render(t testing.TB, fsys fstest.MapFS) *renderer.Result {
	t.Helper()
	res, err := renderer.Render(context.Background(), fsys, renderer.Options{})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return res
}

func smartFactory(t testing.TB, sites int) fstest.MapFS {
	t.Helper()
	repo, err := fixtures.SmartFactoryWithSites(sites)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// withoutCapacity returns repo with no spec.capacity on its Site files,
// for the renders that ask more of the fixture's plants than they have.
func withoutCapacity(repo fstest.MapFS) fstest.MapFS {
	out := fstest.MapFS{}
	capacity := regexp.MustCompile(`(?m)^  capacity: .*\n`)
	for k, v := range repo {
		if strings.HasPrefix(k, "sites/") {
			v = &fstest.MapFile{Data: capacity.ReplaceAll(v.Data, nil), Mode: v.Mode}
		}
		out[k] = v
	}
	return out
}

// withScale returns repo with the smart-factory scale set to scale.
func withScale(t *testing.T, repo fstest.MapFS, scale float64) fstest.MapFS {
	t.Helper()
	f := repo["tandem.yaml"]
	data := regexp.MustCompile(`(?m)^  scale: .*$`).ReplaceAll(f.Data, fmt.Appendf(nil, "  scale: %g", scale))
	out := fstest.MapFS{}
	for k, v := range repo {
		out[k] = v
	}
	out["tandem.yaml"] = &fstest.MapFile{Data: data, Mode: f.Mode}
	return out
}

func replicasOf(t *testing.T, tg renderer.Target, kind, name string) int64 {
	t.Helper()
	for _, o := range tg.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			n, found, err := unstructured.NestedInt64(o.Object, "spec", "replicas")
			if !found || err != nil {
				t.Fatalf("%s/%s on %s has no replicas: %v", kind, name, tg.Cluster, err)
			}
			return n
		}
	}
	t.Fatalf("%s/%s not rendered for %s", kind, name, tg.Cluster)
	return 0
}

func clamp(x float64, lo, hi int64) int64 {
	return min(max(int64(math.Ceil(x)), lo), hi)
}

// TestScaleChangesCloudAndEveryEdgeSiteByTheFormula checks the rendered
// replicas of every site against the smart-factory rules, written out here
// independently of the scaling package:
//
//	ingest      = clamp(ceil(scale × 1), 1, 12)
//	mqtt-broker = clamp(ceil(scale × 0.5), 1, 5)
//	inference   = clamp(ceil(ingest × 0.5 × weight), 1, 6)
//	gateway     = clamp(ceil(inference × 0.5), 1, 3)
func TestScaleChangesCloudAndEveryEdgeSiteByTheFormula(t *testing.T) {
	base := withoutCapacity(smartFactory(t, 8))
	for _, scale := range []float64{0, 1, 3, 7, 40} {
		t.Run(fmt.Sprint("scale ", scale), func(t *testing.T) {
			res := render(t, withScale(t, base, scale))
			weights := map[string]float64{}
			for _, s := range res.Sites {
				weights[s.Name] = s.Spec.Weight
			}
			ingest := clamp(scale*1, 1, 12)
			edgeSites := 0
			for _, tg := range res.Targets {
				switch tg.Tier {
				case "cloud":
					if got := replicasOf(t, tg, "Deployment", "ingest"); got != ingest {
						t.Errorf("ingest = %d, want %d", got, ingest)
					}
					if got, want := replicasOf(t, tg, "StatefulSet", "mqtt-broker"), clamp(scale*0.5, 1, 5); got != want {
						t.Errorf("mqtt-broker = %d, want %d", got, want)
					}
				case "edge":
					edgeSites++
					inference := clamp(float64(ingest)*0.5*weights[tg.Site], 1, 6)
					if got := replicasOf(t, tg, "Deployment", "inference"); got != inference {
						t.Errorf("site %s (weight %g): inference = %d, want %d", tg.Site, weights[tg.Site], got, inference)
					}
					if got, want := replicasOf(t, tg, "Deployment", "protocol-gateway"), clamp(float64(inference)*0.5, 1, 3); got != want {
						t.Errorf("site %s: protocol-gateway = %d, want %d", tg.Site, got, want)
					}
				}
			}
			if edgeSites != len(res.Sites) {
				t.Errorf("rendered the edge tier for %d sites, want all %d", edgeSites, len(res.Sites))
			}
		})
	}
}

func TestRenderIsByteIdenticalAcrossRunsAndFilesystems(t *testing.T) {
	encode := func(res *renderer.Result) []byte {
		var buf bytes.Buffer
		for _, tg := range res.Targets {
			fmt.Fprintf(&buf, "# %s %s %s %s %v\n", tg.Cluster, tg.Solution, tg.Tier, tg.Site, tg.DependsOn)
			for _, o := range tg.Objects {
				data, err := yaml.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				buf.Write(data)
			}
		}
		return buf.Bytes()
	}
	ctx := context.Background()
	first := encode(render(t, smartFactory(t, 0)))
	second := encode(render(t, smartFactory(t, 0)))
	res, err := renderer.Render(ctx, os.DirFS("../fixtures/smart-factory"), renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	onDisk := encode(res)
	if diff := cmp.Diff(string(first), string(second)); diff != "" {
		t.Errorf("two renders differ (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(string(first), string(onDisk)); diff != "" {
		t.Errorf("in-memory and on-disk renders differ (-memory +disk):\n%s", diff)
	}
}

func TestRenderLabelsEveryObjectWithItsSolutionTierAndSite(t *testing.T) {
	res := render(t, smartFactory(t, 0))
	for _, tg := range res.Targets {
		for _, o := range tg.Objects {
			want := map[string]string{renderer.LabelSolution: "smart-factory", renderer.LabelTier: tg.Tier}
			if tg.Site != "" {
				want[renderer.LabelSite] = tg.Site
			}
			for k, v := range want {
				if got := o.GetLabels()[k]; got != v {
					t.Errorf("%s %s/%s on %s: label %s = %q, want %q", tg.Tier, o.GetKind(), o.GetName(), tg.Cluster, k, got, v)
				}
			}
		}
	}
}

func TestRenderAppliesSiteOverlayOnlyToItsSite(t *testing.T) {
	res := render(t, smartFactory(t, 0))
	for _, tg := range res.Targets {
		if tg.Tier != "edge" {
			continue
		}
		want := "opc-ua"
		if tg.Site == "plant-c" {
			want = "modbus-tcp"
		}
		for _, o := range tg.Objects {
			if o.GetKind() != "ConfigMap" || o.GetName() != "protocol-gateway" {
				continue
			}
			if got, _, _ := unstructured.NestedString(o.Object, "data", "protocol"); got != want {
				t.Errorf("site %s: gateway protocol = %q, want %q", tg.Site, got, want)
			}
		}
	}
}

func TestRenderTargetsAndDependencies(t *testing.T) {
	res := render(t, smartFactory(t, 0))
	type target struct {
		Cluster, Tier, Site string
		DependsOn           []string
		Objects             int
	}
	var got []target
	for _, tg := range res.Targets {
		got = append(got, target{tg.Cluster, tg.Tier, tg.Site, tg.DependsOn, len(tg.Objects)})
	}
	want := []target{
		{"cloud", "cloud", "", nil, 13},
		{"plant-a", "edge", "plant-a", []string{"platform-edge"}, 7},
		{"plant-a", "platform-edge", "plant-a", nil, 4},
		{"plant-b", "edge", "plant-b", []string{"platform-edge"}, 7},
		{"plant-b", "platform-edge", "plant-b", nil, 4},
		{"plant-c", "edge", "plant-c", []string{"platform-edge"}, 7},
		{"plant-c", "platform-edge", "plant-c", nil, 4},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}

func TestRenderFiltersByClusterAndSite(t *testing.T) {
	ctx := context.Background()
	repo := smartFactory(t, 0)
	for _, opts := range []renderer.Options{{Cluster: "plant-b"}, {Site: "plant-b"}} {
		res, err := renderer.Render(ctx, repo, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range res.Targets {
			if tg.Cluster != "plant-b" {
				t.Errorf("%+v rendered a target on %s", opts, tg.Cluster)
			}
		}
		if len(res.Targets) != 2 {
			t.Errorf("%+v rendered %d targets, want 2", opts, len(res.Targets))
		}
	}
	for _, opts := range []renderer.Options{{Cluster: "nowhere"}, {Site: "nowhere"}} {
		if _, err := renderer.Render(ctx, repo, opts); err == nil {
			t.Errorf("Render(%+v) succeeded; want an error", opts)
		}
	}
}
