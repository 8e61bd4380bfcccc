package renderer_test

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"
	"testing/fstest"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tandem-gitops/tandem/renderer"
	"github.com/tandem-gitops/tandem/renderer/scaling"
)

// BenchmarkRender1000Sites renders the smart-factory solution with 1,000
// generated edge sites (plus its three plants), first as Render does it,
// building each tier once and deriving every site from a copy, then the
// naive way: one kustomize build per site and tier, with the replicas and
// labels written into a kustomization of its own.
func BenchmarkRender1000Sites(b *testing.B) {
	repo := withoutCapacity(smartFactory(b, 1000))
	ctx := context.Background()
	b.Run("tandem", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := renderer.Render(ctx, repo, renderer.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("naive", func(b *testing.B) {
		res := render(b, repo)
		mem := filesys.MakeFsInMemory()
		err := fs.WalkDir(repo, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(repo, name)
			if err != nil {
				return err
			}
			return mem.WriteFile("/"+name, data)
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			naiveRender(b, mem, res)
		}
	})
}

// BenchmarkRender1000SitesWithCapacity renders what BenchmarkRender1000Sites
// does with a spec.capacity on every site, so that the two tell what the
// capacity check costs: every site's demand summed and compared, and the
// fixture's ResourceQuota checked against it.
func BenchmarkRender1000SitesWithCapacity(b *testing.B) {
	repo := withCapacity(withoutCapacity(smartFactory(b, 1000)), `{cpu: "16", memory: 32Gi, pods: "110"}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := renderer.Render(ctx, repo, renderer.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRender1000SitesWithBaseline renders what BenchmarkRender1000Sites
// does with the baseline policy on every tier, so that the two tell what
// evaluating its rules on every object of every site costs. The fixture's
// images come from allowed registries and every container asks for what it
// uses, so the render passes.
func BenchmarkRender1000SitesWithBaseline(b *testing.B) {
	repo := withoutCapacity(smartFactory(b, 1000))
	f := repo["tandem.yaml"]
	repo["tandem.yaml"] = &fstest.MapFile{Data: append(append([]byte(nil), f.Data...), "  policy: {baseline: ['*'], allowedRegistries: [ghcr.io, docker.io]}\n"...), Mode: f.Mode}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := renderer.Render(ctx, repo, renderer.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// withCapacity gives every Site file of repo, each ending in its spec,
// the capacity given in YAML flow style.
func withCapacity(repo fstest.MapFS, capacity string) fstest.MapFS {
	for name, f := range repo {
		if strings.HasPrefix(name, "sites/") && path.Dir(name) != "sites/plant-c/edge" && strings.HasSuffix(name, ".yaml") {
			repo[name] = &fstest.MapFile{Data: append(append([]byte(nil), f.Data...), "  capacity: "+capacity+"\n"...), Mode: f.Mode}
		}
	}
	return repo
}

// naiveRender builds every site's tiers with one krusty run each.
func naiveRender(b *testing.B, mem filesys.FileSystem, res *renderer.Result) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	sol := res.Solutions[0]
	model, err := sol.Scaling(sol.Spec.Scale)
	if err != nil {
		b.Fatal(err)
	}
	for _, site := range res.Sites {
		for _, tier := range sol.Spec.Tiers {
			if !tier.Selects(site) {
				continue
			}
			base := "../../../" + tier.Path
			if site.Spec.Overlay != "" && mem.Exists(path.Join("/", site.Spec.Overlay, tier.Name)) {
				base = path.Join("../../..", site.Spec.Overlay, tier.Name)
			}
			kust := fmt.Sprintf("resources: [%s]\nlabels:\n- pairs: {%s: %s, %s: %s, %s: %s}\nreplicas:\n",
				base, renderer.LabelSolution, sol.Name, renderer.LabelTier, tier.Name, renderer.LabelSite, site.Name)
			for _, r := range tier.Replicas {
				n, _ := model.Replicas(scaling.Ref{Tier: tier.Name, Workload: r.Workload}, scaling.Site{Name: site.Name, Labels: site.Labels, Weight: site.Spec.Weight})
				kust += fmt.Sprintf("- {name: %s, count: %d}\n", r.Workload, n)
			}
			dir := path.Join("/naive", site.Name, tier.Name)
			if err := mem.WriteFile(dir+"/kustomization.yaml", []byte(kust)); err != nil {
				b.Fatal(err)
			}
			if _, err := k.Run(mem, dir); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRender10000Sites renders the smart-factory solution with 10,000
// generated edge sites, the fleet size whose render must stay within
// seconds.
func BenchmarkRender10000Sites(b *testing.B) {
	repo := withoutCapacity(smartFactory(b, 10000))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := renderer.Render(ctx, repo, renderer.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRerenderAfterOneSiteChange renders the smart-factory solution
// with 1,000 generated sites, then, with the same Renderer, each revision
// after one change: a Site file's weight, or a file of the site overlay
// that a tenth of the sites share. Each loop renders the change and its
// revert, so every render follows a render of the other revision.
func BenchmarkRerenderAfterOneSiteChange(b *testing.B) {
	base := withoutCapacity(smartFactory(b, 1000))
	for _, bc := range []struct {
		name, file, old, new string
	}{
		{"site-file", "sites/generated/site-0500.yaml", "weight: ", "weight: 3"},
		{"overlay-file", "sites/plant-c/edge/gateway-modbus.yaml", "modbus-tcp", "modbus-rtu"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			next := changed(b, base, bc.file, replace(bc.old, bc.new))
			ctx := context.Background()
			var r renderer.Renderer
			if _, err := r.Render(ctx, base, renderer.Options{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, repo := range []fstest.MapFS{next, base} {
					if _, err := r.Render(ctx, repo, renderer.Options{}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(2*b.N), "ms/render")
		})
	}
}
