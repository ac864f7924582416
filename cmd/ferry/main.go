// Command ferry is Ferry's one binary: the CLI that starts and steers releases, the worker that runs them, and
// `ferry dev`, an embedded Temporal server with its Web UI for a laptop.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
