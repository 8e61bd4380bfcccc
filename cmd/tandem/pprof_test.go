package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProfilesServeTheHeapForPprof(t *testing.T) {
	srv := httptest.NewServer(profiles())
	defer srv.Close()
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v %.200s", path, resp.Status, err, body)
		}
		return body
	}
	if index := get("/debug/pprof/"); !strings.Contains(string(index), "heap") {
		t.Errorf("the index names no heap profile: %.300s", index)
	}
	// What go tool pprof reads is gzipped; its text form says what it is.
	if heap := get("/debug/pprof/heap"); !bytes.HasPrefix(heap, []byte{0x1f, 0x8b}) {
		t.Errorf("the heap profile is not gzipped: % x", heap[:min(len(heap), 8)])
	}
	if heap := get("/debug/pprof/heap?debug=1"); !strings.HasPrefix(string(heap), "heap profile:") {
		t.Errorf("the heap profile's text form: %.100s", heap)
	}
	if cmdline := get("/debug/pprof/cmdline"); len(cmdline) == 0 {
		t.Error("the command line is empty")
	}
}
