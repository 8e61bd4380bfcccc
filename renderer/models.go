package renderer

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/resmap"
)

// DefaultModelFetchImage is the image of the init containers that download
// models given by URI when a solution sets no spec.modelFetchImage: tandem's
// own image, whose entrypoint is tandem and which has it on its PATH.
const DefaultModelFetchImage = "ghcr.io/tandem-gitops/tandem:latest"

// maxModelName keeps model-fetch-<name>, the longest name the renderer
// derives from a model's, a valid container name (a DNS-1123 label).
const maxModelName = validation.DNS1123LabelMaxLength - len("model-fetch-")

var (
	sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// imageRef is an OCI reference: a repository with an optional registry
	// host and port, then an optional tag and an optional digest.
	imageRef = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?/)?` +
		`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
		`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@([a-z0-9]+:[A-Za-z0-9=_-]+))?$`)
)

// validateModels checks each model of s and defaults its mount path.
func (l *loader) validateModels(s *Solution, tiers map[string]int) {
	f, pos := s.File, s.pos
	names := map[string]bool{}
	for i := range s.Spec.Models {
		m := &s.Spec.Models[i]
		field := fmt.Sprintf("spec.models[%d]", i)
		if names[m.Name] {
			l.add(f, pos, field+".name", "duplicate model name %q", m.Name)
		}
		names[m.Name] = true
		for _, msg := range validation.IsDNS1123Label(m.Name) {
			l.add(f, pos, field+".name", "%q: %s", m.Name, msg)
		}
		if len(m.Name) > maxModelName {
			l.add(f, pos, field+".name", "%q is longer than %d characters, too long for its init container model-fetch-%s", m.Name, maxModelName, m.Name)
		}
		for _, req := range []struct{ name, value string }{{"version", m.Version}, {"workload", m.Workload}} {
			if req.value == "" {
				l.add(f, pos, field+"."+req.name, "%s is required", req.name)
			}
		}
		if _, ok := tiers[m.Tier]; !ok {
			l.add(f, pos, field+".tier", "unknown tier %q", m.Tier)
		}
		switch {
		case m.Image != "" && m.URI != "":
			l.add(f, pos, field+".uri", "a model is delivered by image or by uri, not both")
		case m.Image != "":
			l.validateModelImage(s, m, field)
		case m.URI != "":
			l.validateModelURI(s, m, field)
		default:
			l.add(f, pos, field, "a model needs an image (REGISTRY/REPO@sha256:DIGEST) or a uri and its sha256")
		}
		if m.AllowTag && m.Image == "" {
			l.add(f, pos, field+".allowTag", "allowTag is for a model delivered by image")
		}
		l.validateMountPath(s, m, field)
		seen := map[string]bool{}
		for j, c := range m.Containers {
			if seen[c] {
				l.add(f, pos, fmt.Sprintf("%s.containers[%d]", field, j), "container %q is listed twice", c)
			}
			seen[c] = true
		}
	}
	if s.Spec.ModelFetchImage != "" && !imageRef.MatchString(s.Spec.ModelFetchImage) {
		l.add(f, pos, "spec.modelFetchImage", "%q is not an image reference", s.Spec.ModelFetchImage)
	}
}

func (l *loader) validateModelImage(s *Solution, m *Model, field string) {
	sub := imageRef.FindStringSubmatch(m.Image)
	switch {
	case sub == nil:
		l.add(s.File, s.pos, field+".image", "%q is not an image reference (want REGISTRY/REPO@sha256:DIGEST)", m.Image)
	case sub[1] != "" && !strings.HasPrefix(sub[1], "sha256:"):
		l.add(s.File, s.pos, field+".image", "%q: want a sha256 digest, got %s", m.Image, sub[1])
	case sub[1] != "" && !sha256Hex.MatchString(strings.TrimPrefix(sub[1], "sha256:")):
		l.add(s.File, s.pos, field+".image", "%q: a sha256 digest is 64 lowercase hex digits", m.Image)
	case sub[1] == "" && !m.AllowTag:
		l.add(s.File, s.pos, field+".image", "%q has no digest, so each pull may get a different model: pin it as REPO@sha256:DIGEST, or set allowTag: true", m.Image)
	}
	if m.SHA256 != "" {
		l.add(s.File, s.pos, field+".sha256", "sha256 is for a model delivered by uri; an image is pinned by the digest in its reference")
	}
}

