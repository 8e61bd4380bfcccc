package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/e2e/gitserver"
	"github.com/tandem-gitops/tandem/e2e/testbed"
)

// config is what "demo up" runs.
type config struct {
	dir       string
	tandemBin string
	fixture   string
	clusters  []string
	readyFile string
}

// demo is a running demo: what it started, so it can stop it all.
type demo struct {
	config
	fleet      *testbed.Fleet
	git        *gitserver.Server
	daemon     *exec.Cmd
	daemonDone chan struct{}
	listen     string
	repoURL    string
	logPath    string
	// consoleUser and consolePassword sign in to the console as an
	// operator.
	consoleUser, consolePassword string
}

func run(ctx context.Context, cfg config) (err error) {
	tandemBin, err := filepath.Abs(cfg.tandemBin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(tandemBin); err != nil {
		return fmt.Errorf("tandem binary: %w (run \"make build\")", err)
	}
	cfg.tandemBin = tandemBin
	release, err := claim(cfg.dir)
	if err != nil {
		return err
	}
	d := &demo{config: cfg, logPath: filepath.Join(cfg.dir, "tandem.log")}
	defer func() {
		fmt.Println("==> Stopping the demo")
		err = errors.Join(err, d.stop())
		release()
		if err == nil || errors.Is(err, errInterrupted) {
			fmt.Println("    everything stopped, state removed")
			err = nil
		}
	}()

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{fmt.Sprintf("Start %d local clusters (%s)", len(cfg.clusters), strings.Join(cfg.clusters, ", ")), d.startClusters},
		{"Start a Git server with the smart-factory config repository", d.startGit},
		{"Start tandem serve", d.startDaemon},
		{"Wait until every cluster has converged", d.waitConverged},
	}
	for _, s := range steps {
		if err := interrupted(ctx); err != nil {
			return err
		}
		if err := step(s.name, func() error { return s.fn(ctx) }); err != nil {
			return err
		}
	}
	guide, err := d.guide()
	if err != nil {
		return err
	}
	fmt.Print("\n" + guide)
	if cfg.readyFile != "" {
		if err := os.WriteFile(cfg.readyFile, []byte(guide), 0o644); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		return errInterrupted
	case <-d.daemonDone:
		return d.daemonFailure("tandem serve exited")
	}
}

func (d *demo) startClusters(ctx context.Context) error {
	dir := filepath.Join(d.dir, "clusters")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fleet, err := testbed.Start(ctx, testbed.Options{
		Names: d.clusters, Full: true, Dir: dir,
		Logf: func(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) },
	})
	if err != nil {
		return err
	}
	d.fleet = fleet
	return nil
}

func (d *demo) startGit(context.Context) error {
	port, err := testbed.FreePort()
	if err != nil {
		return err
	}
	d.listen = fmt.Sprintf("127.0.0.1:%d", port)
	root := filepath.Join(d.dir, "git")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	secret := []byte("tandem-demo-webhook")
	if err := os.WriteFile(filepath.Join(d.dir, "webhook-secret"), secret, 0o600); err != nil {
		return err
	}
	if d.git, err = gitserver.Start(gitserver.Options{
		Root:          root,
		WebhookURL:    "http://" + d.listen + "/hooks/git",
		WebhookSecret: secret,
		Logger:        discardLogger(),
	}); err != nil {
		return err
	}
	if d.repoURL, err = d.git.CreateRepo("smart-factory", d.fixture, "Smart-factory solution at scale 3"); err != nil {
		return err
	}
	fmt.Printf("    %s\n", d.repoURL)
	return nil
}

func (d *demo) startDaemon(ctx context.Context) error {
	logFile, err := os.Create(d.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	users, err := d.writeConsoleUsers()
	if err != nil {
		return err
	}
	cmd := exec.Command(d.tandemBin, "serve",
		"--repo", d.repoURL,
		"--kubeconfig", d.fleet.Kubeconfig,
		"--listen", d.listen,
		"--webhook-secret-file", filepath.Join(d.dir, "webhook-secret"),
		"--cache-dir", filepath.Join(d.dir, "tandem-cache"),
		"--drift-interval", "1m",
		"--retry-interval", "2s",
		"--console-users", users,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	d.daemon, d.daemonDone = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(d.daemonDone) }()
	fmt.Printf("    http://%s, log %s\n", d.listen, d.logPath)
	return d.poll(ctx, 30*time.Second, func() (bool, error) {
		resp, err := http.Get("http://" + d.listen + "/healthz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return true, nil
	})
}

// writeConsoleUsers writes the console's users file: one operator with a
// password made for this demo, and returns its path.
func (d *demo) writeConsoleUsers() (string, error) {
	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	d.consoleUser, d.consolePassword = "operator", base64.RawURLEncoding.EncodeToString(secret)
	hash, err := bcrypt.GenerateFromPassword([]byte(d.consolePassword), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	path := filepath.Join(d.dir, "console-users")
	return path, os.WriteFile(path, []byte(d.consoleUser+":"+string(hash)+":operator\n"), 0o600)
}

// waitConverged waits until every target is Ready at the repository's head,
// printing progress as targets get there.
func (d *demo) waitConverged(ctx context.Context) error {
	head, err := gitserver.Git("--git-dir", filepath.Join(d.dir, "git", "smart-factory.git"), "rev-parse", "main")
	if err != nil {
		return fmt.Errorf("resolve the repository's head: %w", err)
	}
	last := ""
	return d.poll(ctx, 5*time.Minute, func() (bool, error) {
		st, err := d.status()
		if err != nil {
			return false, nil
		}
		if st.Render.Error != "" {
			return false, fmt.Errorf("the config repository does not render: %s", st.Render.Error)
		}
		ready := 0
		for _, ts := range st.Targets {
			if ts.Phase == "Ready" && strings.HasSuffix(ts.AppliedRevision, head) {
				ready++
			}
		}
		if progress := fmt.Sprintf("%d/%d tiers Ready", ready, len(st.Targets)); len(st.Targets) > 0 && progress != last {
			fmt.Printf("    %s\n", progress)
			last = progress
		}
		return len(st.Targets) > 0 && ready == len(st.Targets), nil
	})
}

func (d *demo) status() (daemon.Status, error) {
	var st daemon.Status
	resp, err := http.Get("http://" + d.listen + "/api/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// poll calls check until it reports done, fails, the daemon exits or the
// timeout passes. A daemon that exits is reported with its log.
func (d *demo) poll(ctx context.Context, timeout time.Duration, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-d.daemonDone:
			return d.daemonFailure("tandem serve exited")
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return d.daemonFailure(fmt.Sprintf("not done after %s", timeout))
		}
	}
}

// daemonFailure says what went wrong with the relevant lines of the
// daemon's log.
func (d *demo) daemonFailure(what string) error {
	return fmt.Errorf("%s; tandem serve log %s (last lines):\n%s", what, d.logPath, testbed.TailFile(d.logPath, 20))
}

// stop stops what was started, in reverse order.
func (d *demo) stop() error {
	var errs []error
	if d.daemon != nil {
		d.daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.daemonDone:
		case <-time.After(40 * time.Second):
			d.daemon.Process.Kill()
			<-d.daemonDone
		}
	}
	if d.git != nil {
		errs = append(errs, d.git.Close())
	}
	if d.fleet != nil {
		errs = append(errs, d.fleet.Stop())
	}
	return errors.Join(errs...)
}
