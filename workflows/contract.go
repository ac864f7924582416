package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// Contract workflow: one per service's migration of a database (ContractWorkflowID; LegacyContractWorkflowID
// for those started before migrationServiceChange). The release that first expands the migration starts it with signal-with-start (SignalContractExpanded), so it exists, and shows in `ferry
// migrate status`, from the expand on; the release that completes the migration and succeeds in every
// environment signals it again (SignalContractCompleted). Signal-with-start needs no parent: the contract
// outlives the releases by days, which a child workflow would have to be abandoned to do. It is started once
// only (activities.SignalWithStartInput.Once), so a later release cannot make a contracted migration wait again.

// Contract phases, ContractStatus.Phase.
const (
	ContractWaiting     = "waiting"
	ContractContracting = "contracting"
	ContractContracted  = "contracted"
	ContractFailed      = "failed"
	// ContractNone is the phase `ferry migrate status` shows for a migration without a contract (so without a
	// Contract workflow) whose backfill a running release runs.
	ContractNone = "no contract"
)

// contractRecheck is how long the Contract workflow waits before it asks the platforms again whether an older
// version still runs.
const contractRecheck = 10 * time.Minute

// contractChecksPerRun bounds the platform checks of one run; then it continues as new, so a wait of weeks
// keeps its history small.
const contractChecksPerRun = 100

// contract is the state of one Contract workflow run.
type contract struct {
	in     ContractInput
	status ContractStatus
	// proveOrder, checkBackfill and perService are the changes this run has (contractOrderChange,
	// contractBackfillChange, migrationServiceChange).
	proveOrder, checkBackfill, perService bool
}

// Contract waits until the migration's contract may run, then runs it on the database of every environment in
// order. It waits for all of: (a) a release of a version that completes the migration served 100 % in every
// environment (SignalContractCompleted, from a release of the contract's own service); (b) no environment runs
// a version older than that one (see oldGone; asked again every contractRecheck); (c) minAge since the
// expand, as a durable timer; (d) the approvals the migration's contract.approval asks for
// (UpdateApproveContract, from its allowlist); (e) for a migration with a backfill, every environment's
// database records the backfill finished (see backfilled; asked with (b)). It continues as new after
// contractChecksPerRun checks, or when Temporal suggests it.
func Contract(ctx workflow.Context, in ContractInput) (activities.ContractDone, error) {
	c := &contract{in: in}
	st := ContractState{}
	if in.State != nil {
		st = *in.State
	}
	st.Checks, st.OldGone, st.BackfillDone = 0, false, false
	c.status = ContractStatus{Service: in.Service, Migration: in.Migration.Name, Database: in.Migration.Database,
		Phase: ContractWaiting, ExpandedAt: in.ExpandedAt, State: st}
	if cs := in.Migration.Contract; cs != nil {
		c.status.NotBefore = in.ExpandedAt.Add(cs.MinAge.D())
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		temporal.NewSearchAttributeKeyKeyword(SearchAttrService).ValueSet(in.Service),
		temporal.NewSearchAttributeKeyKeyword(SearchAttrStage).ValueSet(ContractWaiting),
		temporal.NewSearchAttributeKeyKeyword(SearchAttrState).ValueSet(StateRunning))
	if err := workflow.SetQueryHandler(ctx, QueryContract, func() (ContractStatus, error) {
		s := c.status
		if s.Phase == ContractWaiting {
			s.Waiting = c.waiting(ctx)
		}
		return s, nil
	}); err != nil {
		return activities.ContractDone{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApproveContract, c.approve,
		workflow.UpdateHandlerOptions{Validator: c.validateApprove}); err != nil {
		return activities.ContractDone{}, err
	}
	c.proveOrder = workflow.GetVersion(ctx, contractOrderChange, workflow.DefaultVersion, 1) == 1
	c.checkBackfill = workflow.GetVersion(ctx, contractBackfillChange, workflow.DefaultVersion, 1) == 1
	c.perService = workflow.GetVersion(ctx, migrationServiceChange, workflow.DefaultVersion, 1) == 1
	if in.Migration.Contract == nil {
		return c.fail(ctx, "migration "+in.Migration.Name+" has no contract")
	}
	expanded := workflow.GetSignalChannel(ctx, SignalContractExpanded)
	completed := workflow.GetSignalChannel(ctx, SignalContractCompleted)
	drain := func() {
		var sig ContractSignal
		for expanded.ReceiveAsync(&sig) {
		}
		for completed.ReceiveAsync(&sig) {
			if sig.Service != "" && sig.Service != in.Service {
				// A release of another service whose migration has the same name and database.
				workflow.GetLogger(ctx).Warn("contract ignores another service's completion", "service", sig.Service, "version", sig.Version)
				continue
			}
			if c.status.State.CompletedBy == "" {
				c.status.State.CompletedBy, c.status.State.CommitTime = sig.Version, sig.CommitTime
				c.status.State.ContractDigest = sig.ContractDigest
				c.status.State.CompletedAt = workflow.Now(ctx)
			}
		}
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(expanded, func(workflow.ReceiveChannel, bool) { drain() })
		sel.AddReceive(completed, func(workflow.ReceiveChannel, bool) { drain() })
		for ctx.Err() == nil {
			sel.Select(ctx)
		}
	})

	for {
		if err := ctx.Err(); err != nil {
			return activities.ContractDone{}, temporal.NewCanceledError()
		}
		drain()
		c.status.Waiting = c.waiting(ctx)
		if len(c.status.Waiting) == 0 {
			break
		}
		if c.status.State.Checks >= contractChecksPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return c.continueAsNew(ctx, drain)
		}
		switch {
		case c.status.State.CompletedBy == "" || !c.approved():
			// Wait for the signal or the approval, or for minAge to pass so the status says so.
			timeout := time.Duration(0)
			if left := c.status.NotBefore.Sub(workflow.Now(ctx)); left > 0 {
				timeout = left
			}
			cond := func() bool {
				return (c.status.State.CompletedBy != "" && c.approved()) || completed.Len() > 0
			}
			if timeout > 0 {
				_, _ = workflow.AwaitWithTimeout(ctx, timeout, cond)
			} else {
				_ = workflow.Await(ctx, cond)
			}
		case workflow.Now(ctx).Before(c.status.NotBefore):
			_ = workflow.Sleep(ctx, c.status.NotBefore.Sub(workflow.Now(ctx)))
		default:
			if c.oldRules(ctx) {
				return c.continueAsNew(ctx, drain) // the next run asks GetVersion afresh, and checks as it says
			}
			// Only (b) and (e) are left: ask the platforms and the databases, and again later until they agree.
			ready, why, err := c.check(ctx)
			c.status.State.Checks++
			if err != nil {
				c.status.Reason = err.Error()
			} else {
				c.status.Reason = why
			}
			if !ready {
				_ = workflow.Sleep(ctx, contractRecheck)
			}
		}
	}
	return c.run(ctx)
}

