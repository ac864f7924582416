package activities

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
	"go.temporal.io/sdk/converter"
)

// SignalWithStartInput signals a workflow, starting it first if it is not running.
type SignalWithStartInput struct {
	WorkflowID   string `json:"workflowId"`
	WorkflowType string `json:"workflowType"`
	TaskQueue    string `json:"taskQueue"`
	Signal       string `json:"signal"`
	SignalArg    any    `json:"signalArg"`
	WorkflowArg  any    `json:"workflowArg"`
	// Once refuses to start the workflow again after it closed: the signal to a closed workflow is then dropped,
	// without error. The Contract workflow of a migration runs once.
	Once bool `json:"once,omitempty"`
	// Legacy names the ID the same workflow had before its ID changed. When a workflow by that ID exists and
	// is the same one (see LegacyWorkflow), it gets the signal instead, if it runs, and nothing starts; when it
	// has closed, Once drops the signal as it would for WorkflowID.
	Legacy *LegacyWorkflow `json:"legacy,omitempty"`
}

// LegacyWorkflow is SignalWithStartInput.Legacy: a workflow ID, and the keyword search attribute that proves a
// workflow by that ID is the one meant (the FerryService of a Contract workflow whose ID did not name its
// service), since another one may have had that ID too.
type LegacyWorkflow struct {
	WorkflowID string `json:"workflowId"`
	Attribute  string `json:"attribute"`
	Value      string `json:"value"`
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

// workflowSignaler is the part of client.Client that signals a running workflow.
type workflowSignaler interface {
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
}

// workflowQuerier is the part of client.Client that queries a workflow.
type workflowQuerier interface {
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
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
// server rejects as invalid is a non-retryable ErrTypeInvalidSpec. With in.Legacy, the workflow under its
// older ID gets the signal when it is the one meant (see SignalWithStartInput.Legacy).
func (t *Temporal) SignalWithStart(ctx context.Context, in SignalWithStartInput) error {
	if in.WorkflowID == "" || in.WorkflowType == "" || in.TaskQueue == "" || in.Signal == "" {
		return invalidSpec("signal-with-start needs workflow ID, workflow type, task queue and signal", nil)
	}
	if in.Legacy != nil {
		if done, err := t.signalLegacy(ctx, in); done || err != nil {
			return err
		}
	}
	opts := client.StartWorkflowOptions{
		ID:                       in.WorkflowID,
		TaskQueue:                in.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}
	if in.Once {
		opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	}
	var args []any
	if in.WorkflowArg != nil {
		args = append(args, in.WorkflowArg)
	}
	_, err := t.Client.SignalWithStartWorkflow(ctx, in.WorkflowID, in.Signal, in.SignalArg, opts, in.WorkflowType, args...)
	var invalid *serviceerror.InvalidArgument
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case in.Once && errors.As(err, &started):
		return nil
	case errors.As(err, &invalid):
		return invalidSpec(fmt.Sprintf("signal-with-start %s %s rejected", in.WorkflowID, in.Signal), err)
	case err != nil:
		return fmt.Errorf("signal-with-start %s %s: %w", in.WorkflowID, in.Signal, err)
	}
	return nil
}

// ContractDone is the result of a Contract workflow: a migration whose contract ran, so that versions older
// than CompletedBy, which read the old shape, may no longer deploy.
type ContractDone struct {
	Service   string `json:"service"`
	Migration string `json:"migration"`
	Database  string `json:"database"`
	// CompletedBy is the version that completed the migration (no longer read the old shape); CommitTime its
	// commit time, when known.
	CompletedBy string    `json:"completedBy"`
	CommitTime  time.Time `json:"commitTime,omitzero"`
	// ContractedAt is when the contract ran (in the last environment).
	ContractedAt time.Time `json:"contractedAt"`
	// Dropped lists what the contract removed: "column users.legacy_flag".
	Dropped []string `json:"dropped,omitempty"`
}

// ContractsInput names a service.
type ContractsInput struct {
	Service string `json:"service"`
}

// workflowLister is the part of client.Client that Contracts uses.
type workflowLister interface {
	ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
	GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
}

// maxContracts bounds how many contracts of one service Contracts reads.
const maxContracts = 1000

// Contracts returns the contracts that ran for a service: the results of its completed Contract workflows,
// found through the FerryService search attribute. A release that deploys an older version asks it, to refuse
// a version that needs a shape a contract removed. Read-only, so idempotent; retryable.
func (t *Temporal) Contracts(ctx context.Context, in ContractsInput) ([]ContractDone, error) {
	lister, ok := t.Client.(workflowLister)
	if !ok {
		return nil, errors.New("this worker's Temporal client cannot list workflows")
	}
	query := fmt.Sprintf("WorkflowType = 'Contract' AND ExecutionStatus = 'Completed' AND FerryService = '%s'",
		strings.ReplaceAll(in.Service, "'", ""))
	var out []ContractDone
	var token []byte
	for len(out) < maxContracts {
		resp, err := lister.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list contracts of %s: %w", in.Service, err)
		}
		for _, e := range resp.GetExecutions() {
			var done ContractDone
			if err := lister.GetWorkflow(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()).Get(ctx, &done); err != nil {
				return nil, fmt.Errorf("read contract %s: %w", e.GetExecution().GetWorkflowId(), err)
			}
			out = append(out, done)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return out, nil
}

// signalLegacy delivers in.Signal to the workflow by in.Legacy's ID when it exists and its search attribute
// proves it the one meant, and reports whether it dealt with the signal: delivered, or dropped because that
// workflow closed and in.Once holds.
func (t *Temporal) signalLegacy(ctx context.Context, in SignalWithStartInput) (bool, error) {
	l := in.Legacy
	desc, err := t.Client.DescribeWorkflowExecution(ctx, l.WorkflowID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("describe %s: %w", l.WorkflowID, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	var value string
	p := info.GetSearchAttributes().GetIndexedFields()[l.Attribute]
	if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &value) != nil || value != l.Value {
		return false, nil
	}
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return in.Once, nil
	}
	signaler, ok := t.Client.(workflowSignaler)
	if !ok {
		return false, errors.New("this worker's Temporal client cannot signal workflows")
	}
	err = signaler.SignalWorkflow(ctx, l.WorkflowID, "", in.Signal, in.SignalArg)
	switch {
	case errors.As(err, &notFound):
		return in.Once, nil // it closed since the describe
	case err != nil:
		return false, fmt.Errorf("signal %s %s: %w", l.WorkflowID, in.Signal, err)
	}
	return true, nil
}

// DeployedVersionsInput names an environment's lock workflow and the query that answers its state.
type DeployedVersionsInput struct {
	WorkflowID string `json:"workflowId"`
	Query      string `json:"query"`
}

// DeployedVersions is what an environment's lock records: the last version that completed in the environment
// (Stable) and the version of the release that holds the lock now (Holder), nil where there is none.
type DeployedVersions struct {
	Stable *DeployedVersion `json:"stable,omitempty"`
	Holder *DeployedVersion `json:"holder,omitempty"`
}

// DeployedVersion is a version and, when its release knew it, its commit time.
type DeployedVersion struct {
	Version    string    `json:"version"`
	CommitTime time.Time `json:"commitTime,omitzero"`
}

// DeployedVersions asks an environment's lock workflow (in.Query on in.WorkflowID) what it records as
// deployed. The Contract workflow calls it for commit times, to order versions that are not semantic
// versions; a workflow cannot query another workflow itself. A lock that does not exist records nothing.
// Read-only, so idempotent; retryable (a query needs a worker that runs the lock).
func (t *Temporal) DeployedVersions(ctx context.Context, in DeployedVersionsInput) (DeployedVersions, error) {
	if in.WorkflowID == "" || in.Query == "" {
		return DeployedVersions{}, invalidSpec("deployed versions needs a workflow ID and a query", nil)
	}
	querier, ok := t.Client.(workflowQuerier)
	if !ok {
		return DeployedVersions{}, errors.New("this worker's Temporal client cannot query workflows")
	}
	v, err := querier.QueryWorkflow(ctx, in.WorkflowID, "", in.Query)
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return DeployedVersions{}, nil
	case err != nil:
		return DeployedVersions{}, fmt.Errorf("query %s: %w", in.WorkflowID, err)
	}
	var out DeployedVersions
	if err := v.Get(&out); err != nil {
		return DeployedVersions{}, fmt.Errorf("read the answer of %s: %w", in.WorkflowID, err)
	}
	return out, nil
}
