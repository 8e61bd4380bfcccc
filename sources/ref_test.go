package sources

import (
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	sha := strings.Repeat("0123456789", 4)
	tests := []struct {
		in      string
		want    Ref
		wantErr string
	}{
		{in: "main", want: Ref{Branch: "main"}},
		{in: "release/2.x", want: Ref{Branch: "release/2.x"}},
		{in: "refs/heads/main", want: Ref{Branch: "main"}},
		{in: "refs/tags/v1.2.0", want: Ref{Tag: "v1.2.0"}},
		{in: sha, want: Ref{Commit: sha}},
		{in: sha[:12], want: Ref{Branch: sha[:12]}},
		{in: "refs/remotes/origin/main", wantErr: `ref "refs/remotes/origin/main"`},
		{in: "", wantErr: "empty ref"},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRef(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}
