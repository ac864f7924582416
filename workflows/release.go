package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// Activities are called through nil pointers; the worker registers the real structs.
var (
	platformActs *activities.Platform
	checkActs    *activities.Checks
	temporalActs *activities.Temporal
)

// release is the state of one Release workflow run. Only the workflow goroutines touch it.
type release struct {
	in     ReleaseInput
	status Status

	// cancelWork stops whatever the release is doing (abort, supersede); cleanup then runs disconnected.
	cancelWork workflow.CancelFunc

	abort        *Decision // set by an accepted abort
	supersededBy string    // set when a newer release replaced this one at a gate
	supersedeWhy string    // the lock's reason for it, when it gave one
	supersedable bool      // true while waiting for the env lock or at a gate
	finishing    bool      // the last environment's work is done: only its lock release and completion remain

	approvalEnv string // env whose approval gate is open, "" otherwise
	approvers   []string
	quorum      int

	holding        bool // a bake or a pause step is the active wait: the only time pause and promote act
	promotePending bool // skip the rest of the current bake or pause
	promoteFull    bool // skip every remaining step
	pausedBy       string
	backfillCancel workflow.CancelFunc // stops the running backfill activity (pause, resize)
	pausedAnalyses int                 // PausedAnalysis children started, for their workflow IDs
	roundSince     time.Time           // start of the weight (or verification) that stepMeasured counts for
	stepMeasured   map[string]int      // measurements per kind/metric since roundSince, for count

	published [4]string // env, stage, state, digest last upserted as search attributes

	env *envRun // the environment being run: its state belongs there, and validators read it
}

// Release moves one artifact through the service's environments in order: for each it waits for the env
// lock, the gate, runs the strategy, the checks and the verification. Any failure after the first deploy
// rolls the environment back. Human decisions arrive as Updates (approve, abort, pause, resume, promote).
// Between environments, once its history is long, it continues as new under the same workflow ID with its
// progress in ReleaseInput.Resume (see continueAsNew), so no run nears Temporal's history limit.
//
// It returns the ReleaseResult for succeeded and superseded releases, and an ApplicationError carrying the
// result for failed, rolled back and aborted ones (so the Temporal UI shows them as failed).
func Release(ctx workflow.Context, in ReleaseInput) (ReleaseResult, error) {
	r := newRelease(ctx, in)
	workCtx, cancel := workflow.WithCancel(ctx)
	r.cancelWork = cancel
	if err := r.registerHandlers(ctx); err != nil {
		return ReleaseResult{}, err
	}
	r.watchSupersede(ctx)

	// The spec was validated by `ferry start`, but the input may not come from it: the worker admits the
	// release (validation, coordinates, programs against its allowlist) in an activity, so that replay does not
	// depend on the validator's version. Every run admits, a continued one too, since its input is as open.
	var err error
	if workflow.GetVersion(ctx, admitChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		if err = r.admit(workCtx); err != nil {
			return r.finish(ctx, err)
		}
	}
	if err = r.pinArtifact(workCtx); err != nil {
		return r.finish(ctx, err)
	}
	first := r.startEnv()
	for i := first; i < len(in.Spec.Environments); i++ {
		if i > first {
			if can := r.continueAsNew(ctx, i); can != nil {
				return ReleaseResult{}, can
			}
		}
		if err = r.runEnv(workCtx, ctx, i); err != nil {
			break
		}
	}
	if err == nil {
		r.completeMigrations(workCtx)
	}
	return r.finish(ctx, err)
}

// admitChange is the GetVersion change ID under which a release asks the worker to admit it before anything
// runs (activities.Platform.Admit).
const admitChange = "worker-admits-spec"

// admit asks the worker whether it runs this release at all. A refusal fails the release before it takes a
// lock or runs a command.
func (r *release) admit(ctx workflow.Context) error {
	req := activities.AdmitRequest{Spec: r.in.Spec, Version: r.in.Version, GitSHA: r.in.GitSHA, Image: r.in.Image}
	return workflow.ExecuteActivity(admitOptions(ctx), platformActs.Admit, req).Get(ctx, nil)
}

func newRelease(ctx workflow.Context, in ReleaseInput) *release {
	image := in.Image
	if image == "" {
		image = in.Spec.Image.Repository + ":" + in.Version
	}
	now := workflow.Now(ctx)
	r := &release{in: in}
	r.status = Status{
		Service:   in.Spec.Service,
		Version:   in.Version,
		GitSHA:    in.GitSHA,
		Image:     image,
		State:     StateRunning,
		Stage:     StageBuild,
		StartedAt: workflow.GetInfo(ctx).WorkflowStartTime,
		UpdatedAt: now,
	}
	for _, e := range in.Spec.Environments {
		r.status.Environments = append(r.status.Environments, EnvStatus{Name: e.Name, State: "pending"})
	}
	r.restoreProgress(ctx)
	return r
}

