//go:build !linux

package main

import "os/exec"

// stopWithParent does nothing outside Linux: a child left behind by a benchmark that was killed must be
// stopped by hand.
func stopWithParent(*exec.Cmd) {}
