package daemon

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	tokenA  = "plant-a-0123456789abcdef"
	tokenB  = "plant-b-0123456789abcdef"
	tokenA2 = "plant-a-fedcba9876543210"
)

// asAgent is a request carrying token as its bearer token.
func asAgent(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/sites/x/release", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// writeFile writes a token file, failing the test when it cannot.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mountSecret lays dir out as the kubelet mounts a Secret whose keys are
// the sites of tokens: the keys' files in a timestamped directory, ..data
// linking to it, and a link per key through ..data. Called again, it swaps
// the content as an update of the Secret does, leaving the old links.
func mountSecret(t *testing.T, dir, stamp string, tokens map[string]string) {
	t.Helper()
	data := filepath.Join(dir, "..2026_12_02_14_"+stamp)
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for site, token := range tokens {
		writeFile(t, filepath.Join(data, site), token)
		link := filepath.Join(dir, site)
		if _, err := os.Lstat(link); err != nil {
			if err := os.Symlink(filepath.Join("..data", site), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(data), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// sitesOf returns the site each token answers for, and "" for one that
// answers for none.
func sitesOf(t *testing.T, tf *TokenFiles, tokens ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, token := range tokens {
		site, ok, err := tf.Site(asAgent(token))
		if err != nil {
			t.Fatalf("Site(%s): %v", token, err)
		}
		if ok != (site != "") {
			t.Fatalf("Site(%s) = %q, %v", token, site, ok)
		}
		out[token] = site
	}
	return out
}

func TestReadTokenFilesReadsAFileOfLinesOrAMountedSecret(t *testing.T) {
	want := map[string]string{tokenA: "plant-a", tokenB: "plant-b", "plant-c-0123456789abcdef": "", "": ""}
	file := filepath.Join(t.TempDir(), "agent-tokens")
	writeFile(t, file, "# agents\n\nplant-a:"+tokenA+"\nplant-b:"+tokenB+"\n")
	secret := t.TempDir()
	mountSecret(t, secret, "00_00.000000001", map[string]string{"plant-a": tokenA + "\n", "plant-b": tokenB})
	for _, path := range []string{file, secret} {
		tf, err := ReadTokenFiles(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := sitesOf(t, tf, tokenA, tokenB, "plant-c-0123456789abcdef", ""); !maps.Equal(got, want) {
			t.Errorf("%s: tokens answer for %v, want %v", path, got, want)
		}
		if got, _ := tf.current(); len(got) != 2 {
			t.Errorf("%s: read %d tokens, want the 2 sites' only (..data and the timestamped directory skipped)", path, len(got))
		}
	}
}

func TestReadTokenFilesRefusesShortAndRepeatedTokensNamingTheFile(t *testing.T) {
	tests := []struct {
		name string
		file string            // a file of lines, or
		keys map[string]string // a mounted Secret's keys
		want string            // the error, after the temporary directory
	}{
		{name: "short line", file: "plant-a:short\n", want: "agent-tokens:1: the token of plant-a is shorter than 16 characters"},
		{name: "repeated line", file: "plant-a:" + tokenA + "\nplant-b:" + tokenA + "\n", want: "agent-tokens:2: the token of plant-b is given twice"},
		{name: "short key", keys: map[string]string{"plant-a": tokenA, "plant-b": "short\n"}, want: "plant-b: the token of site plant-b is shorter than 16 characters"},
		{name: "repeated key", keys: map[string]string{"plant-a": tokenA, "plant-b": tokenA + "\n"}, want: "plant-b: the token of site plant-b is also site plant-a's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "agent-tokens")
			if tt.keys != nil {
				path = dir
				mountSecret(t, dir, "00_00.000000001", tt.keys)
			} else {
				writeFile(t, path, tt.file)
			}
			_, err := ReadTokenFiles(path)
			if err == nil {
				t.Fatalf("read, want %q", tt.want)
			}
			if got := strings.TrimPrefix(err.Error(), dir+"/"); got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTokenFilesTakeARotatedTokenWithoutARestart(t *testing.T) {
	tests := []struct {
		name   string
		start  func(t *testing.T) string // returns the path to read
		rotate func(t *testing.T, path string)
	}{{
		name: "file rewritten",
		start: func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "agent-tokens")
			writeFile(t, path, "plant-a:"+tokenA+"\nplant-b:"+tokenB+"\n")
			return path
		},
		// The same length, at once: what a rotation by a script writes.
		rotate: func(t *testing.T, path string) { writeFile(t, path, "plant-a:"+tokenA2+"\nplant-b:"+tokenB+"\n") },
	}, {
		name: "Secret updated",
		start: func(t *testing.T) string {
			dir := t.TempDir()
			mountSecret(t, dir, "00_00.000000001", map[string]string{"plant-a": tokenA, "plant-b": tokenB})
			return dir
		},
		rotate: func(t *testing.T, dir string) {
			mountSecret(t, dir, "00_05.000000002", map[string]string{"plant-a": tokenA2, "plant-b": tokenB})
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf, err := ReadTokenFiles(tt.start(t))
			if err != nil {
				t.Fatal(err)
			}
			c := &clock{t: time.Now()}
			tf.now = c.now
			sitesOf(t, tf, tokenA)
			tt.rotate(t, tf.path)
			c.add(tokenRecheck)
			want := map[string]string{tokenA: "", tokenA2: "plant-a", tokenB: "plant-b"}
			if got := sitesOf(t, tf, tokenA, tokenA2, tokenB); !maps.Equal(got, want) {
				t.Errorf("after the rotation tokens answer for %v, want %v", got, want)
			}
		})
	}
}

func TestTokenFilesThatNoLongerReadKeepTheLastGoodTokens(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, path string)
		says  string
	}{
		{"removed", func(t *testing.T, path string) { os.Remove(path) }, "no such file"},
		{"a short token written", func(t *testing.T, path string) { writeFile(t, path, "plant-a:short\n") }, "shorter than 16 characters"},
		{"replaced by a directory with a short token", func(t *testing.T, path string) {
			os.Remove(path)
			os.Mkdir(path, 0o755)
			writeFile(t, filepath.Join(path, "plant-a"), "short")
		}, "shorter than 16 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent-tokens")
			writeFile(t, path, "plant-a:"+tokenA+"\n")
			tf, err := ReadTokenFiles(path)
			if err != nil {
				t.Fatal(err)
			}
			c := &clock{t: time.Now()}
			tf.now = c.now
			tt.spoil(t, path)
			c.add(tokenRecheck)
			site, ok, err := tf.Site(asAgent(tokenA))
			if site != "plant-a" || !ok {
				t.Errorf("the last good token answers for %q, %v; want plant-a", site, ok)
			}
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %v, want one naming %s and saying %q", err, path, tt.says)
			}
		})
	}
}
