// Package worker wires Ferry's worker: it builds the real clients the activities need and registers every
// workflow and activity under its recorded name. `ferry worker` and `ferry dev` use it; so do integration tests.
package worker

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/execrun"
	"github.com/ferryhq/ferry/internal/probe"
	"github.com/ferryhq/ferry/workflows"
)

// DefaultTaskQueue is the task queue of Options.TaskQueue when it is empty, and the CLI's default.
const DefaultTaskQueue = "ferry"

// Options configure New.
type Options struct {
	// TaskQueue is the queue the worker polls, for workflows and activities alike. Default DefaultTaskQueue.
	TaskQueue string
	// Logger receives the worker's own records. The SDK logs through the client's logger, which Dial sets.
	// Default slog.Default().
	Logger *slog.Logger
}

// New returns a worker, not yet started, that runs every Ferry workflow and activity on opts.TaskQueue with c.
// It registers the Release and EnvLock workflows under workflows.ReleaseWorkflow and workflows.EnvLockWorkflow,
// and the methods of the Platform, Checks and Temporal activity structs under their method names. The caller
// starts it (Start or Run) and stops it; Stop lets running activities finish.
func New(c client.Client, opts Options) sdkworker.Worker {
	if opts.TaskQueue == "" {
		opts.TaskQueue = DefaultTaskQueue
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := sdkworker.New(c, opts.TaskQueue, sdkworker.Options{})

	w.RegisterWorkflowWithOptions(workflows.Release, workflow.RegisterOptions{Name: workflows.ReleaseWorkflow})
	w.RegisterWorkflowWithOptions(workflows.EnvLock, workflow.RegisterOptions{Name: workflows.EnvLockWorkflow})
	w.RegisterWorkflowWithOptions(workflows.PausedAnalysis, workflow.RegisterOptions{Name: workflows.PausedAnalysisWorkflow})

	runner := execrun.Runner{}
	w.RegisterActivity(&activities.Platform{Runner: runner})
	w.RegisterActivity(&activities.Checks{Runner: runner, HTTP: probe.New()})
	w.RegisterActivity(&activities.Temporal{Client: c})

	opts.Logger.Debug("ferry worker registered", "taskQueue", opts.TaskQueue)
	return w
}

// DialOptions configure Dial.
type DialOptions struct {
	// HostPort is the frontend address, such as "127.0.0.1:7233".
	HostPort string
	// Namespace is the client's namespace. Empty means Temporal's "default".
	Namespace string
	// Logger receives the SDK's logs through its slog adapter. Default slog.Default().
	Logger *slog.Logger
}

// Dial connects to Temporal and checks that the server answers before it returns. ctx bounds the attempt. When
// the server cannot be reached, the error wraps the SDK's (a gRPC Unavailable or the context's error). The caller
// closes the client.
func Dial(ctx context.Context, opts DialOptions) (client.Client, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  opts.HostPort,
		Namespace: opts.Namespace,
		Logger:    sdklog.NewStructuredLogger(logger),
	})
	if err != nil {
		return nil, fmt.Errorf("dial temporal at %s: %w", opts.HostPort, err)
	}
	return c, nil
}
