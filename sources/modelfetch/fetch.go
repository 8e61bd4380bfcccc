// Package modelfetch downloads an ML model over HTTP or HTTPS into a
// directory, as the init container the renderer adds for a model given by
// URI does before the serving containers start. A download is retried with
// exponential backoff and resumed where the server allows it, checked
// against its sha256 and written atomically: the directory holds the whole,
// verified model or nothing.
package modelfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Fetcher downloads models. The zero value is ready to use.
type Fetcher struct {
	// Client makes the requests (default http.DefaultClient).
	Client *http.Client
	// Attempts bounds the requests one Fetch makes (default 5).
	Attempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one up to MaxBackoff (defaults 1s and 30s).
	Backoff, MaxBackoff time.Duration
	// Log receives a line for each retry (default: discarded).
	Log *slog.Logger
}

// ErrDigestMismatch says that a download completed but is not the model
// its sha256 names; retrying would fetch the same wrong bytes.
var ErrDigestMismatch = errors.New("sha256 mismatch")

// Fetch downloads uri into the directory dest as the last element of the
// URI's path, unless a file of that name with digest sha256Hex is already
// there. It returns the model's path. On any failure nothing new is left in
// dest.
func (f *Fetcher) Fetch(ctx context.Context, uri, sha256Hex, dest string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("fetch model: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("fetch model %s: want an http or https URL", uri)
	}
	name := path.Base(u.Path)
	if strings.HasSuffix(u.Path, "/") || name == "." || name == "/" || name == ".." {
		return "", fmt.Errorf("fetch model %s: the path names no file", uri)
	}
	want := strings.ToLower(sha256Hex)
	if len(want) != sha256.Size*2 {
		return "", fmt.Errorf("fetch model %s: sha256 %q is not 64 hex digits", uri, sha256Hex)
	}
	final := filepath.Join(dest, name)
	if got, err := digestOf(final); err == nil && got == want {
		return final, nil
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return "", fmt.Errorf("fetch model %s: %w", uri, err)
	}
	tmp, err := os.CreateTemp(dest, "."+name+".partial-*")
	if err != nil {
		return "", fmt.Errorf("fetch model %s: %w", uri, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	defer tmp.Close()

	d := &download{file: tmp, hash: sha256.New()}
	if err := f.download(ctx, uri, d); err != nil {
		return "", fmt.Errorf("fetch model %s: %w", uri, err)
	}
	if got := hex.EncodeToString(d.hash.Sum(nil)); got != want {
		return "", fmt.Errorf("fetch model %s: %w: downloaded %d bytes with sha256 %s, want %s", uri, ErrDigestMismatch, d.written, got, want)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("fetch model %s: %w", uri, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("fetch model %s: %w", uri, err)
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return "", fmt.Errorf("fetch model %s: %w", uri, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("fetch model %s: %w", uri, err)
	}
	return final, nil
}

// download is a download in progress: the bytes received so far, in file
// and hashed.
type download struct {
	file    *os.File
	hash    hash.Hash
	written int64
}

// restart discards what was received, for a server that answers a resumed
// request with the whole body again.
func (d *download) restart() error {
	if err := d.file.Truncate(0); err != nil {
		return err
	}
	if _, err := d.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	d.hash.Reset()
	d.written = 0
	return nil
}

// download makes up to f.Attempts requests for uri, each resuming where
// the last one broke off, until the body is complete.
func (f *Fetcher) download(ctx context.Context, uri string, d *download) error {
	attempts := f.Attempts
	if attempts < 1 {
		attempts = 5
	}
	backoff := f.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	maxBackoff := f.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 30 * time.Second
	}
	var err error
	for attempt := 1; ; attempt++ {
		var retry bool
		if retry, err = f.get(ctx, uri, d); err == nil || !retry {
			return err
		}
		if attempt == attempts {
			return fmt.Errorf("giving up after %d attempts: %w", attempts, err)
		}
		f.logger().Warn("model download failed, retrying", "uri", uri, "attempt", attempt, "received", d.written, "retryIn", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// get makes one request for the rest of uri's body and appends it to d. It
// reports whether a failure is worth retrying.
func (f *Fetcher) get(ctx context.Context, uri string, d *download) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return false, err
	}
	if d.written > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(d.written, 10)+"-")
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		if d.written > 0 {
			if err := d.restart(); err != nil {
				return false, err
			}
		}
	case resp.StatusCode == http.StatusPartialContent && d.written > 0:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != d.written {
			if err := d.restart(); err != nil {
				return false, err
			}
			return true, fmt.Errorf("server resumed at %q, not at byte %d; starting over", resp.Header.Get("Content-Range"), d.written)
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && d.written > 0:
		if err := d.restart(); err != nil {
			return false, err
		}
		return true, fmt.Errorf("server cannot resume at byte %d; starting over", d.written)
	default:
		return retryable(resp.StatusCode), fmt.Errorf("GET %s: %s", uri, resp.Status)
	}
	n, err := io.Copy(io.MultiWriter(d.file, d.hash), resp.Body)
	d.written += n
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("reading the body after %d bytes: %w", d.written, err)
	}
	return false, nil
}

// retryable reports whether a status may be answered differently later:
// the server's failures, a timeout and rate limiting, but not a 404.
func retryable(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// rangeStart returns the first byte of a Content-Range "bytes a-b/n".
func rangeStart(contentRange string) (int64, bool) {
	spec, ok := strings.CutPrefix(contentRange, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

func (f *Fetcher) logger() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.New(slog.DiscardHandler)
}

// digestOf returns the hex sha256 of the file at name.
func digestOf(name string) (string, error) {
	file, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer file.Close()
	h := sha256.New()
	if _, err := io.Copy(h, file); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
