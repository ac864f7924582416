package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/worker"
)

// WorkerOptions are the flags of `ferry worker`.
type WorkerOptions struct {
	// StopTimeout is how long a stopping worker lets running platform commands finish.
	StopTimeout time.Duration
}

func newWorkerCommand(g *GlobalOptions) *cli.Command {
	var opts WorkerOptions
	return &cli.Command{
		Name:  "worker",
		Usage: "run Ferry's workflows and activities until Ctrl-C",
		Description: "Polls --task-queue on --address. Run as many as you like; Temporal spreads the work.\n\n" +
			"Ctrl-C (or SIGTERM) stops taking work and lets running platform commands finish for up to\n" +
			"--stop-timeout; a second one, or the end of the timeout, stops them (SIGTERM, then SIGKILL).",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "stop-timeout", Usage: "how long a stopping worker lets running commands finish",
				EnvVars: []string{"FERRY_WORKER_STOP_TIMEOUT"}, Value: worker.DefaultWorkerStopTimeout, Destination: &opts.StopTimeout},
		},
		Action: action(func(c *cli.Context) error { return runWorker(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func runWorker(ctx context.Context, opts WorkerOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("worker", args); err != nil {
		return err
	}
	return g.withClient(ctx, func(c client.Client) error {
		w := worker.New(c, worker.Options{TaskQueue: g.TaskQueue, Logger: g.logger, WorkerStopTimeout: opts.StopTimeout})
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		err := g.printer().emit(devDoc{Address: g.Address, Namespace: g.Namespace, TaskQueue: g.TaskQueue}, func(w io.Writer) {
			fmt.Fprintf(w, "Worker polling task queue %s on %s (namespace %s). Stop with Ctrl-C.\n", g.TaskQueue, g.Address, g.Namespace)
		})
		if err == nil {
			<-ctx.Done()
		}
		stopWorker(w, g.logger)
		return err
	})
}

// stopWorker stops w once ctx (cancelled by the first SIGINT or SIGTERM) is done: running platform commands may
// finish within the worker's stop timeout. Another SIGINT or SIGTERM meanwhile stops them at once.
func stopWorker(w *worker.Worker, logger *slog.Logger) {
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	stopped := make(chan struct{})
	go func() {
		w.Stop()
		close(stopped)
	}()
	logger.Info("worker stopping: running commands may finish; interrupt again to stop them now")
	select {
	case <-stopped:
		return
	case <-again:
		logger.Warn("worker interrupted: stopping running commands")
		w.Interrupt()
	}
	<-stopped
}
