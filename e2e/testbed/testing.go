package testbed

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// StartT starts a fleet for a test and stops it when the test ends, also
// when it fails or panics. Component logs stay in the test's temporary
// directory; when the test failed, the tail of each is logged.
func StartT(t testing.TB, opts Options) *Fleet {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	fleet, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := opts.Dir
	t.Cleanup(func() {
		if err := fleet.Stop(); err != nil {
			t.Errorf("stop clusters: %v", err)
		}
		if t.Failed() {
			logTails(t, dir)
		}
	})
	return fleet
}

// logTails logs the last lines of every component log under dir.
func logTails(t testing.TB, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	more, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	for _, l := range append(logs, more...) {
		if info, err := os.Stat(l); err == nil && info.Size() > 0 {
			t.Logf("--- %s (last lines)\n%s", l, TailFile(l, 15))
		}
	}
}
