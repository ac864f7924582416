// Package exectest helps tests that run real commands: writing small scripts, and watching the processes they
// start.
package exectest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Script writes an executable sh script named name (which may contain directories) into dir and returns its path.
func Script(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// GroupScript is a script body that starts a child sleep, records the child's pid in child.pid (in its working
// directory), prints "started" and sleeps itself: killing only the script would leave the child running.
const GroupScript = "sleep 60 &\necho $! > child.pid\necho started\nsleep 60\n"

// WaitForPid returns the pid a script wrote to path, waiting up to 5s for the file to appear.
func WaitForPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s after 5s", filepath.Base(path))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// AssertGone fails the test unless process pid exits within 5s.
func AssertGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs, want it killed with its process group", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Alive reports whether process pid runs. A zombie, dead but not yet reaped by its new parent, does not count.
func Alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err) // no /proc on this system: trust kill
	}
	// The state follows the parenthesised command name: "123 (sleep) Z ...".
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || !strings.HasPrefix(string(stat[i+1:]), " Z")
}
