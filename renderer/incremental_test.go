package renderer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tandem-gitops/tandem/renderer"
)

// changed returns a copy of repo with the file name's content passed
// through edit, failing the test when edit changes nothing.
func changed(t testing.TB, repo fstest.MapFS, name string, edit func([]byte) []byte) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	for k, v := range repo {
		out[k] = v
	}
	f, ok := repo[name]
	if !ok {
		t.Fatalf("no file %s", name)
	}
	data := edit(bytes.Clone(f.Data))
	if bytes.Equal(data, f.Data) {
		t.Fatalf("edit of %s changes nothing", name)
	}
	out[name] = &fstest.MapFile{Data: data, Mode: f.Mode}
	return out
}

func replace(old, new string) func([]byte) []byte {
	return func(b []byte) []byte { return bytes.Replace(b, []byte(old), []byte(new), 1) }
}

// sameRender fails t unless got and want, with their errors, are the same
// render: the same targets and objects, warnings and descriptors.
func sameRender(t *testing.T, got *renderer.Result, gotErr error, want *renderer.Result, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("error %v, a fresh render's %v", gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if !reflect.DeepEqual(got.Targets, want.Targets) {
		t.Errorf("targets differ from a fresh render's")
	}
	if !reflect.DeepEqual(got.Warnings, want.Warnings) {
		t.Errorf("warnings %q, a fresh render's %q", got.Warnings, want.Warnings)
	}
	for _, descs := range [][2]any{{got.Sites, want.Sites}, {got.Solutions, want.Solutions}} {
		g, err := json.Marshal(descs[0])
		if err != nil {
			t.Fatal(err)
		}
		w, err := json.Marshal(descs[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g, w) {
			t.Errorf("descriptors %s, a fresh render's %s", g, w)
		}
	}
}

func TestRendererRendersWhatAFreshRenderDoes(t *testing.T) {
	fixture := smartFactory(t, 10)
	withPolicy := changed(t, fixture, "tandem.yaml", func(b []byte) []byte {
		return append(b, "  policy: {baseline: ['*'], allowedRegistries: [ghcr.io, docker.io]}\n"...)
	})
	for _, base := range []fstest.MapFS{fixture, withPolicy} {
		testRendererAfterChanges(t, base)
	}
}

// testRendererAfterChanges renders base and then, with the same Renderer,
// each of a table of changes to it, checking that every render is the
// one a fresh Render gives.
func testRendererAfterChanges(t *testing.T, base fstest.MapFS) {
	const site = "sites/generated/site-0007.yaml"
	overlay := "sites/plant-c/edge/gateway-modbus.yaml"
	tests := []struct {
		name string
		next func(t *testing.T) fstest.MapFS
	}{
		{"nothing changed", func(*testing.T) fstest.MapFS { return base }},
		{"one Site file's weight", func(t *testing.T) fstest.MapFS { return changed(t, base, site, replace("weight: ", "weight: 3")) }},
		{"one Site file's labels", func(t *testing.T) fstest.MapFS { return changed(t, base, site, replace("ring: main", "ring: canary")) }},
		{"one site given an overlay", func(t *testing.T) fstest.MapFS {
			return changed(t, base, site, func(b []byte) []byte { return append(b, "  overlay: sites/plant-c\n"...) })
		}},
		{"one Site file broken", func(t *testing.T) fstest.MapFS { return changed(t, base, site, replace("weight: ", "weight: -")) }},
		{"one Site file added", func(*testing.T) fstest.MapFS {
			out := fstest.MapFS{"sites/generated/site-9999.yaml": &fstest.MapFile{Mode: 0o644, Data: []byte(strings.ReplaceAll(string(base[site].Data), "site-0007", "site-9999"))}}
			for k, v := range base {
				out[k] = v
			}
			return out
		}},
		{"one site overlay's file", func(t *testing.T) fstest.MapFS { return changed(t, base, overlay, replace("modbus-tcp", "modbus-rtu")) }},
		{"the scale", func(t *testing.T) fstest.MapFS { return withScale(t, base, 7) }},
		{"a tier file", func(t *testing.T) fstest.MapFS {
			return changed(t, base, "tiers/edge/protocol-gateway.yaml", replace("protocol: opc-ua", "protocol: opc-ua-pubsub"))
		}},
		{"a site's capacity exceeded", func(t *testing.T) fstest.MapFS {
			return changed(t, base, "sites/plant-c.yaml", replace("cpu: 1300m", "cpu: 100m"))
		}},
		{"an image from a registry the policy does not allow", func(t *testing.T) fstest.MapFS {
			return changed(t, base, "tiers/edge/protocol-gateway.yaml", replace("ghcr.io/", "quay.io/"))
		}},
		{"a tier's kustomization naming a missing file", func(t *testing.T) fstest.MapFS {
			return changed(t, base, "tiers/platform-edge/kustomization.yaml", replace("quota.yaml", "quotas.yaml"))
		}},
		{"a file a tier's kustomization lists removed", func(*testing.T) fstest.MapFS {
			out := fstest.MapFS{}
			for k, v := range base {
				if k != "tiers/platform-edge/quota.yaml" {
					out[k] = v
				}
			}
			return out
		}},
		{"a site overlay for another tier added", func(*testing.T) fstest.MapFS {
			out := fstest.MapFS{
				"sites/plant-c/platform-edge/kustomization.yaml": &fstest.MapFile{Mode: 0o644, Data: []byte("resources: [../../../tiers/platform-edge]\ncommonAnnotations: {plant: c}\n")},
			}
			for k, v := range base {
				out[k] = v
			}
			return out
		}},
		{"a tier's kustomization", func(t *testing.T) fstest.MapFS {
			return changed(t, base, "tiers/platform-edge/kustomization.yaml", func(b []byte) []byte {
				return append(b, "commonAnnotations: {team: platform}\n"...)
			})
		}},
	}
	ctx := context.Background()
	policy := "without policy"
	if bytes.Contains(base["tandem.yaml"].Data, []byte("policy:")) {
		policy = "with policy"
	}
	for _, tt := range tests {
		t.Run(policy+"/"+tt.name, func(t *testing.T) {
			next := tt.next(t)
			var r renderer.Renderer
			if _, err := r.Render(ctx, base, renderer.Options{}); err != nil {
				t.Fatal(err)
			}
			// Forth to the change, back to the base, and forth again, so that
			// every render reuses what the one before left.
			// Each render also runs narrowed to one site, with a Renderer of
			// its own, so that a narrowed render reuses what one narrowed alike left.
			narrowed := renderer.Options{Site: "site-0007"}
			var rn renderer.Renderer
			if _, err := rn.Render(ctx, base, narrowed); err != nil {
				t.Fatal(err)
			}
			type fresh struct {
				res *renderer.Result
				err error
			}
			wants := map[[2]int]fresh{}
			for i, repo := range []fstest.MapFS{next, base, next} {
				for j, opts := range []renderer.Options{{}, narrowed} {
					rr := &r
					if opts.Site != "" {
						rr = &rn
					}
					got, gotErr := rr.Render(ctx, repo, opts)
					want, ok := wants[[2]int{i % 2, j}]
					if !ok {
						want.res, want.err = renderer.Render(ctx, repo, opts)
						wants[[2]int{i % 2, j}] = want
					}
					sameRender(t, got, gotErr, want.res, want.err)
					if t.Failed() {
						t.Fatalf("render %d, options %+v", i+1, opts)
					}
				}
			}
		})
	}
}

func TestRendererReusesTheTargetsAChangeLeavesAlone(t *testing.T) {
	base := smartFactory(t, 40)
	next := changed(t, base, "sites/generated/site-0007.yaml", replace("weight: ", "weight: 3"))
	ctx := context.Background()
	var r renderer.Renderer
	before, err := r.Render(ctx, base, renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	after, err := r.Render(ctx, next, renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Targets) != len(before.Targets) {
		t.Fatalf("%d targets, %d before", len(after.Targets), len(before.Targets))
	}
	for i, tg := range after.Targets {
		reused := len(tg.Objects) > 0 && tg.Objects[0] == before.Targets[i].Objects[0]
		// The site's platform-edge tier has no replica rule: its weight
		// changes nothing there.
		wantReused := tg.Site != "site-0007" || tg.Tier == "platform-edge"
		if reused != wantReused {
			t.Errorf("%s/%s on %s: reused %t, want %t", tg.Solution, tg.Tier, tg.Cluster, reused, wantReused)
		}
	}
}
