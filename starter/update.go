package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/workflows"
)

// RejectedError is a request the release refused, with nothing changed: an Update its validator rejected, a
// release that already ended, an unknown state. Reason is the workflow's own words.
type RejectedError struct {
	// Update is the rejected Update's name, empty when the request was no Update.
	Update string
	Reason string
}

func (e *RejectedError) Error() string { return e.Reason }

// NotFoundError says there is no release to act on.
type NotFoundError struct {
	Service string
	// Version is empty when the newest release was looked for.
	Version string
	// Running is set when only running releases were looked for.
	Running bool
}

func (e *NotFoundError) Error() string {
	switch {
	case e.Version != "":
		return fmt.Sprintf("no release %s %s", e.Service, e.Version)
	case e.Running:
		return "no running release of " + e.Service
	default:
		return "no release of " + e.Service
	}
}

// NoWorkerError says the release did not answer in time: no worker polls its task queue, or it is stuck.
type NoWorkerError struct {
	// What went unanswered: "status query" or an Update's name.
	What string
	Wait time.Duration
}

func (e *NoWorkerError) Error() string {
	msg := fmt.Sprintf("no worker answered the %s within %s", e.What, e.Wait)
	if strings.HasSuffix(e.What, " update") {
		// The server keeps an Update it accepted: a worker that comes back may still apply it.
		msg += "; it may still apply when a worker returns"
	}
	return msg
}

// Timeouts of requests that need a worker to answer. Without one, a query or an Update would wait forever.
const (
	queryTimeout  = 10 * time.Second
	updateTimeout = 30 * time.Second
)

// unanswered reports a deadline that the caller's ctx did not set: the request's own timeout ran out.
func unanswered(ctx context.Context, err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	var updateTimeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	return ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline) || errors.As(err, &updateTimeout))
}

// Approve records an approval of the environment's gate. Like every decision, it is an Update: it returns once
// the workflow accepted and recorded it, or a *RejectedError saying why not.
func Approve(ctx context.Context, c client.Client, run Run, in workflows.ApproveInput) (workflows.UpdateResult, error) {
	return update(ctx, c, run, workflows.UpdateApprove, in)
}

// Abort stops the release and rolls back what it changed. Reason is required by the workflow.
func Abort(ctx context.Context, c client.Client, run Run, in workflows.AbortInput) (workflows.UpdateResult, error) {
	return update(ctx, c, run, workflows.UpdateAbort, in)
}

// Pause holds the release at its current step until Resume.
func Pause(ctx context.Context, c client.Client, run Run, in workflows.PauseInput) (workflows.UpdateResult, error) {
	return update(ctx, c, run, workflows.UpdatePause, in)
}

// Resume continues a paused release, or a canary step that pauses for a human.
func Resume(ctx context.Context, c client.Client, run Run, in workflows.ResumeInput) (workflows.UpdateResult, error) {
	return update(ctx, c, run, workflows.UpdateResume, in)
}

// Promote skips the current bake (or, with Full, every remaining step and analysis).
func Promote(ctx context.Context, c client.Client, run Run, in workflows.PromoteInput) (workflows.UpdateResult, error) {
	return update(ctx, c, run, workflows.UpdatePromote, in)
}

// update sends one Update and waits for its outcome. The argument carries the identity and reason, so history
// records who decided and why.
func update(ctx context.Context, c client.Client, run Run, name string, arg any) (workflows.UpdateResult, error) {
	var res workflows.UpdateResult
	// A release continues as new between environments: a decision goes to its latest run, whatever run
	// the caller saw (one workflow ID is one release).
	err := sendUpdate(ctx, c, run.WorkflowID, name, arg, &res)
	var rejected *RejectedError
	var noWorker *NoWorkerError
	switch {
	case err == nil, errors.As(err, &rejected), errors.As(err, &noWorker):
		return res, err
	case isNotFound(err):
		return res, closedOrMissing(ctx, c, run, name)
	}
	return res, fmt.Errorf("%s %s %s: %w", name, run.Service, run.Version, err)
}

// sendUpdate sends the Update name with arg to the latest run of workflowID and waits, up to updateTimeout,
// for its result in res. A refusal by the workflow is a *RejectedError and no answer a *NoWorkerError; any
// other error is returned as it is, for the caller to judge.
func sendUpdate(ctx context.Context, c client.Client, workflowID, name string, arg, res any) error {
	uctx, cancel := context.WithTimeout(ctx, updateTimeout)
	defer cancel()
	h, err := c.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(uctx, res)
	}
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &appErr):
		return &RejectedError{Update: name, Reason: appErr.Message()}
	case unanswered(ctx, err):
		return &NoWorkerError{What: name + " update", Wait: updateTimeout}
	}
	return err
}

func isNotFound(err error) bool {
	var notFound *serviceerror.NotFound
	return errors.As(err, &notFound)
}

// missing returns a *NotFoundError for run when err is the server's NotFound, else other.
func missing(err error, run Run, other error) error {
	if isNotFound(err) {
		return &NotFoundError{Service: run.Service, Version: run.Version}
	}
	return other
}

// closedOrMissing tells a release that ended (the server answers NotFound for both) from one never started. It
// reads the release's latest run, whatever run the caller saw: a release ID is never reused, so that run is
// where the release ended, and an earlier one may have passed retention or only continued as new.
func closedOrMissing(ctx context.Context, c client.Client, run Run, name string) error {
	desc, err := c.DescribeWorkflowExecution(ctx, run.WorkflowID, "")
	if err != nil {
		return missing(err, run, fmt.Errorf("describe %s: %w", run.WorkflowID, err))
	}
	state := rowFromInfo(desc.GetWorkflowExecutionInfo(), converter.GetDefaultDataConverter()).State
	return &RejectedError{Update: name, Reason: fmt.Sprintf("release %s %s already ended (%s)", run.Service, run.Version, state)}
}

// Backfill pauses, resumes or resizes the running backfill of a release.
func Backfill(ctx context.Context, c client.Client, run Run, in workflows.BackfillInput) (workflows.UpdateResult, error) {
	return update(ctx, c, run, workflows.UpdateBackfill, in)
}
