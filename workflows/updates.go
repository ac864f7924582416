package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"
)

// registerHandlers installs the status query and the human-decision Updates. Each Update has a validator
// that rejects a request in the wrong state with a reason; a rejected Update leaves no trace in history and
// changes nothing. Handlers never block, so the workflow can always finish once its work is done.
func (r *release) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) {
		return r.status, nil
	}); err != nil {
		return err
	}
	handlers := []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateApprove, r.approve, r.validateApprove},
		{UpdateAbort, r.abortRelease, r.validateAbort},
		{UpdatePause, r.pause, r.validatePause},
		{UpdateResume, r.resume, r.validateResume},
		{UpdatePromote, r.promote, r.validatePromote},
		{UpdateBackfill, r.controlBackfill, r.validateBackfill},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler,
			workflow.UpdateHandlerOptions{Validator: h.validator}); err != nil {
			return err
		}
	}
	return nil
}

// name is "checkout 1.4.2", the subject of every rejection.
func (r *release) name() string { return r.status.Service + " " + r.status.Version }

func (r *release) rejectf(format string, args ...any) error {
	return fmt.Errorf("%s %s", r.name(), fmt.Sprintf(format, args...))
}

func (r *release) finished() bool { return r.status.Stage == StageDone }

func (r *release) validateApprove(ctx workflow.Context, in ApproveInput) error {
	now := workflow.Now(ctx)
	switch {
	case in.Env == "":
		return fmt.Errorf("approve needs an environment")
	case strings.TrimSpace(in.Identity) == "":
		return fmt.Errorf("approve needs an identity")
	case r.approvalEnv != in.Env:
		return r.rejectf("is not waiting for approval in %s: it is %s", in.Env, r.describe(now))
	case len(r.approvers) > 0 && !slices.Contains(r.approvers, in.Identity):
		return fmt.Errorf("%s may not approve %s in %s: approvers are %s",
			in.Identity, r.name(), in.Env, strings.Join(r.approvers, ", "))
	}
	for _, a := range r.status.Approvals {
		if a.Identity == in.Identity {
			return fmt.Errorf("%s already approved %s in %s", in.Identity, r.name(), in.Env)
		}
	}
	return nil
}

func (r *release) approve(ctx workflow.Context, in ApproveInput) (UpdateResult, error) {
	d := r.record(ctx, UpdateApprove, in.Env, in.Identity, in.Reason)
	r.status.Approvals = append(r.status.Approvals, d)
	r.status.Waiting = r.approvalWaiting()
	msg := fmt.Sprintf("approved %s in %s (%d/%d)", r.name(), in.Env, len(r.status.Approvals), r.quorum)
	r.publish(ctx)
	return UpdateResult{Message: msg}, nil
}

func (r *release) validateAbort(ctx workflow.Context, in AbortInput) error {
	switch {
	case strings.TrimSpace(in.Reason) == "":
		return fmt.Errorf("abort needs a reason")
	case r.finished():
		return r.rejectf("has already finished (%s)", r.status.State)
	case r.abort != nil:
		return r.rejectf("is already being aborted by %s", r.abort.Identity)
	case r.finishing:
		return r.rejectf("is already finishing: its work in %s is done and only the lock release remains", r.status.Env)
	case r.status.Stage == StageRollback:
		return r.rejectf("is already rolling back in %s", r.status.Env)
	case (r.status.Stage == StagePromote || r.status.Stage == StageScaleDown) && (r.env == nil || !r.env.abortable):
		return r.rejectf("is already promoted in %s: it is %s", r.status.Env, r.describe(workflow.Now(ctx)))
	}
	return nil
}

func (r *release) abortRelease(ctx workflow.Context, in AbortInput) (UpdateResult, error) {
	d := r.record(ctx, UpdateAbort, r.status.Env, in.Identity, in.Reason)
	r.abort = &d
	msg := fmt.Sprintf("aborting %s: it was %s", r.name(), r.describe(d.At))
	if r.status.Stage == StageBackfill {
		// Nothing rolls back past the promotion: say so before the release ends failed (abortBackfillChange).
		msg += fmt.Sprintf("; %s stays promoted there, the backfill stops, and the release will end failed", r.status.Version)
	}
	r.cancelWork()
	return UpdateResult{Message: msg}, nil
}