func (l *loader) validateModelURI(s *Solution, m *Model, field string) {
	u, err := url.Parse(m.URI)
	switch {
	case err != nil:
		l.add(s.File, s.pos, field+".uri", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		l.add(s.File, s.pos, field+".uri", "%q: want an http or https URL", m.URI)
	case modelFile(u) == "":
		l.add(s.File, s.pos, field+".uri", "%q: the path must end in the model's file name", m.URI)
	}
	switch {
	case m.SHA256 == "":
		l.add(s.File, s.pos, field+".sha256", "sha256 is required with uri, so a download that is not the model is refused")
	case !sha256Hex.MatchString(m.SHA256):
		l.add(s.File, s.pos, field+".sha256", "want 64 lowercase hex digits")
	}
}

func (l *loader) validateMountPath(s *Solution, m *Model, field string) {
	if m.MountPath == "" {
		m.MountPath = "/models/" + m.Name
		return
	}
	if !path.IsAbs(m.MountPath) || path.Clean(m.MountPath) != m.MountPath || m.MountPath == "/" {
		l.add(s.File, s.pos, field+".mountPath", "%q: want an absolute, clean directory path other than /", m.MountPath)
	}
}

// modelFile is the file name a model downloaded from u is written as: the
// last element of its path, or "" when the path names no file.
func modelFile(u *url.URL) string {
	if strings.HasSuffix(u.Path, "/") {
		return ""
	}
	if base := path.Base(u.Path); base != "." && base != "/" && base != ".." {
		return base
	}
	return ""
}

// fetchImage is the image of the init containers that download the
// solution's models.
func (s *Solution) fetchImage() string {
	if s.Spec.ModelFetchImage != "" {
		return s.Spec.ModelFetchImage
	}
	return DefaultModelFetchImage
}

// ModelVolume, ModelFetchContainer and ModelEnvPrefix are the pod volume,
// the init container and the prefix of the serving containers' environment
// variables through which the renderer delivers the model named name.
func ModelVolume(name string) string         { return "model-" + name }
func ModelFetchContainer(name string) string { return "model-fetch-" + name }
func ModelEnvPrefix(name string) string {
	return "MODEL_" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, name) + "_"
}

func (m *Model) volumeName() string        { return ModelVolume(m.Name) }
func (m *Model) initContainerName() string { return ModelFetchContainer(m.Name) }
func (m *Model) envPrefix() string         { return ModelEnvPrefix(m.Name) }

// checkModelContainers reports each container a model of sol served by
// tier names that its workload in base, the tier's build, lacks. It
// reports whether every named container exists.
func (r *run) checkModelContainers(sol *Solution, tier *Tier, base resmap.ResMap) bool {
	ok := true
	for j := range sol.Spec.Models {
		m := &sol.Spec.Models[j]
		if m.Tier != tier.Name || len(m.Containers) == 0 {
			continue
		}
		for _, w := range workloads(base, m.Workload) {
			obj, err := w.Map()
			if err != nil {
				continue // the render reports what kustomize cannot convert
			}
			have := containerNames(obj)
			for k, c := range m.Containers {
				if !slices.Contains(have, c) {
					r.add(sol.File, sol.pos, fmt.Sprintf("spec.models[%d].containers[%d]", j, k),
						"%s %s of tier %s has no container named %q (it has %s)", w.GetKind(), w.GetName(), tier.Name, c, strings.Join(have, ", "))
					ok = false
				}
			}
		}
	}
	return ok
}

// containerNames returns the names of the containers of workload obj.
func containerNames(obj map[string]any) []string {
	var names []string
	cs, _, _ := unstructured.NestedFieldNoCopy(obj, "spec", "template", "spec", "containers")
	list, _ := cs.([]any)
	for _, c := range list {
		if c, ok := c.(map[string]any); ok {
			if n, ok := c["name"].(string); ok {
				names = append(names, n)
			}
		}
	}
	return names
}

