package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// closedQueryTimeout bounds the status query of a closed release, which a worker answers by replaying its
// history. Without a worker the final result stands in for the status, so there is no point in waiting long.
const closedQueryTimeout = 5 * time.Second

// OutcomeError is a release that ended other than succeeded: failed, rolled back, aborted or superseded.
type OutcomeError struct {
	Result workflows.ReleaseResult
	// Type is the workflow's ApplicationError type (workflows.ErrType*), empty when it closed otherwise.
	Type string
}

func (e *OutcomeError) Error() string {
	s := fmt.Sprintf("%s %s %s", e.Result.Service, e.Result.Version, strings.ReplaceAll(e.Result.State, "_", " "))
	if e.Result.Reason != "" {
		s += ": " + e.Result.Reason
	}
	return s
}

// Status returns the status of service at version, or with an empty version of its newest release (running
// first). It works for closed releases too.
func Status(ctx context.Context, c client.Client, service, version string) (workflows.Status, error) {
	run, err := Newest(ctx, c, service, version)
	if err != nil {
		return workflows.Status{}, err
	}
	return StatusOf(ctx, c, run)
}

// StatusOf returns the status of run. For a running release it is the workflow's answer to QueryStatus. For a
// closed one the final ReleaseResult is authoritative for state and reason; the query, when a worker answers it,
// adds the rest.
func StatusOf(ctx context.Context, c client.Client, run Run) (workflows.Status, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, run.WorkflowID, run.RunID)
	if err != nil {
		return workflows.Status{}, missing(err, run, fmt.Errorf("describe %s: %w", run.WorkflowID, err))
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW && run.RunID != "" {
		// The release went on in a new run (between environments): follow it.
		run.RunID = ""
		return StatusOf(ctx, c, run)
	}
	run.RunID = info.GetExecution().GetRunId()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		st, err := query(qctx, c, run)
		if err != nil && unanswered(ctx, err) {
			return st, &NoWorkerError{What: "status query", Wait: queryTimeout}
		}
		return st, err
	}
	res, err := Wait(ctx, c, run)
	var outcome *OutcomeError
	if err != nil && !errors.As(err, &outcome) {
		return workflows.Status{}, err
	}
	qctx, cancel := context.WithTimeout(ctx, closedQueryTimeout)
	defer cancel()
	st, err := query(qctx, c, run)
	if err != nil {
		st = workflows.Status{Service: res.Service, Version: res.Version, Image: res.Image, Stage: workflows.StageDone}
		st.StartedAt = info.GetStartTime().AsTime()
		st.UpdatedAt = info.GetCloseTime().AsTime()
	}
	st.State, st.Reason = res.State, res.Reason
	if len(res.Environments) > 0 {
		st.Environments = res.Environments
	}
	return st, nil
}

func query(ctx context.Context, c client.Client, run Run) (workflows.Status, error) {
	var st workflows.Status
	v, err := c.QueryWorkflow(ctx, run.WorkflowID, run.RunID, workflows.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		return st, fmt.Errorf("query status of %s: %w", run.WorkflowID, err)
	}
	return st, nil
}

// Wait blocks until run closes and returns its ReleaseResult. A release that did not succeed returns the result
// and an *OutcomeError; any other error means the outcome is unknown (Temporal unreachable, no such release).
func Wait(ctx context.Context, c client.Client, run Run) (workflows.ReleaseResult, error) {
	var res workflows.ReleaseResult
	err := c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &res)
	if res.Service == "" {
		res.Service, res.Version = run.Service, run.Version
	}
	if err == nil {
		if res.State == "" {
			res.State = workflows.StateSucceeded
		}
		if res.State != workflows.StateSucceeded {
			return res, &OutcomeError{Result: res}
		}
		return res, nil
	}
	outcome := outcomeOf(err, res)
	if outcome == nil {
		return res, fmt.Errorf("wait for %s: %w", run.WorkflowID, err)
	}
	return outcome.Result, outcome
}

