package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium; .ci/run installs it where it is
// missing.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir receives the console's screenshots, checked in and shown
// in docs/console.md and the README.
const screenshotDir = "../docs/screenshots"

// browser is a headless chromium tab at 1280×800 that lives as long as the
// test that opened it.
type browser struct {
	t   testing.TB
	ctx context.Context
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Fatalf("no chromium at %s or on PATH: install Debian's chromium package", chromiumPath)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// step bounds one interaction: no browser wait outlives it.
const step = 30 * time.Second

// do runs the actions in order, failing the test with what it was doing.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// navigate runs the actions, which must load a page, and returns the
// status of that page's document.
func (b *browser) navigate(what string, actions ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return resp.Status
}

// open loads url and fails the test unless it answers 200.
func (b *browser) open(url string) {
	b.t.Helper()
	if status := b.navigate("open "+url, chromedp.Navigate(url)); status != 200 {
		b.t.Fatalf("browser: %s answered %d", url, status)
	}
}

// eval evaluates a JavaScript expression, awaiting it if it is a promise,
// into T.
func eval[T any](b *browser, what, expression string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// text returns the visible text of the element sel selects.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("browser: text of %s: %v", sel, err)
	}
	return s
}

// location is the page's URL.
func (b *browser) location() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("browser: location: %v", err)
	}
	return s
}

// waitFor waits until the JavaScript predicate is true, up to timeout.
func (b *browser) waitFor(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		b.t.Fatalf("browser: waited %s for %s: %v", timeout, what, err)
	}
}

// screenshot writes the viewport, 1280×800, to screenshotDir as name.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// postForm posts fields to path from the page, as a form would, with the
// page's cookies, and returns the answer's status.
func (b *browser) postForm(path string, fields map[string]string) int {
	b.t.Helper()
	p, _ := json.Marshal(path)
	f, _ := json.Marshal(fields)
	return eval[int](b, "POST "+path, fmt.Sprintf(
		`fetch(%s, {method: "POST", credentials: "same-origin", redirect: "manual", body: new URLSearchParams(%s)}).then(r => r.status)`, p, f))
}
