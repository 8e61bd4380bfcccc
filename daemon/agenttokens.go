package daemon

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// AgentTokens tell which pull site's agent a request comes from, by its
// bearer token.
type AgentTokens interface {
	// Site returns the site whose token the request carries; false when
	// it carries none or one of no site. err says why the tokens no
	// longer read; site and ok may still answer from the last good ones.
	Site(r *http.Request) (site string, ok bool, err error)
}

// tokenRecheck is how often TokenFiles looks whether its tokens changed.
const tokenRecheck = 5 * time.Second

// TokenFiles are agent tokens read from path, again whenever it changes,
// so that a token is rotated without a restart. path is either a file of
// "site:token" lines (blank lines and lines starting with # skipped), or a
// directory holding a file per site named like it with the token as its
// content: a Secret mounted as a volume, whose keys are the site names.
type TokenFiles struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	tokens  Tokens // token → site
	stamp   string // what the files looked like when read
	checked time.Time
}

// ReadTokenFiles reads the agent tokens at path, refusing a token shorter
// than 16 characters or given twice.
func ReadTokenFiles(path string) (*TokenFiles, error) {
	t := &TokenFiles{path: path, now: time.Now}
	if _, err := t.current(); err != nil {
		return nil, err
	}
	return t, nil
}

// Site implements AgentTokens, comparing tokens in constant time. When
// the files no longer read, it answers from the last good tokens and
// returns why as well.
func (t *TokenFiles) Site(r *http.Request) (string, bool, error) {
	tokens, err := t.current()
	site, ok := tokens.holder(r)
	return site, ok, err
}

// current returns the tokens, read again when the files changed. Tokens
// that no longer read keep the last good ones in use, and say why.
func (t *TokenFiles) current() (Tokens, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.tokens != nil && now.Sub(t.checked) < tokenRecheck {
		return t.tokens, nil
	}
	t.checked = now
	stamp, err := statStamp(t.path)
	if err != nil {
		return t.tokens, fmt.Errorf("agent tokens %s: %w", t.path, err)
	}
	if t.tokens != nil && stamp == t.stamp {
		return t.tokens, nil
	}
	tokens, err := readAgentTokens(t.path)
	if err != nil {
		return t.tokens, err
	}
	t.tokens, t.stamp = tokens, stamp
	return tokens, nil
}

// statStamp sums up the names, sizes and times of path and, for a
// directory, of what it holds: a Secret volume's update swaps a symbolic
// link, which changes the directory's listing.
func statStamp(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %d;", info.Size(), info.ModTime().UnixNano())
	if !info.IsDir() {
		return b.String(), nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(path, e.Name()))
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "%s %d %d;", e.Name(), fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

// readAgentTokens reads a token file or directory.
func readAgentTokens(path string) (Tokens, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read agent tokens: %w", err)
	}
	if !info.IsDir() {
		return ReadTokens(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("read agent tokens: %w", err)
	}
	tokens := Tokens{}
	for _, e := range entries {
		// A mounted Secret holds its keys' files beside ..data and
		// timestamped directories; those start with a dot.
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		file := filepath.Join(path, e.Name())
		if fi, err := os.Stat(file); err != nil || fi.IsDir() {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read agent tokens: %w", err)
		}
		token := strings.TrimSpace(string(data))
		switch _, dup := tokens[token]; {
		case len(token) < 16:
			return nil, fmt.Errorf("%s: the token of site %s is shorter than 16 characters", file, e.Name())
		case dup:
			return nil, fmt.Errorf("%s: the token of site %s is also site %s's", file, e.Name(), tokens[token])
		}
		tokens[token] = e.Name()
	}
	return tokens, nil
}
