//go:build unix

package execrun

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts c as the leader of a new process group and makes cancellation kill the whole group,
// so that the children of a script (a sleep, a kubectl) die with it instead of lingering.
func ownProcessGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error {
		return syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
}