// deliverModels adds to the workloads among objs what delivers the models
// of sol that tier serves, reporting what is in the way. It reports whether
// every model was delivered.
func (r *run) deliverModels(sol *Solution, tier *Tier, dir string, objs []*unstructured.Unstructured) bool {
	ok := true
	for j := range sol.Spec.Models {
		m := &sol.Spec.Models[j]
		if m.Tier != tier.Name {
			continue
		}
		for _, o := range objs {
			if o.GetName() != m.Workload || !slices.Contains(workloadKinds, o.GetKind()) {
				continue
			}
			if err := deliver(o, m, sol.fetchImage()); err != nil {
				r.add(sol.File, sol.pos, fmt.Sprintf("spec.models[%d]", j), "model %s: %s %s of %s: %v", m.Name, o.GetKind(), o.GetName(), dir, err)
				ok = false
			}
		}
	}
	return ok
}

// deliver adds to the pod template of w the volume holding m, the init
// container that fills it when m is downloaded, and the mount and
// environment of each serving container.
func deliver(w *unstructured.Unstructured, m *Model, fetchImage string) error {
	field, _, _ := unstructured.NestedFieldNoCopy(w.Object, "spec", "template", "spec")
	spec, ok := field.(map[string]any)
	if !ok {
		return fmt.Errorf("no pod template")
	}
	volumes, _ := spec["volumes"].([]any)
	for _, v := range volumes {
		if v, _ := v.(map[string]any); v["name"] == m.volumeName() {
			return fmt.Errorf("the pod already has a volume named %s", m.volumeName())
		}
	}
	volume := map[string]any{"name": m.volumeName()}
	if m.Image != "" {
		volume["image"] = map[string]any{"reference": m.Image, "pullPolicy": "IfNotPresent"}
	} else {
		volume["emptyDir"] = map[string]any{}
	}
	spec["volumes"] = append(volumes, volume)

	containers, _ := spec["containers"].([]any)
	served := 0
	for _, c := range containers {
		c, ok := c.(map[string]any)
		if !ok {
			continue
		}
		name, _ := c["name"].(string)
		if len(m.Containers) > 0 && !slices.Contains(m.Containers, name) {
			continue
		}
		if err := serve(c, m); err != nil {
			return fmt.Errorf("container %s: %w", name, err)
		}
		served++
	}
	if served < max(len(m.Containers), 1) {
		return fmt.Errorf("the pod has no container named %s", strings.Join(m.Containers, " or "))
	}

	if m.URI == "" {
		return nil
	}
	inits, _ := spec["initContainers"].([]any)
	for _, c := range inits {
		if c, _ := c.(map[string]any); c["name"] == m.initContainerName() {
			return fmt.Errorf("the pod already has an init container named %s", m.initContainerName())
		}
	}
	spec["initContainers"] = append(inits, map[string]any{
		"name":    m.initContainerName(),
		"image":   fetchImage,
		"command": []any{"tandem", "model", "fetch"},
		"args":    []any{"--uri", m.URI, "--sha256", m.SHA256, "--dest", m.MountPath},
		"volumeMounts": []any{
			map[string]any{"name": m.volumeName(), "mountPath": m.MountPath},
		},
		// The download streams to disk: a little cpu and memory, and a
		// request for each, so that quotas, capacity checks and the
		// baseline policy count it like any container.
		"resources": map[string]any{
			"requests": map[string]any{"cpu": fetchCPU, "memory": fetchMemory},
			"limits":   map[string]any{"memory": fetchMemoryLimit},
		},
	})
	return nil
}

// What a model-fetch init container asks for.
const (
	fetchCPU         = "50m"
	fetchMemory      = "64Mi"
	fetchMemoryLimit = "256Mi"
)

// serve mounts m read-only in container c and tells it where m is and
// which version.
func serve(c map[string]any, m *Model) error {
	mounts, _ := c["volumeMounts"].([]any)
	for _, v := range mounts {
		if v, _ := v.(map[string]any); v["mountPath"] == m.MountPath {
			return fmt.Errorf("already mounts a volume at %s", m.MountPath)
		}
	}
	c["volumeMounts"] = append(mounts, map[string]any{"name": m.volumeName(), "mountPath": m.MountPath, "readOnly": true})
	env, _ := c["env"].([]any)
	vars := []map[string]any{
		{"name": m.envPrefix() + "PATH", "value": m.MountPath},
		{"name": m.envPrefix() + "VERSION", "value": m.Version},
	}
	for _, e := range env {
		e, _ := e.(map[string]any)
		for _, v := range vars {
			if e["name"] == v["name"] {
				return fmt.Errorf("already sets %s", v["name"])
			}
		}
	}
	for _, v := range vars {
		env = append(env, v)
	}
	c["env"] = env
	return nil
}
