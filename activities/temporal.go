package activities

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// SignalWithStartInput signals a workflow, starting it first if it is not running.
type SignalWithStartInput struct {
	WorkflowID   string `json:"workflowId"`
	WorkflowType string `json:"workflowType"`
	TaskQueue    string `json:"taskQueue"`
	Signal       string `json:"signal"`
	SignalArg    any    `json:"signalArg"`
	WorkflowArg  any    `json:"workflowArg"`
}

// WorkflowClient is the part of client.Client that Temporal uses; a client.Client satisfies it.
type WorkflowClient interface {
	SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
		options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// Temporal holds the activities that talk to Temporal itself, for what a workflow cannot do from its sandbox
// (a workflow can signal a running workflow, but not start one and signal it atomically). The worker registers
// &Temporal{Client: c} with its own client.Client.
type Temporal struct {
	Client WorkflowClient
}

// WorkflowRunningInput names a workflow. RunID is the run the caller knows of; a later run of the same
// workflow ID counts too.
type WorkflowRunningInput struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

// WorkflowRunning reports whether the workflow in.WorkflowID has an open run: in.RunID, or a run that
// continued it (continue-as-new, reset). It asks about the workflow ID's current run, which is the open one
// if any is: a release's workflow ID is never reused by another release, so a later run is the same
// release. EnvLock calls it to free an environment whose holder ended without giving the lock back (a
// terminated release). Read-only, so idempotent; retryable. A workflow the server no longer knows is not
// running.
func (t *Temporal) WorkflowRunning(ctx context.Context, in WorkflowRunningInput) (bool, error) {
	desc, err := t.Client.DescribeWorkflowExecution(ctx, in.WorkflowID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("describe %s: %w", in.WorkflowID, err)
	}
	return desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// SignalWithStart delivers in.Signal to the running workflow in.WorkflowID, or starts that workflow (type
// in.WorkflowType on in.TaskQueue, argument in.WorkflowArg) and delivers the signal as its first event. The
// Release workflow calls it to reach its EnvLock.
//
// Retryable: a failed call is retried by Temporal. Idempotent only together with the receiver: the start half is
// (an existing run is reused), but a retry after a call whose response was lost delivers the signal twice, so the
// receiving workflow must de-duplicate signals (EnvLock keys requests by the sender's workflow ID). Input the
// server rejects as invalid is a non-retryable ErrTypeInvalidSpec.
func (t *Temporal) SignalWithStart(ctx context.Context, in SignalWithStartInput) error {
	if in.WorkflowID == "" || in.WorkflowType == "" || in.TaskQueue == "" || in.Signal == "" {
		return invalidSpec("signal-with-start needs workflow ID, workflow type, task queue and signal", nil)
	}
	opts := client.StartWorkflowOptions{
		ID:                       in.WorkflowID,
		TaskQueue:                in.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}
	var args []any
	if in.WorkflowArg != nil {
		args = append(args, in.WorkflowArg)
	}
	_, err := t.Client.SignalWithStartWorkflow(ctx, in.WorkflowID, in.Signal, in.SignalArg, opts, in.WorkflowType, args...)
	var invalid *serviceerror.InvalidArgument
	switch {
	case errors.As(err, &invalid):
		return invalidSpec(fmt.Sprintf("signal-with-start %s %s rejected", in.WorkflowID, in.Signal), err)
	case err != nil:
		return fmt.Errorf("signal-with-start %s %s: %w", in.WorkflowID, in.Signal, err)
	}
	return nil
}
