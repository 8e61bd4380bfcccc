package diff_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"testing/fstest"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/renderer"
)

// A pull request that raises the smart-factory solution's scale from 3 to
// 5: the cloud tier grows, and every plant grows in proportion to its weight.
func ExampleCompare() {
	ctx := context.Background()
	base := fixtures.SmartFactory()
	head := fstest.MapFS{}
	fs.WalkDir(base, ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := fs.ReadFile(base, name)
			head[name] = &fstest.MapFile{Data: data}
		}
		return err
	})
	head["tandem.yaml"].Data = bytes.Replace(head["tandem.yaml"].Data, []byte("scale: 3"), []byte("scale: 5"), 1)

	before, err := renderer.Render(ctx, base, renderer.Options{})
	if err != nil {
		panic(err)
	}
	after, err := renderer.Render(ctx, head, renderer.Options{})
	if err != nil {
		panic(err)
	}
	report, err := diff.Compare(diff.Revision{Name: "main", Result: before}, diff.Revision{Name: "scale-out", Result: after})
	if err != nil {
		panic(err)
	}
	for _, g := range report.Summary {
		for _, e := range g.Effects {
			for _, h := range e.Highlights {
				fmt.Printf("%s %v: %s %s\n", g.Tier, g.Places(), e.Name, h)
			}
		}
	}
	// Output:
	// cloud [cloud]: ingest replicas 3 → 5
	// cloud [cloud]: mqtt-broker replicas 2 → 3
	// edge [plant-a]: inference replicas 2 → 3
	// edge [plant-a]: protocol-gateway replicas 1 → 2
	// edge [plant-b]: inference replicas 3 → 5
	// edge [plant-b]: protocol-gateway replicas 2 → 3
	// edge [plant-c]: inference replicas 1 → 2
}
