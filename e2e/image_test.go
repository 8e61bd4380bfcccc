package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

// dockerEnv set to 1 makes the image tests fail where Docker is not usable;
// otherwise they skip there, saying why.
const dockerEnv = "TANDEM_E2E_DOCKER"

// requireDocker skips t, or fails it under TANDEM_E2E_DOCKER=1, with one
// line saying why Docker cannot run containers here.
func requireDocker(t *testing.T) {
	t.Helper()
	err := testbed.DockerUsable(context.Background())
	switch {
	case err == nil:
	case os.Getenv(dockerEnv) == "1":
		t.Fatalf("the image test %v (%s=1 asks it to run)", err, dockerEnv)
	default:
		t.Skipf("the image test %v (%s=1 makes this a failure)", err, dockerEnv)
	}
}

// TestImageRunsAsNonrootWithCACertificates builds the image with "make
// image" and checks what deploy/deployment.yaml relies on: tandem is the
// entrypoint, stamped with the version it was built as; it runs as the
// nonroot user 65532, which owns what it writes and its home, renders a
// repository exactly as tandem does outside the image into a /tmp anyone
// may write; and the image holds a CA bundle that parses.
func TestImageRunsAsNonrootWithCACertificates(t *testing.T) {
	requireDocker(t)
	const version, commit = "v0.0.0-e2e", "e2e1234"
	image := "tandem-e2e-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { exec.Command("docker", "rmi", image+":"+version, image+":dev").Run() })
	build := exec.Command("make", "--no-print-directory", "-C", "..", "image",
		"IMAGE="+image, "VERSION="+version, "COMMIT="+commit, "IMAGE_CONTEXT="+filepath.Join(t.TempDir(), "image"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}

	var config struct {
		User       string
		Entrypoint []string
	}
	if err := json.Unmarshal([]byte(dockerOutput(t, "image", "inspect", "--format", "{{json .Config}}", image+":dev")), &config); err != nil {
		t.Fatal(err)
	}
	if config.User != "65532:65532" || !slices.Equal(config.Entrypoint, []string{"/usr/local/bin/tandem"}) {
		t.Errorf("image config: user %q, entrypoint %q; want 65532:65532 and [/usr/local/bin/tandem]", config.User, config.Entrypoint)
	}

	var info struct{ Version, Commit, Platform string }
	if err := json.Unmarshal([]byte(dockerOutput(t, "run", "--rm", image+":"+version, "version", "-o", "json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.Version != version || info.Commit != commit || !strings.HasPrefix(info.Platform, "linux/") {
		t.Errorf("tandem version in the image = %+v, want version %s, commit %s on linux", info, version, commit)
	}

	fixture, err := filepath.Abs("../fixtures/smart-factory")
	if err != nil {
		t.Fatal(err)
	}
	name := image + "-render"
	t.Cleanup(func() { exec.Command("docker", "rm", "--force", name).Run() })
	dockerOutput(t, "run", "--name", name, "--volume", fixture+":/repo:ro", image+":dev", "render", "/repo", "--out", "/tmp/out")

	tmp := copyOut(t, name, "/tmp")
	if dir, ok := tmp["tmp"]; !ok || dir.FileInfo().Mode()&(fs.ModeSticky|fs.ModePerm) != fs.ModeSticky|0o777 {
		t.Errorf("/tmp is %+v, want a directory of mode drwxrwxrwt", dir.Header)
	}
	want := hostRender(t, fixture)
	got, owners := map[string]string{}, map[string]int{}
	for path, f := range tmp {
		rel, ok := strings.CutPrefix(path, "tmp/out/")
		if !ok {
			continue
		}
		owners[strconv.Itoa(f.Uid)+":"+strconv.Itoa(f.Gid)]++
		if f.Typeflag == tar.TypeReg {
			got[rel] = f.body
		}
	}
	if len(owners) != 1 || owners["65532:65532"] == 0 {
		t.Errorf("files the container wrote have owners (uid:gid: files) %v, want 65532:65532 only", owners)
	}
	if len(want) == 0 || !maps.Equal(got, want) {
		t.Errorf("render in the image wrote %d files, tandem outside it %d; they differ", len(got), len(want))
	}

	if home, ok := copyOut(t, name, "/home/nonroot")["nonroot"]; !ok || home.Uid != 65532 || !home.FileInfo().IsDir() {
		t.Errorf("/home/nonroot is %+v, want a directory owned by 65532", home.Header)
	}
	etc := copyOut(t, name, "/etc")
	if !strings.Contains(etc["etc/passwd"].body, "\nnonroot:x:65532:65532:") || !strings.Contains(etc["etc/group"].body, "\nnonroot:x:65532:") {
		t.Errorf("/etc/passwd and /etc/group name no nonroot 65532:\n%s%s", etc["etc/passwd"].body, etc["etc/group"].body)
	}
	if n, err := certificates([]byte(etc["etc/ssl/certs/ca-certificates.crt"].body)); err != nil || n == 0 {
		t.Errorf("/etc/ssl/certs/ca-certificates.crt holds %d certificates (%v), want some and nothing else", n, err)
	}
}

// dockerOutput runs the docker command with args and returns its output,
// failing t with docker's own error.
func dockerOutput(t *testing.T, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("docker", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out)
}

// tarEntry is one file of a tar stream, with its body.
type tarEntry struct {
	*tar.Header
	body string
}

// copyOut copies path out of container by "docker cp", returning its files
// by their name in the stream (the path's base name, then what is under it).
func copyOut(t *testing.T, container, path string) map[string]tarEntry {
	t.Helper()
	files := map[string]tarEntry{}
	r := tar.NewReader(strings.NewReader(dockerOutput(t, "cp", container+":"+path, "-")))
	for {
		hdr, err := r.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("docker cp %s:%s: %v", container, path, err)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("docker cp %s:%s: %v", container, path, err)
		}
		files[strings.TrimSuffix(hdr.Name, "/")] = tarEntry{hdr, string(body)}
	}
}

// hostRender renders dir with tandem outside any container and returns the
// files it writes, by path under the output directory.
func hostRender(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	if b, err := exec.Command(tandemBin, "render", dir, "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("tandem render %s: %v\n%s", dir, err, b)
	}
	files := map[string]string{}
	err := filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(out, path)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// certificates counts the certificates of a PEM bundle, failing on any
// block that does not parse as one.
func certificates(bundle []byte) (int, error) {
	n := 0
	for {
		var block *pem.Block
		if block, bundle = pem.Decode(bundle); block == nil {
			return n, nil
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return n, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		n++
	}
}
