//go:build unix && !linux

package execrun

import "syscall"

// dieWithParent does nothing: only Linux can tie a command's life to its parent's.
func dieWithParent(attr *syscall.SysProcAttr) {}
