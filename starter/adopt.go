package starter

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// AdoptOptions says which environment to seed with the version that serves it now.
type AdoptOptions struct {
	// TaskQueue is the queue Ferry's workers poll; the lock runs there if Adopt starts it.
	TaskQueue string
	Service   string
	Env       string
	// Stable is what serves the environment now. Its Image must name the image by digest
	// (REPOSITORY@sha256:DIGEST): a rollback to the adopted version deploys exactly that image.
	Stable   workflows.Artifact
	Identity string
	Reason   string
}

// LockRun identifies the EnvLock workflow run of a service environment.
type LockRun struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

// Adopt tells the environment's EnvLock what serves the environment now (workflows.SignalLockAdopt), for a
// service Ferry did not deploy there or a lock that lost its state: the next release rolls back to that version
// instead of guessing. It starts the lock when none runs, so a first release finds the version waiting.
//
// It refuses with a *RejectedError, and signals nothing, when Stable.Image does not name an image by digest: a
// rollback to a version without an image would have nothing to deploy, and one to a tag whatever the tag
// names by then. It refuses in the same way while a release holds the lock: that release is
// changing what serves the environment, and records the stable version itself when it finishes. It asks the lock
// with QueryLock, so a running lock needs a worker to answer; without one it returns a *NoWorkerError.
func Adopt(ctx context.Context, c client.Client, opts AdoptOptions) (LockRun, error) {
	if err := checkAdoptedImage(opts.Stable.Image); err != nil {
		return LockRun{}, err
	}
	id := workflows.EnvLockWorkflowID(opts.Service, opts.Env)
	if err := refuseHeld(ctx, c, id, opts); err != nil {
		return LockRun{}, err
	}
	sig := workflows.LockAdoptSignal{Stable: opts.Stable, Identity: opts.Identity, Reason: opts.Reason}
	wopts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                opts.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("lock %s %s", opts.Service, opts.Env),
	}
	wr, err := c.SignalWithStartWorkflow(ctx, id, workflows.SignalLockAdopt, sig, wopts, workflows.EnvLockWorkflow,
		workflows.LockInput{Service: opts.Service, Env: opts.Env})
	if err != nil {
		return LockRun{}, fmt.Errorf("adopt %s %s in %s: %w", opts.Service, opts.Stable.Version, opts.Env, err)
	}
	return LockRun{WorkflowID: id, RunID: wr.GetRunID()}, nil
}

// checkAdoptedImage returns a *RejectedError unless ref names an image by digest.
func checkAdoptedImage(ref string) error {
	const form = "REPOSITORY@sha256:DIGEST"
	if ref == "" {
		return &RejectedError{Reason: "adopt needs the image that serves the environment, by digest (" + form +
			"): a rollback to the adopted version deploys it"}
	}
	if _, err := name.NewDigest(ref); err != nil {
		return &RejectedError{Reason: fmt.Sprintf("adopt needs the image by digest (%s), so that a rollback deploys "+
			"exactly what serves now, not what a tag names later: %s: %v", form, spec.QuoteValue(ref), err)}
	}
	return nil
}

// refuseHeld returns a *RejectedError when a release holds the lock id. A lock that does not run holds nothing.
func refuseHeld(ctx context.Context, c client.Client, id string, opts AdoptOptions) error {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("describe %s: %w", id, err)
	case desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return nil
	}
	qctx, cancel := queryContext(ctx, queryTimeout)
	defer cancel()
	var st workflows.LockState
	v, err := c.QueryWorkflow(qctx, id, "", workflows.QueryLock)
	if err == nil {
		err = v.Get(&st)
	}
	switch {
	case err != nil && unanswered(ctx, err):
		return &NoWorkerError{What: "lock query", Wait: queryTimeout}
	case err != nil:
		return fmt.Errorf("query %s: %w", id, err)
	case st.Holder != nil:
		return &RejectedError{Reason: fmt.Sprintf("%s %s holds the %s lock and records the stable version when it finishes: adopt once no release holds it",
			opts.Service, st.Holder.Version, opts.Env)}
	}
	return nil
}
