package renderer

import (
	"context"
	"reflect"
	"testing"
	"testing/fstest"
)

// FuzzRendererAfterAChange renders the test repository with a Renderer,
// then the repository with the fuzzer's solution descriptor, edge tier
// kustomization and resource, then the first again: each render must be
// the one a fresh Render gives, targets, warnings and errors alike.
func FuzzRendererAfterAChange(f *testing.F) {
	kustomization := testRepo["tiers/edge/kustomization.yaml"]
	f.Add([]byte(testRepo["tandem.yaml"]), []byte(kustomization), []byte(testRepo["tiers/edge/till.yaml"]))
	f.Add([]byte(solutionWith("scale: 4", "scale: 7")), []byte(kustomization), []byte(testRepo["tiers/edge/till.yaml"]))
	f.Add([]byte(testRepo["tandem.yaml"]), []byte(kustomization+"commonAnnotations: {a: b}\n"), []byte(deployment("till")))
	f.Add([]byte(testRepo["tandem.yaml"]), []byte(kustomization), []byte(aliasBomb()))
	f.Fuzz(func(t *testing.T, descriptor, kustomization, resource []byte) {
		base := repoWith(nil)
		next := repoWith(nil)
		next["tandem.yaml"].Data = descriptor
		next["tiers/edge/kustomization.yaml"].Data = kustomization
		next["tiers/edge/till.yaml"].Data = resource
		ctx := context.Background()
		var r Renderer
		for i, fsys := range []fstest.MapFS{base, next, base} {
			got, gotErr := r.Render(ctx, fsys, Options{})
			want, wantErr := Render(ctx, fsys, Options{})
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("render %d: error %v, a fresh render's %v", i+1, gotErr, wantErr)
			}
			if wantErr == nil && (!reflect.DeepEqual(got.Targets, want.Targets) || !reflect.DeepEqual(got.Warnings, want.Warnings)) {
				t.Fatalf("render %d differs from a fresh render", i+1)
			}
		}
	})
}
