package renderer

import (
	"io/fs"
	"testing/fstest"
)

// testRepo is a small valid config repository: a cloud tier and an edge
// tier linked by one replica rule, and two sites.
var testRepo = map[string]string{
	"tandem.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata:
  name: shop
spec:
  scale: 4
  tiers:
  - name: cloud
    path: tiers/cloud
    targets: {clusters: [cloud]}
    replicas:
    - {workload: api, perScale: 1, max: 10}
  - name: edge
    path: tiers/edge
    targets: {sites: {matchLabels: {tier: edge}}}
    replicas:
    - {workload: till, linkedTo: cloud/api, ratio: 0.5}
`,
	"sites/a.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Site
metadata:
  name: a
  labels: {tier: edge}
spec:
  weight: 2
`,
	"sites/b.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Site
metadata:
  name: b
  labels: {tier: edge}
`,
	"tiers/cloud/kustomization.yaml": "namespace: shop\nresources: [api.yaml]\n",
	"tiers/cloud/api.yaml":           deployment("api"),
	"tiers/edge/kustomization.yaml":  "namespace: shop\nresources: [till.yaml]\n",
	"tiers/edge/till.yaml":           deployment("till"),
}

func deployment(name string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
      containers: [{name: app, image: example.com/` + name + `:1}]
`
}

// repoWith returns testRepo with files changed: an empty content deletes
// the file.
func repoWith(changes map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range testRepo {
		m[name] = &fstest.MapFile{Data: []byte(data), Mode: 0o644}
	}
	for name, data := range changes {
		if data == "" {
			delete(m, name)
			continue
		}
		m[name] = &fstest.MapFile{Data: []byte(data), Mode: 0o644}
	}
	return m
}

// symlink returns a MapFS entry for a symlink to target.
func symlink(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}
