package renderer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/tandem-gitops/tandem/fixtures"
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

func TestRenderFailsOnceItsTimeBudgetIsSpent(t *testing.T) {
	repo, err := fixtures.SmartFactoryWithSites(1000)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Render(context.Background(), repo, Options{Timeout: time.Millisecond})
	want := "exceeded the render time budget of 1ms "
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Render error = %v; want %q", err, want)
	}
	if res != nil {
		t.Errorf("Render returned a result with its error")
	}
}

// TestRenderStopsAtTheNextSiteOnceItsTimeBudgetIsSpent renders a solution
// whose time budget is spent before its first place, as if the builds
// before it took it all: kustomize cannot be stopped, so the render stops
// at the next place, the cloud cluster, and names it.
func TestRenderStopsAtTheNextSiteOnceItsTimeBudgetIsSpent(t *testing.T) {
	repo := repoWith(nil)
	cfg, err := Load(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	ctx, spend := context.WithCancelCause(context.Background())
	spend(errTimeBudget)
	opts := Options{Timeout: 2 * time.Minute}
	_, err = newRun(newStatMemo(repo), cfg, nil).renderSolution(ctx, cfg.Solutions[0], cfg.Sites, opts, newOutput())
	want := "exceeded the render time budget of 2m0s at cluster cloud"
	if err == nil || err.Error() != want {
		t.Fatalf("renderSolution error = %v; want %q", err, want)
	}
}

func TestRenderCancelledIsNotOverItsTimeBudget(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Render(ctx, repoWith(nil), Options{Timeout: time.Minute})
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "budget") {
		t.Fatalf("Render error = %v; want context.Canceled, not a budget", err)
	}
}

// TestRenderRefusesOutputOverItsBudget renders testRepo (one object on the
// cloud cluster, one on each of sites a and b) under budgets it passes.
func TestRenderRefusesOutputOverItsBudget(t *testing.T) {
	tests := []struct {
		name                 string
		maxObjects, maxBytes int64
		want                 string
	}{
		{"objects", 2, MaxRenderedBytes, "render tier edge for site b: the rendered output passes 2 objects, the budget for one revision"},
		{"bytes", MaxRenderedObjects, 100, "render tier cloud for cluster cloud: the rendered output passes 100 bytes, the budget for one revision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := render(context.Background(), repoWith(nil), Options{}, &output{maxObjects: tt.maxObjects, maxBytes: tt.maxBytes}, nil)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("render error = %v; want %q", err, tt.want)
			}
			if res != nil {
				t.Errorf("render returned a result with its error")
			}
		})
	}
}

func TestValueSizeCountsKeysAndScalars(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  int64
	}{
		{"string", "abc", 3},
		{"number", int64(3), 8},
		{"map", map[string]any{"ab": "cde", "f": true}, 2 + 3 + 1 + 8},
		{"list", []any{"a", map[string]any{"b": "c"}}, 1 + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := valueSize(tt.value); got != tt.want {
				t.Errorf("valueSize = %d; want %d", got, tt.want)
			}
		})
	}
}

// BenchmarkRenderOverOutputBudget measures the memory a render over its
// output budget takes, refused once a tenth of the smart-factory's 1,000
// sites are rendered, beside the whole render within the budget.
func BenchmarkRenderOverOutputBudget(b *testing.B) {
	repo, err := fixtures.SmartFactoryWithSites(1000)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	res, err := Render(ctx, repo, Options{})
	if err != nil {
		b.Fatal(err)
	}
	objects := 0
	for _, t := range res.Targets {
		objects += len(t.Objects)
	}
	b.Run("refused", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := render(ctx, repo, Options{}, &output{maxObjects: int64(objects / 10), maxBytes: MaxRenderedBytes}, nil); err == nil {
				b.Fatal("the render passed its budget")
			}
		}
	})
	b.Run("within", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Render(ctx, repo, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
