package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestModelFetchExitsNonZeroAndWritesNothingOnTheWrongDigest(t *testing.T) {
	body := []byte("model weights")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "model.onnx", time.Time{}, bytes.NewReader(body))
	}))
	defer srv.Close()
	sum := sha256.Sum256(body)
	good, bad := hex.EncodeToString(sum[:]), strings.Repeat("ab", 32)

	dest := filepath.Join(t.TempDir(), "defect-detector")
	_, _, err := run(t, "model", "fetch", "--uri", srv.URL+"/model.onnx", "--sha256", bad, "--dest", dest, "--backoff", "1ms")
	if err == nil || exitCode(err) != exitFailure || !strings.Contains(err.Error(), good) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("tandem model fetch with the wrong digest: %v (exit %d), want exit 1 naming both digests", err, exitCode(err))
	}
	if es, _ := os.ReadDir(dest); len(es) != 0 {
		t.Errorf("dest holds %d entries after a failed fetch, want none", len(es))
	}

	out, stderr, err := run(t, "model", "fetch", "--uri", srv.URL+"/model.onnx", "--sha256", good, "--dest", dest)
	if err != nil {
		t.Fatalf("tandem model fetch: %v\n%s", err, stderr)
	}
	if data, _ := os.ReadFile(filepath.Join(dest, "model.onnx")); !bytes.Equal(data, body) {
		t.Errorf("dest/model.onnx holds %q, want the model", data)
	}
	if !strings.Contains(out, filepath.Join(dest, "model.onnx")) {
		t.Errorf("output %q does not say where the model is", out)
	}
}

func TestModelFetchWithoutItsFlagsIsAUsageError(t *testing.T) {
	_, _, err := run(t, "model", "fetch", "--uri", "https://models.example/m.onnx")
	if exitCode(err) != exitUsage {
		t.Errorf("tandem model fetch without --sha256 and --dest: %v (exit %d), want exit 2", err, exitCode(err))
	}
}
