package renderer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRenderRefusesEveryKustomizeFieldThatNamesAURL(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("key=value\n"))
	}))
	defer srv.Close()
	url := srv.URL + "/secret.txt"
	const kust = "tiers/edge/kustomization.yaml"
	head := "namespace: shop\nresources: [till.yaml]\n"
	tests := []struct {
		name, file, field string
		files             map[string]string
	}{
		{"patches path", kust, "patches[0].path", map[string]string{kust: head + "patches:\n- path: " + url + "\n"}},
		{"patchesStrategicMerge", kust, "patchesStrategicMerge[0]", map[string]string{kust: head + "patchesStrategicMerge:\n- " + url + "\n"}},
		{"patchesJson6902 path", kust, "patchesJson6902[0].path", map[string]string{kust: head + "patchesJson6902:\n- target: {kind: Deployment, name: till}\n  path: " + url + "\n"}},
		{"configMapGenerator files", kust, "configMapGenerator[0].files[0]", map[string]string{kust: head + "configMapGenerator:\n- name: fetched\n  files: [" + url + "]\n"}},
		{"configMapGenerator files with a key", kust, "configMapGenerator[0].files[0]", map[string]string{kust: head + "configMapGenerator:\n- name: fetched\n  files: [secret=" + url + "]\n"}},
		{"configMapGenerator envs", kust, "configMapGenerator[0].envs[0]", map[string]string{kust: head + "configMapGenerator:\n- name: fetched\n  envs: [" + url + "]\n"}},
		{"configMapGenerator env", kust, "configMapGenerator[0].env", map[string]string{kust: head + "configMapGenerator:\n- name: fetched\n  env: " + url + "\n"}},
		{"secretGenerator files", kust, "secretGenerator[0].files[0]", map[string]string{kust: head + "secretGenerator:\n- name: fetched\n  files: [" + url + "]\n"}},
		{"secretGenerator envs", kust, "secretGenerator[0].envs[0]", map[string]string{kust: head + "secretGenerator:\n- name: fetched\n  envs: [" + url + "]\n"}},
		{"openapi path", kust, "openapi.path", map[string]string{kust: head + "openapi:\n  path: " + url + "\n"}},
		{"crds", kust, "crds[0]", map[string]string{kust: head + "crds: [" + url + "]\n"}},
		{"replacements path", kust, "replacements[0].path", map[string]string{kust: head + "replacements:\n- path: " + url + "\n"}},
		{"configurations", kust, "configurations[0]", map[string]string{kust: head + "configurations: [" + url + "]\n"}},
		{"generators", kust, "generators[0]", map[string]string{kust: head + "generators: [" + url + "]\n"}},
		{"transformers", kust, "transformers[0]", map[string]string{kust: head + "transformers: [" + url + "]\n"}},
		{"validators", kust, "validators[0]", map[string]string{kust: head + "validators: [" + url + "]\n"}},
		{"helmCharts valuesFile", kust, "helmCharts[0].valuesFile", map[string]string{kust: head + "helmCharts:\n- name: c\n  valuesFile: " + url + "\n"}},
		{"helmCharts repo", kust, "helmCharts[0].repo", map[string]string{kust: head + "helmCharts:\n- name: c\n  repo: " + srv.URL + "\n"}},
		{"inline generator", kust, "generators[0]: files[0]", map[string]string{kust: head + "generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata: {name: fetched}\n  files: [" + url + "]\n"}},
		{"transformer configuration file", "tiers/edge/patch.yaml", "path", map[string]string{
			kust:                    head + "transformers: [patch.yaml]\n",
			"tiers/edge/patch.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: " + url + "\n",
		}},
		{"generator configuration in a directory", "tiers/edge/gen/cm.yaml", "files[0]", map[string]string{
			kust:                                head + "generators: [gen]\n",
			"tiers/edge/gen/kustomization.yaml": "resources: [cm.yaml]\n",
			"tiers/edge/gen/cm.yaml":            "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: fetched}\nfiles: [" + url + "]\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(context.Background(), repoWith(tt.files), Options{})
			if err == nil {
				t.Fatal("Render succeeded; want the URL refused")
			}
			for _, want := range []string{tt.file, tt.field, url[:len(srv.URL)], "remote files are not supported"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Render error does not name %q:\n%v", want, err)
				}
			}
			if n := hits.Swap(0); n != 0 {
				t.Errorf("the render made %d HTTP requests; want none", n)
			}
		})
	}
}
