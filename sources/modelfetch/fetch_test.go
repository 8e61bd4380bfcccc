package modelfetch_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/sources/modelfetch"
)

// model is the body the test servers serve, large enough to be cut.
var model = bytes.Repeat([]byte("onnx-weights-"), 10_000)

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// fetcher retries quickly, so that tests wait milliseconds, not seconds.
func fetcher() *modelfetch.Fetcher {
	return &modelfetch.Fetcher{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

// serveModel serves model with Range support, as a file server does.
func serveModel(w http.ResponseWriter, r *http.Request) {
	http.ServeContent(w, r, "model.onnx", time.Time{}, bytes.NewReader(model))
}

// requests records the Range header of each request a server answers.
type requests struct {
	mu     sync.Mutex
	ranges []string
}

func (rs *requests) record(r *http.Request) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.ranges = append(rs.ranges, r.Header.Get("Range"))
	return len(rs.ranges)
}

// dropHalfWayOnce answers the first request with the headers of the whole
// model and half its body, then drops the connection; later requests are
// answered by then.
func dropHalfWayOnce(rs *requests, then http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rs.record(r) > 1 {
			then(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(model)))
		w.WriteHeader(http.StatusOK)
		w.Write(model[:len(model)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
}

// entries lists dest, failing the test if it cannot.
func entries(t *testing.T, dest string) []string {
	t.Helper()
	es, err := os.ReadDir(dest)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFetchWritesTheVerifiedModelUnderItsFileName(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(serveModel))
	defer srv.Close()
	dest := filepath.Join(t.TempDir(), "models", "defect-detector")

	got, err := fetcher().Fetch(context.Background(), srv.URL+"/defect-detector/1.4.0/model.onnx", digest(model), dest)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dest, "model.onnx"); got != want {
		t.Errorf("Fetch returned %s, want %s", got, want)
	}
	data, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, model) {
		t.Errorf("wrote %d bytes that are not the model", len(data))
	}
	if names := entries(t, dest); len(names) != 1 {
		t.Errorf("dest holds %v, want only model.onnx", names)
	}
}

func TestFetchWithTheWrongDigestLeavesNothingAtDest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(serveModel))
	defer srv.Close()
	dest := t.TempDir()
	want := strings.Repeat("0", 64)

	_, err := fetcher().Fetch(context.Background(), srv.URL+"/model.onnx", want, dest)
	if !errors.Is(err, modelfetch.ErrDigestMismatch) {
		t.Fatalf("Fetch: %v, want a digest mismatch", err)
	}
	for _, d := range []string{digest(model), want} {
		if !strings.Contains(err.Error(), d) {
			t.Errorf("error %q does not name digest %s", err, d)
		}
	}
	if names := entries(t, dest); len(names) != 0 {
		t.Errorf("dest holds %v after a failed fetch, want nothing", names)
	}
}

func TestFetchResumesADownloadTheServerDroppedHalfWay(t *testing.T) {
	var rs requests
	srv := httptest.NewServer(dropHalfWayOnce(&rs, serveModel))
	defer srv.Close()
	dest := t.TempDir()

	got, err := fetcher().Fetch(context.Background(), srv.URL+"/model.onnx", digest(model), dest)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(got); !bytes.Equal(data, model) {
		t.Errorf("wrote %d bytes that are not the model", len(data))
	}
	want := []string{"", "bytes=" + strconv.Itoa(len(model)/2) + "-"}
	if strings.Join(rs.ranges, ",") != strings.Join(want, ",") {
		t.Errorf("requests asked for ranges %q, want %q", rs.ranges, want)
	}
}

func TestFetchStartsOverWhenTheServerCannotResume(t *testing.T) {
	var rs requests
	noRanges := func(w http.ResponseWriter, r *http.Request) { w.Write(model) }
	srv := httptest.NewServer(dropHalfWayOnce(&rs, noRanges))
	defer srv.Close()
	dest := t.TempDir()

	got, err := fetcher().Fetch(context.Background(), srv.URL+"/model.onnx", digest(model), dest)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(got); !bytes.Equal(data, model) {
		t.Errorf("wrote %d bytes, want the model's %d", len(data), len(model))
	}
}

func TestFetchNamesTheURIAndStatusOfAMissingModel(t *testing.T) {
	var rs requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.record(r)
		http.NotFound(w, r)
	}))
	defer srv.Close()
	dest := t.TempDir()
	uri := srv.URL + "/defect-detector/9.9.9/model.onnx"

	_, err := fetcher().Fetch(context.Background(), uri, digest(model), dest)
	if err == nil || !strings.Contains(err.Error(), uri) || !strings.Contains(err.Error(), "404 Not Found") {
		t.Fatalf("Fetch: %v, want an error naming %s and 404 Not Found", err, uri)
	}
	if len(rs.ranges) != 1 {
		t.Errorf("made %d requests for a missing model, want 1: a 404 is not retried", len(rs.ranges))
	}
	if names := entries(t, dest); len(names) != 0 {
		t.Errorf("dest holds %v, want nothing", names)
	}
}

func TestFetchRetriesServerErrorsAndGivesUpAfterItsAttempts(t *testing.T) {
	var rs requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.record(r)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	_, err := fetcher().Fetch(context.Background(), srv.URL+"/model.onnx", digest(model), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Fetch: %v, want it to give up after 3 attempts at a 503", err)
	}
	if len(rs.ranges) != 3 {
		t.Errorf("made %d requests, want 3", len(rs.ranges))
	}
}

func TestFetchKeepsAVerifiedModelAlreadyAtDest(t *testing.T) {
	dest := t.TempDir()
	if err := os.WriteFile(filepath.Join(dest, "model.onnx"), model, 0o444); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("requested %s although the model is at dest", r.URL)
	}))
	defer srv.Close()

	if _, err := fetcher().Fetch(context.Background(), srv.URL+"/model.onnx", digest(model), dest); err != nil {
		t.Fatal(err)
	}
}
