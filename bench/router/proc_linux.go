package main

import (
	"os/exec"
	"syscall"
)

// stopWithParent makes the kernel send the child SIGTERM if the benchmark dies without stopping it.
func stopWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
