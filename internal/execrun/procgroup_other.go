//go:build !unix

package execrun

import "os/exec"

// ownProcessGroup leaves c as it is: without Unix process groups, cancellation kills only the process itself.
func ownProcessGroup(c *exec.Cmd) {}
