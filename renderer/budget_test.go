package renderer

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// aliasBomb is a ConfigMap of about 300 bytes whose nine levels of nine
// aliases expand to 9^9 (387,420,489) strings.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for c := 'b'; c <= 'i'; c++ {
		p := string(c - 1)
		fmt.Fprintf(&b, "  %c: &%c [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", c, c, p, p, p, p, p, p, p, p, p)
	}
	return b.String()
}

func bombRepo() map[string]string {
	return map[string]string{
		"tiers/edge/kustomization.yaml": "namespace: shop\nresources: [till.yaml, bomb.yaml]\n",
		"tiers/edge/bomb.yaml":          aliasBomb(),
	}
}

func TestRenderRefusesAYAMLAliasBombBeforeKustomizeParsesIt(t *testing.T) {
	_, err := Render(context.Background(), repoWith(bombRepo()), Options{})
	want := "tiers/edge/bomb.yaml: YAML expands to more than 1000000 nodes"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Render error = %v; want %q", err, want)
	}
}

func TestRenderRefusesAnAliasBombInlineInAKustomization(t *testing.T) {
	inline := "  " + strings.ReplaceAll(strings.Replace(aliasBomb(), "apiVersion: v1\nkind: ConfigMap", "apiVersion: builtin\nkind: PatchTransformer", 1), "\n", "\n  ")
	_, err := Render(context.Background(), repoWith(map[string]string{
		"tiers/edge/kustomization.yaml": "namespace: shop\nresources: [till.yaml]\ntransformers:\n- |\n" + inline + "\n",
	}), Options{})
	want := "tiers/edge/kustomization.yaml: transformers[0]: YAML expands to more than 1000000 nodes"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Render error = %v; want %q", err, want)
	}
}

func TestBudgetCountsAliasesByWhatTheyRepeat(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		nodes int64
	}{
		{"scalar", "a\n", 2},
		{"mapping", "a: b\n", 4},
		{"alias repeats its anchor", "a: &x [1, 2]\nb: *x\n", 1 + 1 + 1 + 3 + 1 + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b budget
			docs, err := b.check("f.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var got expansion
			for _, d := range docs {
				got = got.add(expand(d, map[*yaml.Node]expansion{}))
			}
			if got.nodes != tt.nodes {
				t.Errorf("nodes = %d; want %d", got.nodes, tt.nodes)
			}
		})
	}
}

// BenchmarkRenderAliasBomb measures what refusing an alias bomb costs,
// beside rendering the same tier with an ordinary ConfigMap instead.
func BenchmarkRenderAliasBomb(b *testing.B) {
	ctx := context.Background()
	b.Run("bomb", func(b *testing.B) {
		repo := repoWith(bombRepo())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Render(ctx, repo, Options{}); err == nil {
				b.Fatal("the bomb rendered")
			}
		}
	})
	b.Run("ordinary", func(b *testing.B) {
		files := bombRepo()
		files["tiers/edge/bomb.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  a: lol\n"
		repo := repoWith(files)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Render(ctx, repo, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