// outcomeOf reads the outcome of a workflow that closed with err, or returns nil when err is no workflow outcome.
func outcomeOf(err error, res workflows.ReleaseResult) *OutcomeError {
	var (
		appErr     *temporal.ApplicationError
		terminated *temporal.TerminatedError
		canceled   *temporal.CanceledError
		timeout    *temporal.TimeoutError
	)
	out := &OutcomeError{Result: res}
	switch {
	case errors.As(err, &appErr):
		out.Type = appErr.Type()
		if appErr.HasDetails() {
			_ = appErr.Details(&out.Result)
		}
		if out.Result.Service == "" {
			out.Result.Service, out.Result.Version = res.Service, res.Version
		}
		if out.Result.State == "" {
			out.Result.State = stateOfErrType(out.Type)
		}
		if out.Result.Reason == "" {
			out.Result.Reason = appErr.Message()
		}
	case errors.As(err, &terminated):
		out.Result.State, out.Result.Reason = workflows.StateFailed, "terminated"
	case errors.As(err, &canceled):
		if canceled.HasDetails() {
			_ = canceled.Details(&out.Result)
		}
		if out.Result.State == "" {
			out.Result.State, out.Result.Reason = workflows.StateAborted, "canceled"
		}
	case errors.As(err, &timeout):
		out.Result.State, out.Result.Reason = workflows.StateFailed, "timed out"
	default:
		return nil
	}
	return out
}

// stateOfErrType maps the ApplicationError type of a release that failed without a ReleaseResult in its details.
func stateOfErrType(t string) string {
	switch t {
	case workflows.ErrTypeRolledBack:
		return workflows.StateRolledBack
	case workflows.ErrTypeAborted:
		return workflows.StateAborted
	default:
		return workflows.StateFailed
	}
}

// Watch polls run every interval and calls fn with each status until the release ends or ctx is done. It returns
// the last status; on ctx's end also ctx's error. While no worker answers (a worker restart), it keeps watching
// and reports the last known status with Waiting saying so.
func Watch(ctx context.Context, c client.Client, run Run, interval time.Duration, fn func(workflows.Status)) (workflows.Status, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last workflows.Status
	for {
		st, err := StatusOf(ctx, c, run)
		var noWorker *NoWorkerError
		switch {
		case errors.As(err, &noWorker):
			// The release is durable: a worker restart does not end it, so neither does the watch.
			st = last
			st.Service, st.Version, st.State = run.Service, run.Version, workflows.StateRunning
			st.Waiting = "a worker (" + noWorker.Error() + "; the release resumes when one runs)"
		case err != nil:
			return st, err
		default:
			last = st
		}
		fn(st)
		if st.State != workflows.StateRunning {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}

// StatusLine renders a status as one line: "checkout 1.4.2: production canary, step 2/3, weight 50%, bake 4m12s
// left" or "checkout 1.4.2: production, waiting for approval by alice (0/1)". With a zero now the bake countdown is left out, which makes the line a key that
// changes only when the release moves.
func StatusLine(st workflows.Status, now time.Time) string {
	head := fmt.Sprintf("%s %s: ", st.Service, st.Version)
	if st.State != workflows.StateRunning {
		s := head + strings.ReplaceAll(st.State, "_", " ")
		if st.Reason != "" {
			s += ": " + st.Reason
		}
		return s
	}
	// What the release waits for says more than the stage it waits in.
	where := strings.TrimSpace(st.Env + " " + st.Stage)
	if st.Waiting != "" {
		where = st.Env
	}
	parts := nonEmpty(where)
	if st.Steps > 0 {
		parts = append(parts, fmt.Sprintf("step %d/%d", st.Step, st.Steps))
	}
	if st.Weight > 0 || st.Stage == workflows.StageCanary {
		parts = append(parts, fmt.Sprintf("weight %d%%", st.Weight))
	}
	if !st.BakeUntil.IsZero() && !now.IsZero() {
		left := max(st.BakeUntil.Sub(now).Round(time.Second), 0)
		parts = append(parts, "bake "+spec.FormatDuration(left)+" left")
	}
	if st.Paused {
		parts = append(parts, "paused")
	}
	if st.Waiting != "" {
		parts = append(parts, "waiting for "+strings.TrimPrefix(st.Waiting, "waiting for "))
	}
	return head + strings.Join(parts, ", ")
}
