package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

func addEmailVerified() spec.Migration {
	return spec.Migration{
		Name: "add-email-verified", Database: "users", Expand: "db/003_expand.sql",
		Backfill: &spec.Backfill{Table: "users", Set: "email_verified = (legacy_flag = 'Y')", Where: "email_verified IS NULL"},
		Contract: &spec.Contract{SQL: "db/003_contract.sql", MinAge: spec.Duration(72 * time.Hour),
			Approval: &spec.Approval{Approvers: []string{"dba"}, Quorum: 1}},
	}
}

// migrationHarness is the release harness with the migration activities faked: it logs "expand ENV NAME" and
// "backfill ENV NAME" among the platform calls, so their order against deploys shows.
func migrationHarness(t *testing.T, backfill func(activities.BackfillRequest) (activities.BackfillProgress, error)) *harness {
	h := newHarness(t)
	h.env.RegisterActivity(&activities.Migrations{})
	h.env.OnActivity(migrationActs.Expand, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MigrationRequest) (activities.ExpandResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.calls = append(h.calls, "expand "+in.Env+" "+in.Migration.Name)
			h.expandRequests = append(h.expandRequests, in)
			h.times = append(h.times, h.env.Now())
			return activities.ExpandResult{Applied: true}, h.failOps["expand "+in.Env]
		})
	h.env.OnActivity(migrationActs.Backfill, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.BackfillRequest) (activities.BackfillProgress, error) {
			h.mu.Lock()
			h.calls = append(h.calls, "backfill "+in.Env+" "+in.Migration.Name)
			h.times = append(h.times, h.env.Now())
			h.mu.Unlock()
			return backfill(in)
		}).AfterFn(func() time.Duration {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.backfillTime
	})
	return h
}

func TestReleaseExpandsBeforeDeployAndBackfillsAt100(t *testing.T) {
	h := migrationHarness(t, func(in activities.BackfillRequest) (activities.BackfillProgress, error) {
		return activities.BackfillProgress{Rows: 10, Total: 10, Done: true}, nil
	})
	in := releaseInput(staging())
	in.Spec.Migrations = []spec.Migration{addEmailVerified()}
	in.Spec.Requires = []string{"add-email-verified"}
	h.run(in)
	if res, typ := h.result(); res.State != StateSucceeded {
		t.Fatalf("got %s (%s): %s, want succeeded", res.State, typ, res.Reason)
	}
	h.wantCalls(
		"expand staging add-email-verified",
		"deploy staging stable 1.4.2 0",
		"ready staging stable 1.4.2 0",
		"backfill staging add-email-verified",
	)
	if got := h.status().Backfill; got == nil || got.State != backfillDone || got.Progress.Rows != 10 {
		t.Errorf("status backfill: got %+v, want done with 10 rows", got)
	}
	want := SignalContractExpanded + " " + ContractWorkflowID("checkout", "users", "add-email-verified")
	if len(h.contractSignals) != 1 || h.contractSignals[0] != want {
		t.Errorf("contract signals: got %q, want [%q]", h.contractSignals, want)
	}
}

func TestReleaseExpandFailureDeploysNothing(t *testing.T) {
	h := migrationHarness(t, nil)
	h.failOps["expand staging"] = temporal.NewNonRetryableApplicationError("lint: drops column", activities.ErrTypeLint, nil)
	in := releaseInput(staging())
	in.Spec.Migrations = []spec.Migration{addEmailVerified()}
	in.Spec.Requires = []string{"add-email-verified"}
	h.run(in)
	res, _ := h.result()
	if res.State != StateFailed || !strings.Contains(res.Reason, "expand add-email-verified in staging") {
		t.Fatalf("got %s: %s, want failed at the expand", res.State, res.Reason)
	}
	h.wantCalls("expand staging add-email-verified")
}

func TestReleaseBackfillResumesFromCancelledProgress(t *testing.T) {
	var h *harness
	runs := 0
	h = migrationHarness(t, func(in activities.BackfillRequest) (activities.BackfillProgress, error) {
		runs++
		if runs == 1 {
			// The first run is paused mid-way: it hands back where it stood.
			return activities.BackfillProgress{}, temporal.NewCanceledError(activities.BackfillProgress{Cursor: "500", Rows: 500, Total: 1000})
		}
		if in.From.Cursor != "500" || in.From.Rows != 500 {
			return activities.BackfillProgress{}, fmt.Errorf("resumed from %+v, want cursor 500", in.From)
		}
		return activities.BackfillProgress{Cursor: "1000", Rows: 1000, Total: 1000, Done: true}, nil
	})
	in := releaseInput(staging())
	in.Spec.Migrations = []spec.Migration{addEmailVerified()}
	in.Spec.Requires = []string{"add-email-verified"}
	h.run(in)
	if res, typ := h.result(); res.State != StateSucceeded {
		t.Fatalf("got %s (%s): %s, want succeeded", res.State, typ, res.Reason)
	}
	if runs != 2 {
		t.Errorf("backfill runs: got %d, want 2 (a cancelled run resumes from its progress)", runs)
	}
}

