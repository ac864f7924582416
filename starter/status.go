package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// closedQueryTimeout bounds the status query of a closed release, which a worker answers by replaying its
// history. Without a worker the final result stands in for the status, so there is no point in waiting long.
const closedQueryTimeout = 5 * time.Second

// queryContext bounds one query at d. The SDK gives each call half of what is left of its context's deadline
// (at most 10 s) and does not retry a call that timed out, so the context gets twice d: the query then waits
// d, as the messages that name d say, not d/2.
func queryContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 2*d)
}

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
	st, _, err := statusOf(ctx, c, run, 0)
	return st, err
}

// statusOf is StatusOf with each read that needs no worker (describe, a closed release's result) bounded at
// read, so that a follower notices an outage within it; zero leaves them to ctx. It also returns the run it
// read: the release's latest run when run continued as new, so a follower asks that one next time.
func statusOf(ctx context.Context, c client.Client, run Run, read time.Duration) (workflows.Status, Run, error) {
	dctx, cancel := bounded(ctx, read)
	desc, err := c.DescribeWorkflowExecution(dctx, run.WorkflowID, run.RunID)
	cancel()
	if err != nil {
		return workflows.Status{}, run, missing(err, run, fmt.Errorf("describe %s: %w", run.WorkflowID, err))
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW && run.RunID != "" {
		// The release went on in a new run (between environments): follow it. A release's workflow ID is
		// never reused (Start), so its latest run is that new run or one after it.
		run.RunID = ""
		return statusOf(ctx, c, run, read)
	}
	run.RunID = info.GetExecution().GetRunId()
	st, err := runStatus(ctx, c, run, read, desc)
	return st, run, err
}

// runStatus is the status of run, which desc describes.
func runStatus(ctx context.Context, c client.Client, run Run, read time.Duration, desc *workflowservice.DescribeWorkflowExecutionResponse) (workflows.Status, error) {
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		qctx, cancel := queryContext(ctx, queryTimeout)
		defer cancel()
		st, err := query(qctx, c, run)
		if err == nil {
			liveBackfill(&st, desc)
		}
		if err != nil && unanswered(ctx, err) {
			// A query also goes unanswered when Temporal itself went away: that is no missing worker.
			hctx, cancel := context.WithTimeout(ctx, healthTimeout)
			defer cancel()
			if _, herr := c.CheckHealth(hctx, &client.CheckHealthRequest{}); herr != nil && ctx.Err() == nil {
				return st, fmt.Errorf("query status of %s: %w", run.WorkflowID, herr)
			}
			return st, &NoWorkerError{What: "status query", Wait: queryTimeout}
		}
		return st, err
	}
	wctx, cancel := bounded(ctx, read)
	res, err := Wait(wctx, c, run)
	cancel()
	var outcome *OutcomeError
	if err != nil && !errors.As(err, &outcome) {
		return workflows.Status{}, err
	}
	qctx, cancel := queryContext(ctx, closedQueryTimeout)
	defer cancel()
	st, err := query(qctx, c, run)
	if err != nil {
		st = workflows.Status{Service: res.Service, Version: res.Version, Image: res.Image, Digest: res.Digest, Stage: workflows.StageDone}
		st.StartedAt = info.GetStartTime().AsTime()
		st.UpdatedAt = info.GetCloseTime().AsTime()
	}
	st.State, st.Reason = res.State, res.Reason
	if len(res.Environments) > 0 {
		st.Environments = res.Environments
	}
	return st, nil
}

// healthTimeout bounds the health check that tells an unanswered query from an unreachable Temporal.
const healthTimeout = 5 * time.Second

// bounded is ctx with a timeout of d, or ctx itself for a zero d.
func bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// queryAttempts bounds how often a status query is asked when the worker fails it. A worker can fail one query
// and answer the next: a query delivered while the release's history moves on (a workflow task completing
// between the query's dispatch and its delivery) can fail to replay on the worker, and the next one does not.
const queryAttempts = 3

// queryRetry is the wait before the second attempt; it grows by itself with each attempt.
const queryRetry = 250 * time.Millisecond

func query(ctx context.Context, c client.Client, run Run) (workflows.Status, error) {
	for attempt := 1; ; attempt++ {
		st, err := queryOnce(ctx, c, run)
		var failed *serviceerror.QueryFailed
		if err == nil || !errors.As(err, &failed) || attempt == queryAttempts {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, err
		case <-time.After(time.Duration(attempt) * queryRetry):
		}
	}
}

func queryOnce(ctx context.Context, c client.Client, run Run) (workflows.Status, error) {
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
	var (
		terminated *temporal.TerminatedError
		canceled   *temporal.CanceledError
	)
	if errors.As(err, &terminated) || errors.As(err, &canceled) {
		// Someone ended the release from outside (the Temporal UI or API): the SDK's error does not say who.
		// Without history the generic reason stands.
		if by, ok := interruptionOf(ctx, c, run.WorkflowID, terminated != nil); ok {
			outcome.Result.Reason = by.reason(outcome.Result.Reason)
		}
	}
	return outcome.Result, outcome
}

// interruption is who ended a release from outside, and why: a termination, or the request to cancel it.
type interruption struct {
	terminated bool
	identity   string
	why        string
}

// reason is the release's reason (workflowReason) with who interrupted it: "terminated by ops@example: stuck" or, for the
// workflow's own "cancelled; rolled back production", "cancelled by ops@example: wrong build; rolled back
// production".
func (in interruption) reason(workflowReason string) string {
	by := "by " + in.identity
	if in.identity == "" {
		by = "by an unknown identity"
	}
	if in.why != "" {
		by += ": " + in.why
	}
	if in.terminated {
		return "terminated " + by
	}
	for _, word := range []string{"cancelled", "canceled"} {
		if rest, ok := strings.CutPrefix(workflowReason, word); ok {
			return "cancelled " + by + rest
		}
	}
	return strings.Join(nonEmpty(workflowReason, "cancel requested "+by), "; ")
}

// interruptionOf reads who terminated the latest run of workflowID (its close event), or who requested that it
// be cancelled (the cancel request event). ok is false when history does not say.
func interruptionOf(ctx context.Context, c client.Client, workflowID string, terminated bool) (interruption, bool) {
	filter := enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT
	if terminated {
		filter = enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT
	}
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, filter)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return interruption{}, false
		}
		if a := e.GetWorkflowExecutionTerminatedEventAttributes(); terminated && a != nil {
			return interruption{terminated: true, identity: a.GetIdentity(), why: a.GetReason()}, true
		}
		if a := e.GetWorkflowExecutionCancelRequestedEventAttributes(); !terminated && a != nil {
			return interruption{identity: a.GetIdentity(), why: a.GetCause()}, true
		}
	}
	return interruption{}, false
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
