package main

import (
	"bytes"
	"strings"
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

// TestCountsAndDurationsMustBePositive checks that a count below one or a
// duration of zero or less is a usage error naming the flag, before serve
// or apply reads a repository or a cluster.
func TestCountsAndDurationsMustBePositive(t *testing.T) {
	serve := []string{"serve", "--repo", "file:///nonexistent/config.git", "--listen", "127.0.0.1:0", "--cache-dir", t.TempDir()}
	tests := []struct {
		command []string
		flag    string
		value   string
	}{
		{serve, "concurrency", "-1"},
		{serve, "concurrency", "0"},
		{serve, "interval", "0s"},
		{serve, "git-timeout", "-1s"},
		{serve, "drift-interval", "-1m"},
		{serve, "health-timeout", "-1s"},
		{serve, "retry-interval", "-1s"},
		{serve, "retry-interval", "0s"},
		{serve, "max-retry-interval", "-5m"},
		{serve, "shutdown-timeout", "0s"},
		{serve, "leader-elect-lease-duration", "-15s"},
		{serve, "leader-elect-renew-deadline", "0s"},
		{serve, "leader-elect-retry-period", "-2s"},
		{[]string{"apply", "."}, "concurrency", "-1"},
		{[]string{"apply", "."}, "concurrency", "0"},
		{[]string{"apply", "."}, "timeout", "0s"},
		{[]string{"apply", "--repo", "file:///nonexistent/config.git"}, "git-timeout", "-1s"},
	}
	for _, tt := range tests {
		args := append(append([]string{}, tt.command...), "--"+tt.flag, tt.value)
		t.Run(tt.command[0]+" --"+tt.flag+" "+tt.value, func(t *testing.T) {
			_, _, err := run(t, args...)
			if err == nil {
				t.Fatalf("tandem %q succeeded, want a usage error", args)
			}
			if got := exitCode(err); got != exitUsage {
				t.Errorf("tandem %q exits %d (%v), want %d", args, got, err, exitUsage)
			}
			if !strings.Contains(err.Error(), "--"+tt.flag+" must be") {
				t.Errorf("tandem %q: error %q does not name --%s", args, err, tt.flag)
			}
		})
	}
}