func TestBackfillUpdateRejectedWithoutBackfill(t *testing.T) {
	h := newHarness(t)
	var out *updateOutcome
	h.after(5*time.Minute, func() {
		out = h.update(UpdateBackfill, BackfillInput{Action: BackfillPause, Identity: "dba"})
	})
	h.run(releaseInput(autoProduction()))
	if out == nil || out.rejected == nil || !strings.Contains(out.rejected.Error(), "runs no backfill") {
		t.Fatalf("got %+v, want a rejection saying no backfill runs", out)
	}
}

func TestDowngradePastContractRefused(t *testing.T) {
	h := newHarness(t)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	h.contracts = []activities.ContractDone{{Service: "checkout", Migration: "add-email-verified", Database: "users",
		CompletedBy: "1.4.0", ContractedAt: at, Dropped: []string{"column users.legacy_flag"}}}
	h.stable["staging"] = &Artifact{Version: "1.4.4"}
	in := releaseInput(staging())
	in.Version, in.AllowDowngrade = "1.3.9", true
	h.run(in)
	res, _ := h.result()
	want := "1.3.9 needs users.legacy_flag, dropped by contract add-email-verified at 2026-12-03T10:00Z"
	if res.State != StateFailed || !strings.Contains(res.Reason, want) {
		t.Fatalf("got %s: %q, want failed with %q", res.State, res.Reason, want)
	}
	h.wantCalls()
}

// contractEnv runs the Contract workflow with faked platform, lock, record and contract activities. Each
// environment serves the version in running at 100 %, unless observed says otherwise; its lock records what
// locks says; its backfill is recorded finished unless backfills says otherwise.
type contractEnv struct {
	env        *testsuite.TestWorkflowEnvironment
	mu         sync.Mutex
	running    map[string]string // env -> version that runs
	observed   map[string]activities.Observation
	locks      map[string]activities.DeployedVersions
	backfills  map[string]activities.BackfillRecord
	contracted []string
	requests   []activities.MigrationRequest
}

func newContractEnv(t *testing.T) *contractEnv {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	c := &contractEnv{env: s.NewTestWorkflowEnvironment(), running: map[string]string{},
		observed: map[string]activities.Observation{}, locks: map[string]activities.DeployedVersions{},
		backfills: map[string]activities.BackfillRecord{}}
	c.env.RegisterWorkflowWithOptions(Contract, workflow.RegisterOptions{Name: ContractWorkflow})
	c.env.RegisterActivity(&activities.Platform{})
	c.env.RegisterActivity(&activities.Migrations{})
	c.env.RegisterActivity(&activities.Temporal{})
	c.env.OnActivity(platformActs.Current, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PlatformRequest) (activities.CurrentResult, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			return activities.CurrentResult{Known: true, Version: c.running[in.Vars.Env]}, nil
		})
	c.env.OnActivity(platformActs.Observe, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PlatformRequest) (activities.Observation, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if obs, ok := c.observed[in.Vars.Env]; ok {
				return obs, nil
			}
			return activities.Observation{Known: true, Serving: []activities.Share{{Version: c.running[in.Vars.Env], Percent: 100}}}, nil
		})
	c.env.OnActivity(temporalActs.DeployedVersions, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DeployedVersionsInput) (activities.DeployedVersions, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.locks[in.WorkflowID], nil
		})
	c.env.OnActivity(migrationActs.Backfilled, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RecordsRequest) (activities.BackfillRecord, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if r, ok := c.backfills[in.Env]; ok {
				return r, nil
			}
			return activities.BackfillRecord{Done: true}, nil
		})
	c.env.OnActivity(migrationActs.Contract, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MigrationRequest) (activities.ContractResult, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.contracted = append(c.contracted, in.Env)
			c.requests = append(c.requests, in)
			return activities.ContractResult{Applied: true, Dropped: []string{"column users.legacy_flag"}}, nil
		})
	return c
}

// set changes the fakes' state under their lock.
func (c *contractEnv) set(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn()
}

