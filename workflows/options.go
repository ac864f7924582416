package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// Activity option presets. Activities hold no retry loops: these policies are the only retries.

// nonRetryable are error types that no retry can fix.
var nonRetryable = []string{ErrTypeInvalid, activities.ErrTypeReadinessTimeout}

// commandHeartbeat bounds the silence of a running command activity (they heartbeat every few seconds), so
// a lost worker is noticed and a cancellation reaches the command quickly.
const commandHeartbeat = 30 * time.Second

// platformOptions run one platform command: its own timeout plus slack, a few retries with backoff.
func platformOptions(ctx workflow.Context, p spec.ExecPlatform, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: orDefault(p.Timeout.D(), 5*time.Minute) + 30*time.Second,
		HeartbeatTimeout:    commandHeartbeat,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
}

// rollbackOptions retry harder than deploys: a rollback that gives up leaves traffic on a bad version.
func rollbackOptions(ctx workflow.Context, p spec.ExecPlatform, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: orDefault(p.Timeout.D(), 5*time.Minute) + 30*time.Second,
		HeartbeatTimeout:    commandHeartbeat,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        10,
			NonRetryableErrorTypes: []string{ErrTypeInvalid},
		},
	})
}

// readyOptions wait for readiness: the activity polls and heartbeats, and resumes from its heartbeat.
func readyOptions(ctx workflow.Context, p spec.ExecPlatform, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: orDefault(p.ReadyTimeout.D(), 10*time.Minute) + time.Minute,
		HeartbeatTimeout:    commandHeartbeat,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
}

// checkOptions run one probe. A failing probe is a result, so retries only cover worker trouble.
func checkOptions(ctx workflow.Context, c spec.Check, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: orDefault(c.Timeout.D(), 30*time.Second) + 10*time.Second,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
}

// lockOptions deliver a signal-with-start to an EnvLock workflow.
func lockOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		Summary:             "request the environment lock",
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
			MaximumAttempts:    20,
		},
	})
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
