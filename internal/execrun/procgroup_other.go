//go:build !unix

package execrun

import "os/exec"

// ownProcessGroup leaves c as it is: without Unix process groups, stopping reaches only the process itself.
func ownProcessGroup(c *exec.Cmd) {}

// terminate kills c: there is no SIGTERM to send.
func terminate(c *exec.Cmd) { _ = c.Process.Kill() }

// kill kills c.
func kill(c *exec.Cmd) { _ = c.Process.Kill() }

// groupAlive is false: once c has exited there is no group to wait for.
func groupAlive(c *exec.Cmd) bool { return false }
