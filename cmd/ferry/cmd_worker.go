package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/worker"
)

// WorkerOptions are the flags of `ferry worker`; it has none beyond the global ones.
type WorkerOptions struct{}

func newWorkerCommand(g *GlobalOptions) *cli.Command {
	var opts WorkerOptions
	return &cli.Command{
		Name:        "worker",
		Usage:       "run Ferry's workflows and activities until Ctrl-C",
		Description: "Polls --task-queue on --address. Run as many as you like; Temporal spreads the work.",
		Action:      action(func(c *cli.Context) error { return runWorker(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func runWorker(ctx context.Context, _ WorkerOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("worker", args); err != nil {
		return err
	}
	return g.withClient(ctx, func(c client.Client) error {
		w := worker.New(c, worker.Options{TaskQueue: g.TaskQueue, Logger: g.logger})
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		defer w.Stop()
		err := g.printer().emit(devDoc{Address: g.Address, Namespace: g.Namespace, TaskQueue: g.TaskQueue}, func(w io.Writer) {
			fmt.Fprintf(w, "Worker polling task queue %s on %s (namespace %s). Stop with Ctrl-C.\n", g.TaskQueue, g.Address, g.Namespace)
		})
		if err == nil {
			<-ctx.Done()
		}
		return err
	})
}
