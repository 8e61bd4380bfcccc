package reconciler

import (
	"testing"
	"unicode/utf8"
)

func TestTruncateKeepsMessagesValidUTF8(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly ten", 11, "exactly ten"},
		{"abcdefghij", 8, "abcde…"},
		// "ü" is two bytes: a cut after its first byte backs off before it.
		{"Grüße aus Berlin", 6, "Gr…"},
		{"Grüße aus Berlin", 7, "Grü…"},
		// "…" itself is three bytes.
		{"………", 7, "……"},
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.n)
		if got != tt.want || len(got) > tt.n || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want %q, valid UTF-8 of at most %d bytes", tt.in, tt.n, got, tt.want, tt.n)
		}
	}
}
