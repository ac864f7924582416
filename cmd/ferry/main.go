// Command ferry is Ferry's one binary: the CLI that starts and steers releases, the worker that runs them, and
// `ferry dev`, an embedded Temporal server with its Web UI for a laptop.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(mainCode()) }

// mainCode is main up to the exit: the process's signals, arguments and streams around run.
func mainCode() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal cancels ctx and every command returns; a second one kills at once, as usual.
	go func() {
		<-ctx.Done()
		stop()
	}()
	return run(ctx, os.Args, os.Stdout, os.Stderr)
}
