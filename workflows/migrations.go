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

var migrationActs *activities.Migrations

// migrationsChange is the GetVersion change ID under which a release runs the migrations of its spec: the
// expands it requires before it deploys to an environment, their backfills once it serves 100 % there, the
// Contract workflows it starts and signals, and the refusal of a downgrade past a contract. Asked only by
// releases whose spec has requires, completes or allows a downgrade, so other releases emit nothing new.
const migrationsChange = "expand-contract-migrations"

// migrationServiceChange is the GetVersion change ID under which a release names its service to the migration
// activities, which key ferry.migrations by service and migration name, and reaches its migration's Contract
// workflow by ContractWorkflowID, which names the service, or by LegacyContractWorkflowID when a Contract
// workflow of its service runs under that ID (one started before the change). Asked, like migrationsChange, only
// by releases that run migration work. The Contract workflow asks it too, for the record of its contract.
const migrationServiceChange = "migrations-per-service"

// ErrTypeContracted is the type of the error that refuses a version needing a shape that a contract removed.
const ErrTypeContracted = "ContractedShapeNeeded"

// Backfill states, BackfillStatus.State.
const (
	backfillRunning = "running"
	backfillPaused  = "paused"
	backfillDone    = "done"
	backfillFailed  = "failed"
)

// Backfill actions, BackfillInput.Action.
const (
	BackfillPause  = "pause"
	BackfillResume = "resume"
	BackfillResize = "resize"
)

