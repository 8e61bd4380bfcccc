package main

import (
	"bytes"
	"testing"
)

// TestUsageMistakesExitTwo checks that every way of calling tandem wrongly
// exits 2, so that scripts never read a usage mistake as "changes" or as a
// failed reconcile.
func TestUsageMistakesExitTwo(t *testing.T) {
	tests := [][]string{
		{"frobnicate"},
		{"version", "extra"},
		{"version", "--no-such-flag"},
		{"version", "-o", "xml"},
		{"serve"},
		{"diff", "a", "b", "c", "--exit-code"},
		{"render", "a", "b"},
		{"validate", "a", "b"},
		{"status", "extra"},
	}
	for _, args := range tests {
		cmd := newRootCommand()
		cmd.SetArgs(args)
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.Execute()
		if err == nil {
			t.Errorf("tandem %q succeeded, want a usage error", args)
			continue
		}
		if got := exitCode(err); got != exitUsage {
			t.Errorf("tandem %q exits %d (%v), want %d", args, got, err, exitUsage)
		}
	}
}