// validatePause and validatePromote accept a decision only while a bake or a pause step is the active wait
// (r.holding). At any other time, during a set-weight, a check or a promotion, nothing would act on it: it
// would be reported as taken and then ignored, or act on a later step the person never saw.
func (r *release) validatePause(ctx workflow.Context, in PauseInput) error {
	switch {
	case r.status.Paused:
		return r.rejectf("is already paused (by %s)", r.pausedBy)
	case !r.holding || r.abort != nil:
		return r.rejectf("cannot be paused: it is %s", r.describe(workflow.Now(ctx)))
	}
	return nil
}

func (r *release) pause(ctx workflow.Context, in PauseInput) (UpdateResult, error) {
	r.record(ctx, UpdatePause, r.status.Env, in.Identity, in.Reason)
	r.status.Paused = true
	r.pausedBy = in.Identity
	r.publish(ctx)
	return UpdateResult{Message: fmt.Sprintf("paused %s at %d%% in %s", r.name(), r.status.Weight, r.status.Env)}, nil
}

func (r *release) validateResume(ctx workflow.Context, in ResumeInput) error {
	if !r.status.Paused || r.abort != nil {
		return r.rejectf("is not paused: it is %s", r.describe(workflow.Now(ctx)))
	}
	return nil
}

func (r *release) resume(ctx workflow.Context, in ResumeInput) (UpdateResult, error) {
	r.record(ctx, UpdateResume, r.status.Env, in.Identity, in.Reason)
	r.status.Paused = false
	r.publish(ctx)
	return UpdateResult{Message: fmt.Sprintf("resumed %s at %d%% in %s", r.name(), r.status.Weight, r.status.Env)}, nil
}

func (r *release) validatePromote(ctx workflow.Context, in PromoteInput) error {
	if !r.holding || r.abort != nil {
		return r.rejectf("has no step to promote: it is %s", r.describe(workflow.Now(ctx)))
	}
	if r.promotePending {
		return r.rejectf("is already being promoted")
	}
	return nil
}

func (r *release) promote(ctx workflow.Context, in PromoteInput) (UpdateResult, error) {
	action := UpdatePromote
	if in.Full {
		action += " --full"
	}
	r.record(ctx, action, r.status.Env, in.Identity, in.Reason)
	r.promotePending = true
	r.promoteFull = r.promoteFull || in.Full
	r.status.Paused = false
	msg := fmt.Sprintf("promoting %s in %s to the next step", r.name(), r.status.Env)
	if in.Full {
		msg = fmt.Sprintf("promoting %s in %s to 100%%, skipping the remaining steps", r.name(), r.status.Env)
	}
	return UpdateResult{Message: msg}, nil
}

// decisionScopeChange is the GetVersion change ID under which pause and promote decisions stopped
// outliving the environment they were made in.
const decisionScopeChange = "decision-scope"

// scopeDecisions forgets pending pause and promote decisions. It runs when an environment begins and when
// its shift ends: a decision is about the canary a person watches, so a promote --full or a pause made in
// staging must never skip or freeze production's canary.
func (r *release) scopeDecisions(ctx workflow.Context) {
	if workflow.GetVersion(ctx, decisionScopeChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	r.promotePending, r.promoteFull = false, false
	r.status.Paused, r.pausedBy = false, ""
}

// record keeps a decision in the status (history has the Update itself with its input).
func (r *release) record(ctx workflow.Context, action, env, identity, reason string) Decision {
	d := Decision{Action: action, Env: env, Identity: identity, Reason: reason, At: workflow.Now(ctx)}
	r.status.Decisions = append(r.status.Decisions, d)
	return d
}
