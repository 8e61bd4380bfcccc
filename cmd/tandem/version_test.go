package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

func TestToolingVersionIsSemantic(t *testing.T) {
	defer func(v string) { version = v }(version)
	for in, want := range map[string]string{
		"v1.4.0":        "1.4.0",
		"1.4.0-rc.1":    "1.4.0-rc.1",
		"dev":           "0.0.0-dev",
		"657837e-dirty": "0.0.0-657837e-dirty",
		"v1.4.0-3-gabc": "1.4.0-3-gabc",
	} {
		version = in
		if got := toolingVersion(); got != want {
			t.Errorf("toolingVersion() for %q = %q, want %q", in, got, want)
		}
	}
}

func TestVersionPrintsWhatTheBuildStamped(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v1.4.0", "abc1234"
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"version"}, []string{"tandem v1.4.0 (commit abc1234, " + runtime.Version()}},
		{[]string{"version", "-o", "json"}, []string{`"version": "v1.4.0"`, `"commit": "abc1234"`, `"goVersion": "` + runtime.Version() + `"`}},
	} {
		cmd := newRootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs(tt.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("tandem %q: %v", tt.args, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("tandem %q printed %q, want it to contain %q", tt.args, out.String(), w)
			}
		}
	}
}