// finish turns the outcome into the final state, search attributes and result.
func (r *release) finish(ctx workflow.Context, err error) (ReleaseResult, error) {
	state, reason := r.outcome(ctx, err)
	r.status.State = state
	r.status.Reason = reason
	r.status.Stage = StageDone
	r.status.Waiting = ""
	r.status.BakeUntil = time.Time{}
	r.publish(ctx)

	// Let in-flight Update handlers reply before the run closes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })

	res := ReleaseResult{
		Service:      r.status.Service,
		Version:      r.status.Version,
		Image:        r.status.Image,
		Digest:       r.status.Digest,
		State:        state,
		Reason:       reason,
		Environments: r.status.Environments,
	}
	switch state {
	case StateSucceeded, StateSuperseded:
		return res, nil
	case StateRolledBack:
		return res, temporal.NewNonRetryableApplicationError(reason, ErrTypeRolledBack, nil, res)
	case StateAborted:
		if errors.Is(ctx.Err(), workflow.ErrCanceled) {
			return res, temporal.NewCanceledError(res)
		}
		return res, temporal.NewNonRetryableApplicationError(reason, ErrTypeAborted, nil, res)
	default:
		return res, temporal.NewNonRetryableApplicationError(reason, ErrTypeFailed, err, res)
	}
}

// classify says how a piece of the release's work ended: its state, and the rollback if one happened. A
// rollback that failed, or a cleanup that failed after promotion, is a failure even when an abort or a cancel
// led to it: something a person must clean up may still run.
func (r *release) classify(ctx workflow.Context, err error) (string, *rolledBackError) {
	var rb *rolledBackError
	errors.As(err, &rb)
	var rbFailed *rollbackFailedError
	var cleanupFailed *cleanupError
	var backfillStopped *backfillError
	switch {
	case err == nil:
		return StateSucceeded, nil
	case errors.As(err, &rbFailed), errors.As(err, &cleanupFailed):
		return StateFailed, nil
	case errors.As(err, &backfillStopped) && backfillStopped.stoppedBy != nil:
		return StateFailed, nil // the new version stays promoted (abortBackfillChange)
	case r.supersededBy != "":
		return StateSuperseded, nil
	case r.abort != nil || errors.Is(ctx.Err(), workflow.ErrCanceled):
		return StateAborted, rb
	case rb != nil:
		return StateRolledBack, rb
	default:
		return StateFailed, nil
	}
}

// outcome is the release's final state and the reason a person reads.
func (r *release) outcome(ctx workflow.Context, err error) (state, reason string) {
	state, rb := r.classify(ctx, err)
	switch state {
	case StateSucceeded:
		return state, ""
	case StateSuperseded:
		return state, r.supersededText()
	case StateAborted:
		reason = r.interruption()
		if rb != nil {
			reason += "; rolled back " + rb.env
		}
		return state, reason
	case StateRolledBack:
		return state, rb.Error()
	default:
		return state, errorMessage(err)
	}
}

// errorMessage unwraps Temporal's activity error chain to the message a person wants to read.
func errorMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

// setStage records where the release is and publishes it (search attributes + UI details).
func (r *release) setStage(ctx workflow.Context, stage, waiting string) {
	r.status.Stage = stage
	r.status.Waiting = waiting
	r.publish(ctx)
}

// publish pushes the status to the search attributes and the UI's current details.
func (r *release) publish(ctx workflow.Context) {
	r.status.UpdatedAt = workflow.Now(ctx)
	// Each upsert is a history event: only write what changed.
	if now := [4]string{r.status.Env, r.status.Stage, r.status.State, r.status.Digest}; now != r.published {
		r.published = now
		updates := []temporal.SearchAttributeUpdate{
			temporal.NewSearchAttributeKeyKeyword(SearchAttrService).ValueSet(r.status.Service),
			temporal.NewSearchAttributeKeyKeyword(SearchAttrVersion).ValueSet(r.status.Version),
			temporal.NewSearchAttributeKeyKeyword(SearchAttrEnvironment).ValueSet(r.status.Env),
			temporal.NewSearchAttributeKeyKeyword(SearchAttrStage).ValueSet(r.status.Stage),
			temporal.NewSearchAttributeKeyKeyword(SearchAttrState).ValueSet(r.status.State),
		}
		// Only releases that pin a digest (pinDigestChange) upsert it, so older releases keep their commands.
		if r.status.Digest != "" {
			updates = append(updates, temporal.NewSearchAttributeKeyKeyword(SearchAttrDigest).ValueSet(r.status.Digest))
		}
		_ = workflow.UpsertTypedSearchAttributes(ctx, updates...)
	}
	workflow.SetCurrentDetails(ctx, r.details(workflow.Now(ctx)))
}

