package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// Activity option presets. Activities hold no retry loops: these policies are the only retries.

// commandHeartbeat bounds the silence of a running command activity (they heartbeat every few seconds), so
// a lost worker is noticed and a cancellation reaches the command quickly.
const commandHeartbeat = 30 * time.Second

// nonRetryable are error types that no retry can fix.
var nonRetryable = []string{ErrTypeInvalid, activities.ErrTypeReadinessTimeout}

// Retry policies, by what a failure costs.
var (
	// deployRetry: a few attempts with backoff, then the environment rolls back.
	deployRetry = temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
		MaximumInterval: 30 * time.Second, MaximumAttempts: 3, NonRetryableErrorTypes: nonRetryable}
	// rollbackRetry tries harder: a rollback that gives up leaves traffic on a bad version.
	rollbackRetry = temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
		MaximumInterval: time.Minute, MaximumAttempts: 10, NonRetryableErrorTypes: []string{ErrTypeInvalid}}
	// probeRetry covers worker trouble only: a failing probe is a result, not an error.
	probeRetry = temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3, NonRetryableErrorTypes: nonRetryable}
	// readyRetry resumes a readiness wait from its heartbeat after a lost worker.
	readyRetry = temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5, NonRetryableErrorTypes: nonRetryable}
	// lockRetry keeps asking for the environment lock while the server is briefly unavailable.
	lockRetry = temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
		MaximumInterval: 30 * time.Second, MaximumAttempts: 20}
)

func withOptions(ctx workflow.Context, summary string, startToClose, heartbeat time.Duration, retry temporal.RetryPolicy) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: startToClose,
		HeartbeatTimeout:    heartbeat,
		Summary:             summary,
		RetryPolicy:         &retry,
	})
}

// commandTimeout is one platform command's own timeout plus slack for the activity around it.
func commandTimeout(p spec.ExecPlatform) time.Duration {
	return orDefault(p.Timeout.D(), 5*time.Minute) + 30*time.Second
}

// platformOptions run one platform command.
func platformOptions(ctx workflow.Context, p spec.ExecPlatform, summary string) workflow.Context {
	return withOptions(ctx, summary, commandTimeout(p), commandHeartbeat, deployRetry)
}

// rollbackOptions run a platform command that undoes a release.
func rollbackOptions(ctx workflow.Context, p spec.ExecPlatform, summary string) workflow.Context {
	return withOptions(ctx, summary, commandTimeout(p), commandHeartbeat, rollbackRetry)
}

// readyOptions wait for readiness: the activity polls and heartbeats, and resumes from its heartbeat.
func readyOptions(ctx workflow.Context, p spec.ExecPlatform, summary string) workflow.Context {
	return withOptions(ctx, summary, orDefault(p.ReadyTimeout.D(), 10*time.Minute)+time.Minute, commandHeartbeat, readyRetry)
}

// checkOptions run one probe.
func checkOptions(ctx workflow.Context, c spec.Check, summary string) workflow.Context {
	return withOptions(ctx, summary, orDefault(c.Timeout.D(), 30*time.Second)+10*time.Second, 0, probeRetry)
}

// lockOptions deliver a signal-with-start to an EnvLock workflow.
func lockOptions(ctx workflow.Context) workflow.Context {
	return withOptions(ctx, "request the environment lock", 30*time.Second, 0, lockRetry)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
