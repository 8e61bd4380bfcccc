package renderer

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzRender renders the test repository with its solution descriptor,
// the edge tier's kustomization and one of that tier's resources replaced
// by the fuzzer's bytes. Whatever they hold, a render must not panic, must
// say what is wrong when it fails, and must not produce more than the
// budgets let a revision's YAML expand to.
func FuzzRender(f *testing.F) {
	kustomization := testRepo["tiers/edge/kustomization.yaml"]
	f.Add([]byte(testRepo["tandem.yaml"]), []byte(kustomization), []byte(testRepo["tiers/edge/till.yaml"]))
	f.Add([]byte(testRepo["tandem.yaml"]), []byte(kustomization), []byte(aliasBomb()))
	f.Add([]byte(testRepo["tandem.yaml"]), []byte(kustomization+"replicas: [{name: till, count: 3}]\n"), []byte(strings.Replace(deployment("till"), "  name: till\n", "  name: till\n  name: till\n", 1)))
	f.Add([]byte(solutionWith("scale: 4", "scale: 1e308")), []byte("resources: [till.yaml]\nnamespace: shop\nnamePrefix: x-\n"), []byte(utf16LE(deployment("till"))))
	f.Add([]byte(solutionWith("tandem.dev/v1alpha1", "tandem.io/v1alpha1")), []byte(kustomization), []byte("a: &a [*a]\n"))
	f.Add([]byte(withPolicy("rules:", "- {name: r, tiers: ['*'], expression: \"object.metadata.name.size() < 20 && 'tier' in site.labels\"}", "baseline: [edge]", "allowedClusters: ['*']")), []byte(kustomization), []byte(testRepo["tiers/edge/till.yaml"]))
	f.Fuzz(func(t *testing.T, descriptor, kustomization, resource []byte) {
		repo := repoWith(nil)
		repo["tandem.yaml"].Data = descriptor
		repo["tiers/edge/kustomization.yaml"].Data = kustomization
		repo["tiers/edge/till.yaml"].Data = resource
		res, err := Render(context.Background(), repo, Options{})
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Render failed with an empty error: %#v", err)
			}
			var verr *ValidationError
			if errors.As(err, &verr) {
				for _, fe := range verr.Errors {
					if fe.File == "" || fe.Err == nil || fe.Err.Error() == "" {
						t.Fatalf("Render failed with a problem that says neither where nor what: %#v", fe)
					}
				}
			}
			return
		}
		var size expansion
		for _, target := range res.Targets {
			for _, o := range target.Objects {
				size = size.add(sizeOf(o.Object))
			}
		}
		if size.over(MaxRevisionNodes, MaxRevisionBytes) {
			t.Fatalf("Render produced %d nodes and %d bytes, over the budget of %d and %d", size.nodes, size.bytes, MaxRevisionNodes, MaxRevisionBytes)
		}
	})
}

// sizeOf counts the values of a decoded object as the budget counts YAML
// nodes: one per value, and the bytes of its keys and strings.
func sizeOf(v any) expansion {
	s := expansion{nodes: 1}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			s = s.add(expansion{1, int64(len(k))}).add(sizeOf(e))
		}
	case []any:
		for _, e := range v {
			s = s.add(sizeOf(e))
		}
	case string:
		s.bytes = int64(len(v))
	}
	return s
}
