package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// WritePIDFile records this process in path, so that a later "down" command
// of the same program can find and stop it.
func WritePIDFile(path string) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// RunningPID returns the process recorded in path if it still runs the same
// program as this process; a stale file whose pid was reused by another
// program yields false, so that nothing unrelated is ever signalled.
func RunningPID(path string) (int, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0, false
	}
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return 0, false
	}
	ours, err := os.Executable()
	if err != nil {
		return 0, false
	}
	return pid, filepath.Base(strings.TrimSuffix(theirs, " (deleted)")) == filepath.Base(ours)
}

// StopRecorded sends SIGTERM to the process recorded in path, if it still
// runs this program, and waits up to timeout for it to exit. It reports
// whether there was such a process.
func StopRecorded(path string, timeout time.Duration) (bool, error) {
	pid, ok := RunningPID(path)
	if !ok || syscall.Kill(pid, syscall.SIGTERM) != nil {
		return false, nil
	}
	deadline := time.Now().Add(timeout)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return true, fmt.Errorf("process %d did not stop within %s", pid, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true, nil
}