// status queries the contract's status.
func (c *contractEnv) status(t *testing.T) ContractStatus {
	t.Helper()
	v, err := c.env.QueryWorkflow(QueryContract)
	var st ContractStatus
	if err != nil || v.Get(&st) != nil {
		t.Fatalf("query contract: %v", err)
	}
	return st
}

func contractInput(start time.Time) ContractInput {
	p := execPlatform()
	p.Current = []string{"./current.sh"}
	return ContractInput{Service: "checkout", Migration: addEmailVerified(), Environments: []string{"staging", "production"},
		Platform: spec.Platform{Exec: p}, ExpandedAt: start}
}

func TestContractWaitsForAllFourConditions(t *testing.T) {
	c := newContractEnv(t)
	start := c.env.Now()
	c.running["staging"], c.running["production"] = "1.4.2", "1.4.1" // production still runs the old version
	var early, stranger, approved *updateOutcomeC
	c.env.RegisterDelayedCallback(func() {
		c.env.SignalWorkflow(SignalContractCompleted, ContractSignal{Version: "1.4.2"})
	}, time.Hour)
	c.env.RegisterDelayedCallback(func() {
		stranger = c.update(ContractApproveInput{Identity: "intern"})
		early = c.update(ContractApproveInput{Identity: "dba", Reason: "checked"})
	}, 2*time.Hour)
	c.env.RegisterDelayedCallback(func() {
		approved = c.update(ContractApproveInput{Identity: "dba"})
		c.running["production"] = "1.4.2"
	}, 80*time.Hour)
	c.env.ExecuteWorkflow(Contract, contractInput(start))
	if !c.env.IsWorkflowCompleted() {
		t.Fatal("contract did not complete")
	}
	var done activities.ContractDone
	if err := c.env.GetWorkflowResult(&done); err != nil {
		t.Fatalf("contract: %v", err)
	}
	if stranger == nil || stranger.rejected == nil || !strings.Contains(stranger.rejected.Error(), "approvers are dba") {
		t.Errorf("approval by a stranger: got %+v, want rejected", stranger)
	}
	if early == nil || early.rejected != nil {
		t.Errorf("approval by dba: got %+v, want accepted", early)
	}
	if approved == nil || approved.rejected == nil {
		t.Errorf("a second approval: got %+v, want rejected (already approved)", approved)
	}
	// minAge is 72h; production ran 1.4.1 until 80h, and the check repeats every contractRecheck.
	if took := done.ContractedAt.Sub(start); took < 80*time.Hour || took > 80*time.Hour+contractRecheck+time.Minute {
		t.Errorf("contracted after %s, want just after the old version left at 80h", took)
	}
	if strings.Join(c.contracted, ",") != "staging,production" || done.CompletedBy != "1.4.2" {
		t.Errorf("got contract in %q completed by %s, want staging,production by 1.4.2", c.contracted, done.CompletedBy)
	}
}

func TestContractNeverRunsWithoutCompletion(t *testing.T) {
	c := newContractEnv(t)
	c.env.RegisterDelayedCallback(func() { c.update(ContractApproveInput{Identity: "dba"}) }, time.Hour)
	var st ContractStatus
	c.env.RegisterDelayedCallback(func() {
		v, err := c.env.QueryWorkflow(QueryContract)
		if err == nil {
			_ = v.Get(&st)
		}
		c.env.CancelWorkflow()
	}, 30*24*time.Hour)
	c.env.ExecuteWorkflow(Contract, contractInput(c.env.Now()))
	if len(c.contracted) != 0 {
		t.Fatalf("contract ran in %q without a completing release", c.contracted)
	}
	if st.Phase != ContractWaiting || len(st.Waiting) == 0 || !strings.Contains(st.Waiting[0], "a release that completes") {
		t.Errorf("status: got %s waiting for %q, want waiting for a completing release", st.Phase, st.Waiting)
	}
	if err := c.env.GetWorkflowError(); !errors.As(err, new(*temporal.CanceledError)) {
		t.Errorf("got %v, want cancelled", err)
	}
}

type updateOutcomeC struct {
	rejected error
	err      error
}

func (c *contractEnv) update(in ContractApproveInput) *updateOutcomeC {
	out := &updateOutcomeC{}
	c.env.UpdateWorkflow(UpdateApproveContract, fmt.Sprint(time.Now().UnixNano()), &testsuite.TestUpdateCallback{
		OnAccept:   func() {},
		OnReject:   func(err error) { out.rejected = err },
		OnComplete: func(_ any, err error) { out.err = err },
	}, in)
	return out
}