// details renders the status as the markdown the Temporal UI shows for a running workflow.
func (r *release) details(now time.Time) string {
	s := r.status
	var b strings.Builder
	fmt.Fprintf(&b, "### %s %s: %s\n\n", s.Service, s.Version, s.State)
	fmt.Fprintf(&b, "- **image** `%s`\n", s.Image)
	if s.ImageTag != "" {
		fmt.Fprintf(&b, "- **tag** `%s`\n", s.ImageTag)
	}
	if s.Env != "" {
		fmt.Fprintf(&b, "- **now** %s\n", r.describe(now))
	}
	if bf := s.Backfill; bf != nil {
		fmt.Fprintf(&b, "- **backfill** %s in %s: %s, %d of ~%d rows\n", bf.Migration, bf.Env, bf.State, bf.Progress.Rows, bf.Progress.Total)
	}
	if s.Reason != "" {
		fmt.Fprintf(&b, "- **reason** %s\n", s.Reason)
	}
	if len(s.Measurements) > 0 || s.Score != nil {
		b.WriteString("\n| metric | verdict | value | baseline | measured |\n|---|---|---|---|---|\n")
		for _, m := range s.Measurements {
			name := m.Metric
			if m.DryRun {
				name += " (dry run)"
			}
			fmt.Fprintf(&b, "| %s %s | %s | %s | %s | %d |\n", m.Kind, name, m.Verdict, FormatValue(m.Value), FormatValue(m.Baseline), m.Measured)
		}
		if sc := s.Score; sc != nil {
			fmt.Fprintf(&b, "| %s score | %s | %.0f | | |\n", sc.Kind, sc.Verdict, sc.Score)
		}
	}
	b.WriteString("\n| environment | state |\n|---|---|\n")
	for _, e := range s.Environments {
		st := e.State
		if e.Reason != "" {
			st += " (" + e.Reason + ")"
		}
		fmt.Fprintf(&b, "| %s | %s |\n", e.Name, st)
	}
	return b.String()
}

// describe says in words what the release is doing, for status, details and Update rejections.
func (r *release) describe(now time.Time) string {
	s := r.status
	where := " in " + s.Env
	switch {
	case s.Waiting != "":
		return "waiting for " + s.Waiting + where
	case s.Paused:
		return fmt.Sprintf("paused at the %d%% %s step%s by %s", s.Weight, s.Strategy, where, r.pausedBy)
	case !s.BakeUntil.IsZero():
		left := s.BakeUntil.Sub(now).Round(time.Second)
		if left < 0 {
			left = 0
		}
		return fmt.Sprintf("baking the %d%% %s step%s (%s left)", s.Weight, s.Strategy, where, spec.FormatDuration(left))
	case s.Stage == StageDone:
		return "finished (" + s.State + ")"
	case r.finishing:
		return "finishing: its work" + where + " is done"
	default:
		return stageWords[s.Stage] + where
	}
}

var stageWords = map[string]string{
	StageBuild:     "resolving the artifact",
	StageLock:      "waiting for the environment lock",
	StageGate:      "at the gate",
	StageDeploy:    "deploying",
	StageReady:     "waiting for readiness",
	StageSmoke:     "running smoke checks",
	StageCanary:    "shifting canary traffic",
	StageSwitch:    "switching traffic",
	StageE2E:       "running e2e checks",
	StageVerify:    "verifying",
	StagePromote:   "promoting",
	StageScaleDown: "scaling down the old version",
	StageRollback:  "rolling back",
	StageExpand:    "expanding the database",
	StageBackfill:  "backfilling",
	StageDone:      "done",
}

// envStatus returns the status entry of environment i.
func (r *release) envStatus(i int) *EnvStatus { return &r.status.Environments[i] }

// supersededText is the reason of a superseded release: "superseded by 1.4.4", and why 1.4.4 counts as newer
// when the lock said so.
func (r *release) supersededText() string {
	if r.supersedeWhy != "" {
		return "superseded by " + r.supersededBy + ": " + r.supersedeWhy
	}
	return "superseded by " + r.supersededBy
}
