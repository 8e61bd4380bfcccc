package sources

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// guard bounds how long a test waits for something that should happen; it
// is a failure deadline, not a synchronisation.
const guard = 10 * time.Second

func newTestPoller(t *testing.T, spec Spec, cacheDir string) *Poller {
	t.Helper()
	return NewPoller(openTestRepository(t, spec, cacheDir), PollerOptions{MinBackoff: time.Second, MaxBackoff: time.Minute})
}

// receive waits for the poller's next revision.
func receive(t *testing.T, p *Poller) Revision {
	t.Helper()
	select {
	case rev := <-p.Revisions():
		return rev
	case <-time.After(guard):
		t.Fatalf("no revision within %s; status %+v", guard, p.Status())
		return Revision{}
	}
}

// start runs the poller until the test ends and checks that it stops.
func start(t *testing.T, p *Poller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

func TestPollerEmitsNewCommitWhenTriggered(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	p := newTestPoller(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}, Interval: time.Hour}, t.TempDir())
	start(t, p)

	if rev := receive(t, p); rev.Commit != up.head("main") {
		t.Fatalf("first revision = %s, want %s", rev.Commit, up.head("main"))
	}
	want := up.commit("Scale to 2", map[string]string{"tandem.yaml": "scale: 2\n"})
	p.Trigger()
	if rev := receive(t, p); rev.Commit != want || rev.Subject != "Scale to 2" {
		t.Errorf("after trigger = %s %q, want %s", rev.Commit, rev.Subject, want)
	}
}

func TestPollerFetchesOnInterval(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	p := newTestPoller(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}, Interval: 10 * time.Millisecond}, t.TempDir())
	start(t, p)

	receive(t, p)
	want := up.commit("Scale to 2", map[string]string{"tandem.yaml": "scale: 2\n"})
	if rev := receive(t, p); rev.Commit != want {
		t.Errorf("next revision = %s, want %s", rev.Commit, want)
	}
}

func TestPollerNoChangePollEmitsNothing(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	p := newTestPoller(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	ctx := context.Background()

	p.poll(ctx)
	first := receive(t, p)
	before := p.Status().LastSuccess
	if wait := p.poll(ctx); wait != DefaultInterval {
		t.Errorf("wait after a successful poll = %s, want the interval %s", wait, DefaultInterval)
	}
	if n := len(p.Revisions()); n != 0 {
		t.Errorf("unchanged poll emitted %d revisions", n)
	}
	st := p.Status()
	if st.Revision != first || st.LastError != nil || st.ConsecutiveFailures != 0 || !st.LastSuccess.After(before) {
		t.Errorf("status after unchanged poll = %+v", st)
	}
}

func TestPollerReportsForcePush(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	up.commit("Scale to 2", map[string]string{"tandem.yaml": "scale: 2\n"})
	p := newTestPoller(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	ctx := context.Background()
	p.poll(ctx)
	receive(t, p)

	rewritten := up.rewrite("Scale to 5", map[string]string{"tandem.yaml": "scale: 5\n"})
	p.poll(ctx)
	if rev := receive(t, p); rev.Commit != rewritten {
		t.Fatalf("after force-push = %s, want %s", rev.Commit, rewritten)
	}
	if st := p.Status(); !st.Rewritten || st.LastError != nil {
		t.Errorf("status after force-push = %+v, want Rewritten", st)
	}

	up.commit("Scale to 6", map[string]string{"tandem.yaml": "scale: 6\n"})
	p.poll(ctx)
	receive(t, p)
	if st := p.Status(); st.Rewritten {
		t.Errorf("status after a fast-forward = %+v, want not Rewritten", st)
	}
}

func TestPollerDeletedBranchKeepsLastGoodRevision(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	runGit(t, up.work, "push", "--quiet", "origin", "HEAD:refs/heads/staging")
	p := newTestPoller(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "staging"}}, t.TempDir())
	ctx := context.Background()
	p.poll(ctx)
	good := receive(t, p)

	runGit(t, up.work, "push", "--quiet", "origin", ":refs/heads/staging")
	p.poll(ctx)
	st := p.Status()
	if !errors.Is(st.LastError, ErrRefNotFound) || st.Revision != good || st.ConsecutiveFailures != 1 {
		t.Errorf("status after branch deletion = %+v, want ErrRefNotFound and revision %s kept", st, good.Commit)
	}
	if n := len(p.Revisions()); n != 0 {
		t.Errorf("deleted branch emitted %d revisions", n)
	}
}

func TestPollerUnreachableRemoteKeepsLastGoodRevisionAndBacksOff(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	url, stop := up.serveHTTPUntilStopped("tandem", "s3cret")
	t.Setenv("TANDEM_TEST_TOKEN", "s3cret")
	p := newTestPoller(t, Spec{URL: url, Ref: Ref{Branch: "main"}, Auth: Auth{Username: "tandem", PasswordEnv: "TANDEM_TEST_TOKEN"}}, t.TempDir())
	ctx := context.Background()
	p.poll(ctx)
	good := receive(t, p)

	stop()
	first := p.poll(ctx)
	second := p.poll(ctx)
	st := p.Status()
	if st.LastError == nil || st.ConsecutiveFailures != 2 || st.Revision != good || !st.LastSuccess.Before(st.LastAttempt) {
		t.Errorf("status with the remote down = %+v, want 2 failures and revision %s kept", st, good.Commit)
	}
	if second <= first {
		t.Errorf("backoff did not grow: %s then %s", first, second)
	}
	if n := len(p.Revisions()); n != 0 {
		t.Errorf("failed polls emitted %d revisions", n)
	}
}

func TestPollerStartsFromMirrorWhenRemoteUnreachable(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	spec := Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}
	cache := t.TempDir()
	good, err := openTestRepository(t, spec, cache).Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if err := os.Rename(up.bare, up.bare+".gone"); err != nil {
		t.Fatal(err)
	}

	p := newTestPoller(t, spec, cache)
	p.poll(context.Background())
	if rev := receive(t, p); rev != good {
		t.Errorf("revision from the mirror = %+v, want %+v", rev, good)
	}
	if st := p.Status(); st.LastError == nil || st.ConsecutiveFailures != 1 {
		t.Errorf("status = %+v, want the fetch error reported", st)
	}
}

func TestBackoffDoublesUpToLimit(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{6, 32 * time.Second},
		{7, time.Minute},
		{1000, time.Minute},
	}
	for _, tt := range tests {
		got := backoff(tt.failures, time.Second, time.Minute)
		if lo, hi := tt.want*9/10, tt.want*11/10; got < lo || got > hi {
			t.Errorf("backoff(%d) = %s, want %s ±10%%", tt.failures, got, tt.want)
		}
	}
}
