// Package starter is Ferry's client side: it starts releases, sends them decisions (Updates), and reads their
// status, list and history from Temporal. The ferry CLI and CI call it; it never runs workflow code.
//
// Every function takes a connected client.Client; none of them dials, logs or prints.
package starter

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// Typed keys of the search attributes Ferry sets at start and the workflow upserts as it goes.
var (
	keyService = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrService)
	keyVersion = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrVersion)
	keyStage   = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrStage)
	keyState   = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrState)
)

// Run identifies one release: its workflow ID and, once known, its run ID. An empty RunID means the latest run.
type Run struct {
	Service    string `json:"service"`
	Version    string `json:"version"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId,omitempty"`
}

// ReleaseRun returns the Run of a service version, targeting its latest run.
func ReleaseRun(service, version string) Run {
	return Run{Service: service, Version: version, WorkflowID: workflows.ReleaseWorkflowID(service, version)}
}

// StartOptions says what to start and where.
type StartOptions struct {
	// TaskQueue is the queue Ferry's workers poll.
	TaskQueue string
	Input     workflows.ReleaseInput
	// DataConverter decodes the memo of an existing release: the client's (with its codec, when payloads are
	// encrypted). Nil means the SDK's default.
	DataConverter converter.DataConverter
}

// Start starts the Release workflow of Input.Spec.Service at Input.Version.
//
// Start is idempotent for the same inputs, so CI can retry it: if the version's release is running, or ran
// before, with the same git sha, image, spec (by SpecDigest), pinned migration files (by SQLDigest) and
// AllowDowngrade, it returns that run with existed true and no error. A version is released at most once, whatever its outcome: a release that ended
// (succeeded, failed, aborted) is reported, never run again. If the existing release was started with other
// inputs, Start returns a *ConflictError naming each that differs and changes nothing; a new attempt needs a
// new version. The inputs are compared from the memo the release was started with (see memo); a release
// started before the memo held one of them is not compared on it. The commit time is not compared: the git
// sha identifies the commit.
//
// It refuses release coordinates that break their rules (see spec.CheckCoordinates) with the joined
// *spec.CoordinateError of each, before it contacts Temporal.
func Start(ctx context.Context, c client.Client, opts StartOptions) (Run, bool, error) {
	in := opts.Input
	if err := spec.CheckCoordinates(in.Version, in.GitSHA, in.Image); err != nil {
		return Run{}, false, err
	}
	want, err := memoOf(in)
	if err != nil {
		return Run{}, false, err
	}
	run := ReleaseRun(in.Spec.Service, in.Version)
	// The conflict policy is FAIL, not USE_EXISTING: with USE_EXISTING the server answers a duplicate with a
	// success the SDK cannot tell apart from a fresh start. FAIL returns AlreadyStarted for a running and (with
	// REJECT_DUPLICATE) for a closed release alike, and that error names the existing run.
	wopts := client.StartWorkflowOptions{
		ID:                                       run.WorkflowID,
		TaskQueue:                                opts.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			keyService.ValueSet(in.Spec.Service),
			keyVersion.ValueSet(in.Version),
			keyState.ValueSet(workflows.StateRunning),
			keyStage.ValueSet(workflows.StageBuild),
		),
		Memo:          want.fields(),
		StaticSummary: fmt.Sprintf("release %s %s", in.Spec.Service, in.Version),
	}
	wr, err := c.ExecuteWorkflow(ctx, wopts, workflows.ReleaseWorkflow, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		run.RunID = started.RunId
		if err := checkSameInputs(ctx, c, opts.DataConverter, run, want); err != nil {
			return Run{}, false, err
		}
		return run, true, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("start release %s %s: %w", in.Spec.Service, in.Version, err)
	}
	run.RunID = wr.GetRunID()
	return run, false, nil
}
