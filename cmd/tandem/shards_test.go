package main

import (
	"strings"
	"testing"
)

func TestServeRefusesShardsItCannotRun(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shards", "0"}, "--shards must be at least 1"},
		{[]string{"--shards", "-3"}, "--shards must be at least 1"},
		{[]string{"--shards", "3", "--leader-elect"}, "--shards and --leader-elect exclude each other"},
		{[]string{"--shards", "3", "--shard-observe-interval", "0s"}, "--shard-observe-interval must be positive"},
	} {
		args := append([]string{"serve", "--repo", "file:///nonexistent/config.git", "--listen", "127.0.0.1:0",
			"--cache-dir", t.TempDir()}, tc.args...)
		_, _, err := run(t, args...)
		if got := exitCode(err); got != exitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("tandem %q = %v (exit %d); want a usage error: %s", args, err, got, tc.want)
		}
	}
}
