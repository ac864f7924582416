package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// Activity option presets. Activities hold no retry loops: these policies are the only retries.

// commandHeartbeat bounds the silence of a running command activity (they heartbeat every second), so a lost
// worker is noticed and its command retried soon.
const commandHeartbeat = 15 * time.Second

// legacyCommandHeartbeat is commandHeartbeat for releases begun before waitForCancelChange.
const legacyCommandHeartbeat = 30 * time.Second

// waitForCancelChange is the GetVersion change ID under which a cancelled platform activity is waited for: an
// abort must not start the rollback while the cancelled command still runs (a deploy landing after the rollback
// would undo it). The change also shortened commandHeartbeat.
const waitForCancelChange = "platform-activity-wait-for-cancellation"

// nonRetryable are error types that no retry can fix.
var nonRetryable = []string{ErrTypeInvalid, activities.ErrTypeReadinessTimeout}

// migrationNonRetryable are the migration failures that no retry can fix.
var migrationNonRetryable = []string{ErrTypeInvalid, activities.ErrTypeLint, activities.ErrTypeChecksumMismatch}

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
	// artifactRetry retries what a registry or an engine that was briefly away explains, never a failed build
	// or a missing image.
	artifactRetry = temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
		MaximumInterval: 30 * time.Second, MaximumAttempts: 5,
		NonRetryableErrorTypes: []string{ErrTypeInvalid, activities.ErrTypeBuildFailed, activities.ErrTypeImageNotFound}}
	// expandRetry backs off on lock timeouts: the lock holder is usually a long query of the running version.
	expandRetry = temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2,
		MaximumInterval: time.Minute, MaximumAttempts: 10, NonRetryableErrorTypes: migrationNonRetryable}
	// backfillRetry resumes a backfill from its heartbeat after a lost worker, a lost connection or a lock
	// timeout.
	backfillRetry = temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
		MaximumInterval: time.Minute, MaximumAttempts: 30, NonRetryableErrorTypes: migrationNonRetryable}
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

// commandTimeout is one platform operation's own timeout plus slack for the activity around it, which covers the
// grace period a command that timed out gets to exit (execrun.DefaultStopGrace).
func commandTimeout(p spec.Platform) time.Duration {
	op, _ := p.Limits()
	return orDefault(op, 5*time.Minute) + 30*time.Second
}

// platformOptions run one platform command.
func platformOptions(ctx workflow.Context, p spec.Platform, summary string) workflow.Context {
	return commandOptions(ctx, summary, commandTimeout(p), deployRetry)
}

// rollbackOptions run a platform command that undoes a release.
func rollbackOptions(ctx workflow.Context, p spec.Platform, summary string) workflow.Context {
	return commandOptions(ctx, summary, commandTimeout(p), rollbackRetry)
}

// readyOptions wait for readiness: the activity polls and heartbeats, and resumes from its heartbeat.
func readyOptions(ctx workflow.Context, p spec.Platform, summary string) workflow.Context {
	_, ready := p.Limits()
	return commandOptions(ctx, summary, orDefault(ready, 10*time.Minute)+time.Minute, readyRetry)
}

// commandOptions run a platform activity. When ctx is cancelled, the activity's result arrives only once the
// activity has ended (it stops its command first), so nothing the workflow does next races the command.
func commandOptions(ctx workflow.Context, summary string, startToClose time.Duration, retry temporal.RetryPolicy) workflow.Context {
	if workflow.GetVersion(ctx, waitForCancelChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return withOptions(ctx, summary, startToClose, legacyCommandHeartbeat, retry)
	}
	ctx = withOptions(ctx, summary, startToClose, commandHeartbeat, retry)
	opts := workflow.GetActivityOptions(ctx)
	opts.WaitForCancellation = true
	return workflow.WithActivityOptions(ctx, opts)
}

// checkOptions run one probe.
func checkOptions(ctx workflow.Context, c spec.Check, summary string) workflow.Context {
	return withOptions(ctx, summary, orDefault(c.Timeout.D(), 30*time.Second)+10*time.Second, 0, probeRetry)
}

// admitOptions run the worker's admission of a release: quick, read-only, retried only for worker trouble.
func admitOptions(ctx workflow.Context) workflow.Context {
	return withOptions(ctx, "admit the release", 30*time.Second, 0, probeRetry)
}

// buildOptions build and push the release's image. A build can take long and print nothing for a while: the
// activity heartbeats every second regardless. A failed build is final; a failed push is retried.
func buildOptions(ctx workflow.Context, summary string) workflow.Context {
	return withOptions(ctx, summary, time.Hour, time.Minute, artifactRetry)
}

// resolveOptions ask the registry for an image's digest: quick and read-only.
func resolveOptions(ctx workflow.Context, summary string) workflow.Context {
	return withOptions(ctx, summary, time.Minute, 0, artifactRetry)
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