func TestCompletingReleaseSignalsContractOnlyOnSuccess(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			h := migrationHarness(t, nil)
			if fail {
				h.failOps["deploy staging"] = temporal.NewNonRetryableApplicationError("boom", ErrTypeInvalid, nil)
			}
			in := releaseInput(staging())
			in.Version = "1.5.0"
			in.Spec.Migrations = []spec.Migration{addEmailVerified()}
			in.Spec.Completes = []string{"add-email-verified"}
			h.run(in)
			var want []string
			if !fail {
				want = []string{SignalContractCompleted + " " + ContractWorkflowID("checkout", "users", "add-email-verified")}
			}
			if strings.Join(h.contractSignals, "|") != strings.Join(want, "|") {
				t.Errorf("contract signals: got %q, want %q", h.contractSignals, want)
			}
		})
	}
}

// TestReleaseSignalsItsServicesContract: the contract's ID and the signal name the service, and the signal
// reaches a contract under the legacy ID only when that one's FerryService is this service.
func TestReleaseSignalsItsServicesContract(t *testing.T) {
	h := migrationHarness(t, func(activities.BackfillRequest) (activities.BackfillProgress, error) {
		return activities.BackfillProgress{Done: true}, nil
	})
	in := releaseInput(staging())
	in.Spec.Migrations = []spec.Migration{addEmailVerified()}
	in.Spec.Requires = []string{"add-email-verified"}
	h.run(in)
	if len(h.contractRequests) != 1 {
		t.Fatalf("contract signals: got %q, want one", h.contractSignals)
	}
	req := h.contractRequests[0]
	sig, _ := req.SignalArg.(map[string]any) // the activity's input, decoded
	want := activities.LegacyWorkflow{WorkflowID: "ferry-contract/users/add-email-verified", Attribute: SearchAttrService, Value: "checkout"}
	if req.WorkflowID != "ferry-contract/checkout/users/add-email-verified" || req.Legacy == nil || *req.Legacy != want || sig["service"] != "checkout" {
		t.Errorf("contract signal: got ID %s legacy %+v signal %+v, want the service in the ID and the signal, and legacy %+v",
			req.WorkflowID, req.Legacy, sig, want)
	}
}

// TestAbortDuringBackfillFails: an abort while the backfill runs stops it, and the release ends failed saying
// that the new version stays promoted and where the backfill stopped; the lock keeps the new version as
// stable. Before abortBackfillChange it ended "aborted" with nothing rolled back.
func TestAbortDuringBackfillFails(t *testing.T) {
	runs := 0
	h := migrationHarness(t, func(in activities.BackfillRequest) (activities.BackfillProgress, error) {
		runs++
		if runs == 1 { // resized at key 500: a second run goes on from there
			return activities.BackfillProgress{}, temporal.NewCanceledError(activities.BackfillProgress{Cursor: "500", Rows: 500, Total: 1000})
		}
		return activities.BackfillProgress{Cursor: "1000", Rows: 1000, Total: 1000, Done: true}, nil
	})
	h.backfillTime = time.Hour
	var out *updateOutcome
	h.after(90*time.Minute, func() {
		out = h.update(UpdateAbort, AbortInput{Identity: "alice", Reason: "database load"})
	})
	in := releaseInput(staging())
	in.Spec.Migrations = []spec.Migration{addEmailVerified()}
	in.Spec.Requires = []string{"add-email-verified"}
	h.run(in)
	if out == nil || out.rejected != nil || out.err != nil || !strings.Contains(out.result.Message, "1.4.2 stays promoted there, the backfill stops") {
		t.Fatalf("abort: got %+v, want accepted, saying 1.4.2 stays promoted", out)
	}
	res, typ := h.result()
	want := "staging: promoted; backfill of add-email-verified stopped at key 500 (500 of ~1000 rows) by the abort of alice (database load). " +
		"Nothing rolled back: 1.4.2 serves all traffic there"
	if res.State != StateFailed || typ != ErrTypeFailed || !strings.HasPrefix(res.Reason, want) {
		t.Fatalf("got %s (%s): %q, want failed: %q", res.State, typ, res.Reason, want)
	}
	if es := res.Environments[0]; es.State != StateFailed || !strings.Contains(es.Reason, "promoted; backfill") {
		t.Errorf("staging: got %s (%s), want failed, promoted", es.State, es.Reason)
	}
	if d := h.released["staging"]; d == nil || d.Version != "1.4.2" {
		t.Errorf("lock released with %+v, want 1.4.2 as the stable version", d)
	}
	if b := h.status().Backfill; b == nil || b.State != backfillFailed || b.Progress.Cursor != "500" {
		t.Errorf("status backfill: got %+v, want failed at key 500", b)
	}
}