// waiting lists the conditions not yet met, in words.
func (c *contract) waiting(ctx workflow.Context) []string {
	var w []string
	st := &c.status.State
	if st.CompletedBy == "" {
		w = append(w, "a release that completes "+c.in.Migration.Name+" to serve 100 % in every environment")
	}
	if now := workflow.Now(ctx); now.Before(c.status.NotBefore) {
		w = append(w, fmt.Sprintf("minAge: until %s", c.status.NotBefore.UTC().Format(time.RFC3339)))
	}
	if c.in.Migration.Contract == nil {
		return []string{"a contract section in the migration"}
	}
	if !c.approved() {
		a := c.in.Migration.Contract.Approval
		w = append(w, fmt.Sprintf("approval (%d/%d) by %s", len(st.Approvals), a.Quorum, approverList(a)))
	}
	if !st.OldGone {
		w = append(w, "no version older than the completing one to run anywhere")
	}
	if c.needsBackfill() && !st.BackfillDone {
		w = append(w, "the backfill of "+c.in.Migration.Name+" to be recorded finished in every environment's database")
	}
	return w
}

func approverList(a *spec.Approval) string {
	if len(a.Approvers) == 0 {
		return "anyone"
	}
	return strings.Join(a.Approvers, ", ")
}

// approved reports whether the approvals the contract asks for are in.
func (c *contract) approved() bool {
	if c.in.Migration.Contract == nil {
		return false
	}
	a := c.in.Migration.Contract.Approval
	return a == nil || len(c.status.State.Approvals) >= max(a.Quorum, 1)
}

func (c *contract) validateApprove(ctx workflow.Context, in ContractApproveInput) error {
	name := "contract " + c.in.Migration.Name
	var a *spec.Approval
	if cs := c.in.Migration.Contract; cs != nil {
		a = cs.Approval
	}
	switch {
	case strings.TrimSpace(in.Identity) == "":
		return fmt.Errorf("approve-contract needs an identity")
	case c.status.Phase != ContractWaiting:
		return fmt.Errorf("%s is %s, not waiting for approval", name, c.status.Phase)
	case a == nil:
		return fmt.Errorf("%s needs no approval (its contract has no approval section)", name)
	case c.approved():
		return fmt.Errorf("%s is already approved", name)
	case len(a.Approvers) > 0 && !slices.Contains(a.Approvers, in.Identity):
		return fmt.Errorf("%s may not approve %s: approvers are %s", in.Identity, name, strings.Join(a.Approvers, ", "))
	}
	for _, d := range c.status.State.Approvals {
		if d.Identity == in.Identity {
			return fmt.Errorf("%s already approved %s", in.Identity, name)
		}
	}
	return nil
}

