package main

import (
	"strings"
	"testing"

	"github.com/tandem-gitops/tandem/sources"
)

func TestParseRef(t *testing.T) {
	sha := strings.Repeat("0123456789", 4)
	tests := []struct {
		in      string
		want    sources.Ref
		wantErr string
	}{
		{in: "main", want: sources.Ref{Branch: "main"}},
		{in: "release/2.x", want: sources.Ref{Branch: "release/2.x"}},
		{in: "refs/heads/main", want: sources.Ref{Branch: "main"}},
		{in: "refs/tags/v1.2.0", want: sources.Ref{Tag: "v1.2.0"}},
		{in: sha, want: sources.Ref{Commit: sha}},
		{in: sha[:12], want: sources.Ref{Branch: sha[:12]}},
		{in: "refs/remotes/origin/main", wantErr: `--ref "refs/remotes/origin/main"`},
		{in: "", wantErr: "--ref is empty"},
	}
	for _, tt := range tests {
		got, err := parseRef(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseRef(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseRef(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}
