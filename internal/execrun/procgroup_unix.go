//go:build unix

package execrun

import (
	"errors"
	"os/exec"
	"syscall"
)

// ownProcessGroup starts c as the leader of a new process group, so that stopping it reaches the children of a
// script (a sleep, a kubectl) too instead of leaving them behind.
func ownProcessGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(c.SysProcAttr)
}

// terminate asks c's process group to exit.
func terminate(c *exec.Cmd) {
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
}

// kill ends what is left of c's process group.
func kill(c *exec.Cmd) {
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
}

// groupAlive reports whether any process of c's group still exists (a zombie not yet reaped by its new parent
// counts, which at worst makes the caller wait out its grace period).
func groupAlive(c *exec.Cmd) bool {
	return !errors.Is(syscall.Kill(-c.Process.Pid, 0), syscall.ESRCH)
}
