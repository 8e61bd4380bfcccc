package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one control-plane component running in its own process group,
// logging to a file.
type process struct {
	name    string // e.g. "plant-a/kube-apiserver"
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	mu      sync.Mutex
	exitErr error
}

// startProcess starts bin with args, logging stdout and stderr to logPath.
// With detach false the process is also killed when this one dies, so a
// crashed test cannot leave it behind.
func startProcess(name, bin string, args []string, logPath string, detach bool) (*process, error) {
	return startProcessEnv(name, bin, args, nil, logPath, detach)
}

// startProcessEnv is startProcess with env ("KEY=value") added to this
// process's environment.
func startProcessEnv(name, bin string, args, env []string, logPath string, detach bool) (*process, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("start %s: %w (run \"make controlplane\" to build the control planes)", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !detach {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.exitErr
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and
// waits for the process to exit.
func (p *process) stop(grace time.Duration) error {
	if done, _ := p.exited(); done {
		return nil
	}
	return stopGroup(p.cmd.Process.Pid, grace, p.done)
}

// stopGroup terminates the process group pgid. done, when not nil, is closed
// once the leader has been reaped; without it the group is polled.
func stopGroup(pgid int, grace time.Duration, done <-chan struct{}) error {
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("signal process group %d: %w", pgid, err)
	}
	if waitGone(pgid, grace, done) {
		return nil
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pgid, err)
	}
	if !waitGone(pgid, 10*time.Second, done) {
		return fmt.Errorf("process group %d survived SIGKILL", pgid)
	}
	return nil
}

// waitGone waits up to d for the group to disappear.
func waitGone(pgid int, d time.Duration, done <-chan struct{}) bool {
	deadline := time.After(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if done != nil {
			select {
			case <-done:
				done = nil // the leader is reaped; wait for the rest of the group
			default:
			}
		}
		if done == nil && syscall.Kill(-pgid, 0) != nil {
			return true
		}
		select {
		case <-deadline:
			return false
		case <-tick.C:
		}
	}
}

// logTail returns the last lines of the process's log, for error messages.
func (p *process) logTail(lines int) string {
	return TailFile(p.logPath, lines)
}

// TailFile returns the last lines of a log file, or why it cannot.
func TailFile(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	all := strings.Split(string(bytes.TrimRight(data, "\n")), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// failure wraps err with the component's name, log path and log tail.
func (p *process) failure(err error) error {
	return fmt.Errorf("%s: %w\nlog %s (last lines):\n%s", p.name, err, p.logPath, p.logTail(30))
}
