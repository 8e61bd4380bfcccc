package gitwrite

import "testing"

func TestMerge3(t *testing.T) {
	const base = "spec:\n  scale: 3\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n"
	tests := []struct {
		name         string
		ours, theirs string
		want         string
		conflict     bool
	}{
		{
			name:   "different lines combine",
			ours:   "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
			theirs: "spec:\n  scale: 3\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.5.0\"\n",
			want:   "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.5.0\"\n",
		},
		{
			name:     "same line changed differently",
			ours:     "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
			theirs:   "spec:\n  scale: 5\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
			conflict: true,
		},
		{
			name:   "same change on both sides",
			ours:   "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
			theirs: "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
			want:   "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
		},
		{
			name:     "adjacent lines conflict, as in git",
			ours:     "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
			theirs:   "spec:\n  scale: 3\n  tiers: []\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
			conflict: true,
		},
		{
			name:   "their insertion elsewhere",
			ours:   "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
			theirs: base + "  rollout: {}\n",
			want:   "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n  rollout: {}\n",
		},
		{
			name:   "their deletion elsewhere",
			ours:   "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
			theirs: "spec:\n  scale: 3\n  tiers:\n  - name: cloud\n",
			want:   "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n",
		},
		{
			name:     "both append",
			ours:     base + "a: 1\n",
			theirs:   base + "b: 2\n",
			conflict: true,
		},
		{
			name:   "last line without newline",
			ours:   "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"\n",
			theirs: "spec:\n  scale: 3\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"",
			want:   "spec:\n  scale: 4\n  tiers:\n  - name: cloud\n  models:\n  - version: \"1.4.0\"",
		},
		{
			name:     "binary",
			ours:     base + "\x00",
			theirs:   base,
			conflict: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := merge3([]byte(base), []byte(tt.ours), []byte(tt.theirs))
			if ok == tt.conflict {
				t.Fatalf("merge3 ok = %v, want conflict %v (merged %q)", ok, tt.conflict, got)
			}
			if ok && string(got) != tt.want {
				t.Errorf("merge3 = %q, want %q", got, tt.want)
			}
			if back, ok2 := merge3([]byte(base), []byte(tt.theirs), []byte(tt.ours)); ok2 != ok || string(back) != string(got) {
				t.Errorf("merge3 is not symmetric: %q, %v", back, ok2)
			}
		})
	}
}

func TestMerge3FromEmptyBase(t *testing.T) {
	if _, ok := merge3(nil, []byte("a\n"), []byte("b\n")); ok {
		t.Error("two different new files merged")
	}
	if got, ok := merge3(nil, []byte("a\n"), []byte("a\n")); !ok || string(got) != "a\n" {
		t.Errorf("two identical new files = %q, %v", got, ok)
	}
}