func (c *contract) approve(ctx workflow.Context, in ContractApproveInput) (UpdateResult, error) {
	c.status.State.Approvals = append(c.status.State.Approvals,
		Decision{Action: UpdateApproveContract, Identity: in.Identity, Reason: in.Reason, At: workflow.Now(ctx)})
	c.status.Waiting = c.waiting(ctx)
	return UpdateResult{Message: fmt.Sprintf("approved contract %s (%d/%d)", c.in.Migration.Name,
		len(c.status.State.Approvals), max(c.in.Migration.Contract.Approval.Quorum, 1))}, nil
}

// oldGoneByCurrent asks each environment's platform what serves it: none may run a version older than
// CompletedBy. Contracts before contractOrderChange ask it: a version it cannot order counts as not older.
func (c *contract) oldGoneByCurrent(ctx workflow.Context) (bool, string, error) {
	if !c.in.Platform.TellsCurrent() {
		return false, "the platform cannot say what runs (platform.exec.current is not set)", nil
	}
	st := c.status.State
	for _, env := range c.in.Environments {
		req := activities.PlatformRequest{Kind: c.in.Platform.Kind(), Platform: c.in.Platform,
			Vars: activities.TemplateVars{Service: c.in.Service, Env: env, Version: st.CompletedBy, Track: TrackStable}}
		var cur activities.CurrentResult
		opts := platformOptions(ctx, c.in.Platform, "current "+env)
		if err := workflow.ExecuteActivity(opts, platformActs.Current, req).Get(ctx, &cur); err != nil {
			return false, "", fmt.Errorf("ask what runs in %s: %s", env, errorMessage(err))
		}
		switch {
		case !cur.Known:
			return false, "the platform cannot say what runs in " + env, nil
		case cur.Version == "":
		default:
			if older, _ := olderThan(cur.Version, time.Time{}, Artifact{Version: st.CompletedBy, CommitTime: st.CommitTime}); older {
				return false, fmt.Sprintf("%s still runs %s, older than %s", env, cur.Version, st.CompletedBy), nil
			}
		}
	}
	return true, "", nil
}

// run applies the contract on every environment's database, in order.
func (c *contract) run(ctx workflow.Context) (activities.ContractDone, error) {
	c.status.Phase = ContractContracting
	_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(SearchAttrStage).ValueSet(ContractContracting))
	done := activities.ContractDone{Service: c.in.Service, Migration: c.in.Migration.Name, Database: c.in.Migration.Database,
		CompletedBy: c.status.State.CompletedBy, CommitTime: c.status.State.CommitTime}
	for _, env := range c.in.Environments {
		opts := withOptions(ctx, "contract "+c.in.Migration.Name+" in "+env, 2*time.Hour, time.Minute, expandRetry)
		var res activities.ContractResult
		// The digest is a new field of the activity's input, not a new command: no GetVersion is needed.
		req := activities.MigrationRequest{Env: env, Migration: c.in.Migration, Service: c.recordService(),
			Digest: c.status.State.ContractDigest}
		if err := workflow.ExecuteActivity(opts, migrationActs.Contract, req).Get(ctx, &res); err != nil {
			return c.fail(ctx, fmt.Sprintf("contract %s in %s: %s", c.in.Migration.Name, env, errorMessage(err)))
		}
		done.Dropped = res.Dropped
	}
	done.ContractedAt = workflow.Now(ctx)
	c.status.Phase, c.status.Result, c.status.Waiting = ContractContracted, &done, nil
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		temporal.NewSearchAttributeKeyKeyword(SearchAttrStage).ValueSet(ContractContracted),
		temporal.NewSearchAttributeKeyKeyword(SearchAttrState).ValueSet(StateSucceeded))
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return done, nil
}

func (c *contract) fail(ctx workflow.Context, reason string) (activities.ContractDone, error) {
	c.status.Phase, c.status.Reason = ContractFailed, reason
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		temporal.NewSearchAttributeKeyKeyword(SearchAttrStage).ValueSet(ContractFailed),
		temporal.NewSearchAttributeKeyKeyword(SearchAttrState).ValueSet(StateFailed))
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return activities.ContractDone{}, temporal.NewNonRetryableApplicationError(reason, ErrTypeFailed, nil)
}

// continueAsNew carries the state into a new run, once no Update is in flight and no signal is left unread.
func (c *contract) continueAsNew(ctx workflow.Context, drain func()) (activities.ContractDone, error) {
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	drain()
	in := c.in
	st := c.status.State
	in.State = &st
	return activities.ContractDone{}, workflow.NewContinueAsNewError(ctx, ContractWorkflow, in)
}
