//go:build linux

package execrun

import "syscall"

// dieWithParent has the kernel SIGKILL the command when the thread that started it dies, which in Go means the
// process: a worker killed with SIGKILL cannot stop its commands, and a command left running would race the
// retry another worker starts. Only the command itself gets the signal, not what it started.
//
// The Go runtime ends a thread only when a goroutine locked to it exits; Run is never called from one.
func dieWithParent(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