// migrations reports whether this release runs migration work, recording the change the first time.
func (r *release) migrations(ctx workflow.Context) bool {
	s := r.in.Spec
	if len(s.Requires) == 0 && len(s.Completes) == 0 && !r.in.AllowDowngrade {
		return false
	}
	return workflow.GetVersion(ctx, migrationsChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// recordService is the service that keys this release's records in ferry.migrations and its Contract
// workflows: none before migrationServiceChange.
func (r *release) recordService(ctx workflow.Context) string {
	if workflow.GetVersion(ctx, migrationServiceChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return ""
	}
	return r.in.Spec.Service
}

// expand applies the expand of every migration the version requires to environment i's databases, before
// anything deploys there. A failure fails the release with nothing deployed. In the first environment it also
// starts each migration's Contract workflow.
func (r *release) expand(ctx workflow.Context, e *envRun, i int) error {
	required := r.in.Spec.Required()
	if len(required) == 0 || !r.migrations(ctx) {
		return nil
	}
	r.setStage(ctx, StageExpand, "")
	for _, m := range required {
		opts := withOptions(ctx, "expand "+m.Name+" in "+e.spec.Name, 2*time.Hour, time.Minute, expandRetry)
		var res activities.ExpandResult
		// The pinned digest is a new field of the activity's input, not a new command: no GetVersion is needed.
		req := activities.MigrationRequest{Env: e.spec.Name, Migration: m, Service: r.recordService(ctx),
			Digest: r.in.MigrationDigests[MigrationDigestKey(m.Name, DigestExpand)]}
		if err := workflow.ExecuteActivity(opts, migrationActs.Expand, req).Get(ctx, &res); err != nil {
			return fmt.Errorf("expand %s in %s: %s", m.Name, e.spec.Name, errorMessage(err))
		}
		if m.Contract != nil && i == 0 {
			if err := r.signalContract(ctx, m, SignalContractExpanded); err != nil {
				return err
			}
		}
	}
	return nil
}

// signalContract delivers signal to the Contract workflow of m, starting it if it never ran. Since
// migrationServiceChange the workflow's ID names the service, and the signal too; a Contract workflow of the
// service under the legacy ID, started before the change, still gets it (activities.SignalWithStartInput.Legacy:
// its FerryService search attribute proves it the service's).
func (r *release) signalContract(ctx workflow.Context, m spec.Migration, signal string) error {
	envs := make([]string, len(r.in.Spec.Environments))
	for i, e := range r.in.Spec.Environments {
		envs[i] = e.Name
	}
	service := r.recordService(ctx)
	req := activities.SignalWithStartInput{
		WorkflowID:   LegacyContractWorkflowID(m.Database, m.Name),
		WorkflowType: ContractWorkflow,
		TaskQueue:    workflow.GetInfo(ctx).TaskQueueName,
		Signal:       signal,
		SignalArg: ContractSignal{Version: r.in.Version, CommitTime: r.in.CommitTime, Service: service,
			ContractDigest: r.in.MigrationDigests[MigrationDigestKey(m.Name, DigestContract)]},
		WorkflowArg: ContractInput{Service: r.in.Spec.Service, Migration: m, Environments: envs,
			Platform: r.in.Spec.Platform, ExpandedAt: workflow.Now(ctx)},
		Once: true,
	}
	if service != "" {
		req.Legacy = &activities.LegacyWorkflow{WorkflowID: req.WorkflowID, Attribute: SearchAttrService, Value: service}
		req.WorkflowID = ContractWorkflowID(service, m.Database, m.Name)
	}
	opts := withOptions(ctx, "signal the contract of "+m.Name, 30*time.Second, 0, lockRetry)
	if err := workflow.ExecuteActivity(opts, temporalActs.SignalWithStart, req).Get(ctx, nil); err != nil {
		return fmt.Errorf("reach the contract workflow of %s: %s", m.Name, errorMessage(err))
	}
	return nil
}

// completeMigrations tells the Contract workflow of each migration the version completes that it served 100 %
// in every environment. The release has succeeded by then; a failure to tell is logged, and the next release
// that completes the migration tells it again.
func (r *release) completeMigrations(ctx workflow.Context) {
	if len(r.in.Spec.Completes) == 0 || !r.migrations(ctx) {
		return
	}
	for _, name := range r.in.Spec.Completes {
		m, ok := r.in.Spec.Migration(name)
		if !ok || m.Contract == nil {
			continue
		}
		if err := r.signalContract(ctx, *m, SignalContractCompleted); err != nil {
			workflow.GetLogger(ctx).Warn("contract not told of completion", "migration", name, "error", err)
		}
	}
}

// backfillError ends an environment whose backfill failed after the new version was promoted: nothing rolls
// back, since the new version writes both shapes; a person resumes it by releasing again.
type backfillError struct {
	env, migration string
	err            error
	// stoppedBy is the abort (or, with no identity, the cancel) that stopped the backfill, since
	// abortBackfillChange: the release then fails, as nothing rolled back, and is never reported aborted.
	stoppedBy *Decision
	version   string
	progress  activities.BackfillProgress
}

func (e *backfillError) Error() string {
	if d := e.stoppedBy; d != nil {
		at := "before its first batch"
		if e.progress.Cursor != "" {
			at = fmt.Sprintf("at key %s (%d of ~%d rows)", e.progress.Cursor, e.progress.Rows, e.progress.Total)
		}
		by := "a cancel"
		if d.Identity != "" {
			by = fmt.Sprintf("the abort of %s (%s)", d.Identity, d.Reason)
		}
		return fmt.Sprintf("%s: promoted; backfill of %s stopped %s by %s. Nothing rolled back: %s serves all "+
			"traffic there; a later release that requires %s runs the rest, and its contract waits for that",
			e.env, e.migration, at, by, e.version, e.migration)
	}
	return fmt.Sprintf("%s: backfill of %s failed (the new version serves all traffic; a later release resumes it): %s",
		e.env, e.migration, errorMessage(e.err))
}

// abortBackfillChange is the GetVersion change ID under which an abort or a cancel that stops a backfill ends the
// release failed, saying that the new version stays promoted and where the backfill stopped: nothing rolls
// back past the promotion, so "aborted" would tell the operator that traffic went back to the old version.
// Asked only when a backfill is stopped so.
const abortBackfillChange = "abort-during-backfill-fails"

// backfill runs the backfill of every required migration that has one, in environment e, once the new
// version serves 100 % there. UpdateBackfill pauses, resumes and resizes it: a pause cancels the activity,
// which hands back its progress, and a resume starts a new one from there.
func (r *release) backfill(ctx workflow.Context, e *envRun) error {
	required := r.in.Spec.Required()
	if len(required) == 0 || !r.migrations(ctx) {
		return nil
	}
	for _, m := range required {
		if m.Backfill == nil {
			continue
		}
		r.setStage(ctx, StageBackfill, "")
		bs := &BackfillStatus{Migration: m.Name, Env: e.spec.Name, State: backfillRunning, BatchTarget: m.Backfill.BatchTarget.D()}
		r.status.Backfill = bs
		if err := r.runBackfill(ctx, e, m, bs); err != nil {
			bs.State = backfillFailed
			bf := &backfillError{env: e.spec.Name, migration: m.Name, err: err, version: r.in.Version, progress: bs.Progress}
			if ctx.Err() != nil && r.supersededBy == "" &&
				workflow.GetVersion(ctx, abortBackfillChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
				bf.stoppedBy = &Decision{Action: "cancel"}
				if r.abort != nil {
					bf.stoppedBy = r.abort
				}
			}
			return bf
		}
		bs.State = backfillDone
		r.publish(ctx)
	}
	return nil
}

func (r *release) runBackfill(ctx workflow.Context, e *envRun, m spec.Migration, bs *BackfillStatus) error {
	for attempt := 0; ; attempt++ {
		if bs.State == backfillPaused {
			r.setStage(ctx, StageBackfill, "a resume of the paused backfill of "+m.Name)
			if err := workflow.Await(ctx, func() bool { return bs.State != backfillPaused }); err != nil {
				return err
			}
			r.setStage(ctx, StageBackfill, "")
		}
		actCtx, cancel := workflow.WithCancel(ctx)
		r.backfillCancel = cancel
		opts := withOptions(actCtx, "backfill "+m.Name+" in "+e.spec.Name, 7*24*time.Hour, 30*time.Second, backfillRetry)
		ao := workflow.GetActivityOptions(opts)
		ao.WaitForCancellation = true
		opts = workflow.WithActivityOptions(opts, ao)
		req := activities.BackfillRequest{Env: e.spec.Name, Migration: m, From: bs.Progress, BatchTarget: bs.BatchTarget,
			Service: r.recordService(ctx)}
		var res activities.BackfillProgress
		err := workflow.ExecuteActivity(opts, migrationActs.Backfill, req).Get(ctx, &res)
		r.backfillCancel = nil
		cancel()
		if err == nil {
			bs.Progress = res
			return nil
		}
		// Paused, resized or aborted: the activity hands back where it stopped.
		var canceled *temporal.CanceledError
		var p activities.BackfillProgress
		if errors.As(err, &canceled) && canceled.HasDetails() && canceled.Details(&p) == nil {
			bs.Progress = p
		}
		if canceled == nil || ctx.Err() != nil {
			return err
		}
		if attempt > 1000 {
			return fmt.Errorf("backfill of %s stopped after %d pauses and resizes", m.Name, attempt)
		}
	}
}

func (r *release) validateBackfill(ctx workflow.Context, in BackfillInput) error {
	bs := r.status.Backfill
	switch {
	case strings.TrimSpace(in.Identity) == "":
		return fmt.Errorf("backfill needs an identity")
	case bs == nil || (bs.State != backfillRunning && bs.State != backfillPaused) || r.status.Stage != StageBackfill:
		return r.rejectf("runs no backfill: it is %s", r.describe(workflow.Now(ctx)))
	}
	switch in.Action {
	case BackfillPause:
		if bs.State == backfillPaused {
			return r.rejectf("backfill of %s is already paused by %s", bs.Migration, bs.PausedBy)
		}
	case BackfillResume:
		if bs.State != backfillPaused {
			return r.rejectf("backfill of %s is not paused", bs.Migration)
		}
	case BackfillResize:
		if in.BatchTarget < 10*time.Millisecond || in.BatchTarget > 10*time.Second {
			return fmt.Errorf("batch target %s is outside 10ms..10s", in.BatchTarget)
		}
	default:
		return fmt.Errorf("unknown backfill action %q, want pause, resume or resize", in.Action)
	}
	return nil
}

func (r *release) controlBackfill(ctx workflow.Context, in BackfillInput) (UpdateResult, error) {
	bs := r.status.Backfill
	r.record(ctx, UpdateBackfill+"-"+in.Action, bs.Env, in.Identity, in.Reason)
	var msg string
	switch in.Action {
	case BackfillPause:
		bs.State, bs.PausedBy = backfillPaused, in.Identity
		msg = "paused the backfill of " + bs.Migration
	case BackfillResume:
		bs.State, bs.PausedBy = backfillRunning, ""
		msg = "resumed the backfill of " + bs.Migration
	case BackfillResize:
		bs.BatchTarget = in.BatchTarget
		msg = fmt.Sprintf("the backfill of %s now aims at batches of %s", bs.Migration, spec.FormatDuration(in.BatchTarget))
	}
	if in.Action != BackfillResume && r.backfillCancel != nil {
		r.backfillCancel()
	}
	r.publish(ctx)
	return UpdateResult{Message: msg}, nil
}

// checkContracts refuses a version older than the one that completed a migration whose contract ran: it reads
// the old shape, which is gone. Only releases that allow a downgrade ask; others are refused as downgrades.
func (r *release) checkContracts(ctx workflow.Context) error {
	if !r.in.AllowDowngrade || !r.migrations(ctx) {
		return nil
	}
	var done []activities.ContractDone
	opts := withOptions(ctx, "read the contracts that ran", time.Minute, 0, probeRetry)
	if err := workflow.ExecuteActivity(opts, temporalActs.Contracts, activities.ContractsInput{Service: r.in.Spec.Service}).Get(ctx, &done); err != nil {
		return fmt.Errorf("read the contracts that ran: %s", errorMessage(err))
	}
	for _, c := range done {
		older, _ := olderThan(r.in.Version, r.in.CommitTime, Artifact{Version: c.CompletedBy, CommitTime: c.CommitTime})
		if !older {
			continue
		}
		what := "the shape before " + c.Migration
		if len(c.Dropped) > 0 {
			what = strings.Join(stripKinds(c.Dropped), ", ")
		}
		msg := fmt.Sprintf("%s needs %s, dropped by contract %s at %s", r.in.Version, what, c.Migration,
			c.ContractedAt.UTC().Format("2006-01-02T15:04Z"))
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeContracted, nil)
	}
	return nil
}

// stripKinds turns "column users.legacy_flag" into "users.legacy_flag".
func stripKinds(dropped []string) []string {
	out := make([]string, len(dropped))
	for i, d := range dropped {
		_, name, ok := strings.Cut(d, " ")
		if !ok {
			name = d
		}
		out[i] = name
	}
	return out
}
