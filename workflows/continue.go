package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// continueAsNewChange is the GetVersion change ID under which a release continues as new between
// environments once its history is long.
const continueAsNewChange = "release-continue-as-new-between-envs"

// continueThreshold is the history length (events) past which a release continues as new before its next
// environment. Each environment's worst case is bounded by spec.HistoryBudget at validation, so a run holds
// at most continueThreshold + spec.HistoryBudget events, plus human decisions, well under the server's
// limit of 51,200. A short release (most of them: a few hundred events) never continues as new. Tests lower it.
var continueThreshold = 1000

// startEnv is the index of the first environment this run deploys: 0, or where the previous run stopped.
func (r *release) startEnv() int {
	if r.in.Resume != nil {
		return r.in.Resume.NextEnv
	}
	return 0
}

// restoreProgress restores the progress carried from the previous run, if this run continues a release.
func (r *release) restoreProgress(ctx workflow.Context) {
	p := r.in.Resume
	if p == nil || len(p.Status.Environments) != len(r.in.Spec.Environments) {
		return
	}
	st := p.Status
	st.State, st.Stage, st.Waiting, st.Reason = StateRunning, StageLock, "", ""
	st.UpdatedAt = workflow.Now(ctx)
	r.status = st
}

// continueAsNew decides, between environments, whether the release continues as new before environment
// next, and returns the error that does it (nil to go on in this run). It only continues once the history
// has passed continueThreshold (or the server suggests it), and never when an abort or a supersede is under
// way: those end the release in this run, as before. The workflow ID stays the same, so queries, Updates
// and waiting clients follow the new run.
func (r *release) continueAsNew(ctx workflow.Context, next int) error {
	if workflow.GetVersion(ctx, continueAsNewChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	info := workflow.GetInfo(ctx)
	if info.GetCurrentHistoryLength() < continueThreshold && !info.GetContinueAsNewSuggested() {
		return nil
	}
	// An Update handler still running would lose its reply with the run.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return nil
	}
	if r.abort != nil || r.supersededBy != "" || ctx.Err() != nil {
		return nil
	}
	in := r.in
	in.Resume = &ReleaseProgress{NextEnv: next, Status: r.status}
	return workflow.NewContinueAsNewError(ctx, ReleaseWorkflow, in)
}
