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
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// harness runs the Release workflow in the testsuite with hand-written fakes for every activity. It logs
// every platform call as "op env track version weight" with the workflow time it ran at, grants env locks
// as soon as they are requested, and lets a test fail any operation or check.
type harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu      sync.Mutex
	calls   []string
	times   []time.Time
	stable  map[string]*Artifact // env -> stable version handed out with the lock
	noGrant map[string]bool      // envs whose lock is never granted
	failOps map[string]error     // "op env" -> error
	checkFn func(kind string, in activities.CheckRequest) bool
	checks  []string
	// checkTimes are the workflow times the checks ran at, in the order of checks.
	checkTimes []time.Time
	signals    []string // signals sent to EnvLock workflows: "name env"
	released   map[string]*Artifact
	updates    int
	// admitted counts Admit calls; admitErr is what Admit returns.
	admitted int
	admitErr error
	// signalTime is how long each signal to an EnvLock takes to deliver, on the workflow clock.
	signalTime time.Duration
	// checkTime is how long each check takes, on the workflow clock; checkFn runs when it ends.
	checkTime time.Duration
	// requests are the inputs of the platform activities, in the order of calls.
	requests []activities.PlatformRequest
	// contracts are the contracts that ran, as Temporal.Contracts reports them.
	contracts []activities.ContractDone
	// contractSignals are the signals sent to Contract workflows: "signal workflowID"; contractRequests their
	// requests.
	contractSignals  []string
	contractRequests []activities.SignalWithStartInput
	// expandRequests are the requests of the fake Expand activity (migrationHarness).
	expandRequests []activities.MigrationRequest
	// backfillTime is how long each backfill takes, on the workflow clock (migrationHarness).
	backfillTime time.Duration
	// observed is what Observe reports per env; an env without one cannot be observed (Known false).
	observed map[string]activities.Observation
	// observations counts Observe calls per env.
	observations map[string]int
	// promoteTime is how long each Promote takes, on the workflow clock.
	promoteTime time.Duration
	// queues are the task queues that the platform activities and the checks ran on, in the order they ran:
	// "what queue", with what an operation, "observe", "current", "engine" or a check's name.
	queues []string
	// engineOf answers the Engine activity of a release onDocker by the activity's task queue; nil: every
	// worker's host is engine-a.
	engineOf func(queue string, in activities.PlatformRequest) (activities.EngineResult, error)
}

// noteQueue records the task queue of the activity whose context is ctx.
func (h *harness) noteQueue(ctx context.Context, what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queues = append(h.queues, what+" "+activity.GetInfo(ctx).TaskQueue)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	h := &harness{
		t:            t,
		env:          s.NewTestWorkflowEnvironment(),
		stable:       map[string]*Artifact{},
		noGrant:      map[string]bool{},
		failOps:      map[string]error{},
		released:     map[string]*Artifact{},
		observed:     map[string]activities.Observation{},
		observations: map[string]int{},
		checkFn:      func(string, activities.CheckRequest) bool { return true },
	}
	env := h.env
	env.RegisterWorkflowWithOptions(Release, workflow.RegisterOptions{Name: ReleaseWorkflow})
	env.RegisterWorkflowWithOptions(PausedAnalysis, workflow.RegisterOptions{Name: PausedAnalysisWorkflow})
	env.RegisterActivity(&activities.Platform{})
	env.RegisterActivity(&activities.Checks{})
	env.RegisterActivity(&activities.Temporal{})
	env.RegisterActivity(&activities.Artifact{})

	op := func(name string) func(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
		return func(ctx context.Context, in activities.PlatformRequest) (activities.PlatformResult, error) {
			h.noteQueue(ctx, name)
			h.mu.Lock()
			h.requests = append(h.requests, in)
			h.mu.Unlock()
			return activities.PlatformResult{}, h.platformCall(name, in.Vars)
		}
	}
	env.OnActivity(platformActs.Admit, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.AdmitRequest) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.admitted++
			return h.admitErr
		})
	env.OnActivity(platformActs.Deploy, mock.Anything, mock.Anything).Return(op(opDeploy))
	env.OnActivity(platformActs.WaitReady, mock.Anything, mock.Anything).Return(op(opReady))
	env.OnActivity(platformActs.SetWeight, mock.Anything, mock.Anything).Return(op(opSetWeight))
	env.OnActivity(platformActs.Promote, mock.Anything, mock.Anything).Return(op(opPromote)).AfterFn(func() time.Duration {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.promoteTime
	})
	env.OnActivity(platformActs.Rollback, mock.Anything, mock.Anything).Return(op(opRollback))
	env.OnActivity(platformActs.Remove, mock.Anything, mock.Anything).Return(op(opRemove))
	env.OnActivity(platformActs.Observe, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.PlatformRequest) (activities.Observation, error) {
			h.noteQueue(ctx, "observe")
			h.mu.Lock()
			defer h.mu.Unlock()
			h.observations[in.Vars.Env]++
			return h.observed[in.Vars.Env], nil
		})
	env.OnActivity(checkActs.RunCheck, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.CheckRequest) (activities.CheckResult, error) {
			h.noteQueue(ctx, in.Check.Name)
			kind := in.Check.Name
			h.mu.Lock()
			h.checks = append(h.checks, fmt.Sprintf("%s %s %d", in.Check.Name, in.Vars.Env, in.Vars.Weight))
			h.checkTimes = append(h.checkTimes, h.env.Now())
			fn := h.checkFn
			h.mu.Unlock()
			if fn(kind, in) {
				return activities.CheckResult{Name: in.Check.Name, Passed: true}, nil
			}
			return activities.CheckResult{Name: in.Check.Name, Passed: false, Detail: "status 500, want 200"}, nil
		}).AfterFn(func() time.Duration {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.checkTime
	})
	env.OnActivity(temporalActs.Contracts, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ContractsInput) ([]activities.ContractDone, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.contracts, nil
		})
	env.OnActivity(temporalActs.SignalWithStart, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SignalWithStartInput) error {
			if in.WorkflowType == ContractWorkflow {
				h.mu.Lock()
				defer h.mu.Unlock()
				h.contractSignals = append(h.contractSignals, in.Signal+" "+in.WorkflowID)
				h.contractRequests = append(h.contractRequests, in)
				return nil
			}
			envName := in.WorkflowID[strings.LastIndex(in.WorkflowID, "/")+1:]
			h.mu.Lock()
			grant, stable := !h.noGrant[envName], h.stable[envName]
			h.mu.Unlock()
			if grant {
				h.env.SignalWorkflow(SignalLockGranted, LockGrantedSignal{Env: envName, Stable: stable})
			}
			return nil
		})
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, workflowID, _, signal string, arg any) error {
			envName := workflowID[strings.LastIndex(workflowID, "/")+1:]
			h.mu.Lock()
			defer h.mu.Unlock()
			h.signals = append(h.signals, signal+" "+envName)
			if rel, ok := arg.(LockReleaseSignal); ok {
				h.released[envName] = rel.Deployed
			}
			return nil
		}).AfterFn(func() time.Duration {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.signalTime
	})
	return h
}

func (h *harness) platformCall(op string, v activities.TemplateVars) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	call := fmt.Sprintf("%s %s %s %s %d", op, v.Env, v.Track, v.Version, v.Weight)
	if op == opRollback {
		call = fmt.Sprintf("%s %s %s %s", op, v.Env, v.Track, v.StableVersion)
	}
	h.calls = append(h.calls, call)
	h.times = append(h.times, h.env.Now())
	return h.failOps[op+" "+v.Env]
}

// run executes the release to completion.
func (h *harness) run(in ReleaseInput) {
	h.t.Helper()
	h.env.ExecuteWorkflow(Release, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
}

// after schedules fn at workflow time d after start.
func (h *harness) after(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

// update sends an Update and returns a function that reports its outcome once the workflow ran.
type updateOutcome struct {
	accepted bool
	rejected error
	result   UpdateResult
	err      error
	done     bool
}

func (h *harness) update(name string, arg any) *updateOutcome {
	out := &updateOutcome{}
	h.updates++
	h.env.UpdateWorkflow(name, fmt.Sprintf("%s-%d", name, h.updates), &testsuite.TestUpdateCallback{
		OnAccept: func() { out.accepted = true },
		OnReject: func(err error) { out.rejected = err; out.done = true },
		OnComplete: func(v any, err error) {
			out.done = true
			out.err = err
			if r, ok := v.(UpdateResult); ok {
				out.result = r
			}
		},
	}, arg)
	return out
}

func (h *harness) status() Status {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(QueryStatus)
	if err != nil {
		h.t.Fatalf("query status: %v", err)
	}
	var s Status
	if err := v.Get(&s); err != nil {
		h.t.Fatalf("decode status: %v", err)
	}
	return s
}

// result returns the release result and the error type of a failed workflow ("" when it succeeded).
func (h *harness) result() (ReleaseResult, string) {
	h.t.Helper()
	var res ReleaseResult
	err := h.env.GetWorkflowError()
	if err == nil {
		if err := h.env.GetWorkflowResult(&res); err != nil {
			h.t.Fatalf("get result: %v", err)
		}
		return res, ""
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		if derr := app.Details(&res); derr != nil {
			h.t.Fatalf("decode failure details: %v (error %v)", derr, err)
		}
		return res, app.Type()
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		if derr := canceled.Details(&res); derr != nil {
			h.t.Fatalf("decode cancel details: %v", derr)
		}
		return res, "Canceled"
	}
	h.t.Fatalf("unexpected workflow error: %v", err)
	return res, ""
}

func (h *harness) wantCalls(want ...string) {
	h.t.Helper()
	got := strings.Join(h.calls, "\n")
	if w := strings.Join(want, "\n"); got != w {
		h.t.Errorf("platform calls:\ngot:\n%s\n\nwant:\n%s", got, w)
	}
}

func (h *harness) callTime(call string) time.Time {
	h.t.Helper()
	for i, c := range h.calls {
		if c == call {
			return h.times[i]
		}
	}
	h.t.Fatalf("no call %q in %q", call, h.calls)
	return time.Time{}
}

// Spec builders.

func execPlatform() *spec.ExecPlatform {
	return &spec.ExecPlatform{
		Deploy: []string{"deploy"}, SetWeight: []string{"w"}, Promote: []string{"p"},
		Rollback: []string{"rb"}, Remove: []string{"rm"}, Ready: []string{"ready"},
	}
}

var httpOK = spec.Check{Name: "health", HTTP: &spec.HTTPCheck{Path: "/healthz", Status: 200}}

func staging() spec.Environment {
	return spec.Environment{
		Name: "staging", Gate: spec.Gate{Auto: true}, Replicas: 2,
		Strategy: spec.Strategy{Type: spec.StrategyRolling, MaxUnavailable: 1, MaxSurge: 1},
		URL:      "http://staging.local",
		Checks:   spec.Checks{Smoke: []spec.Check{{Name: "smoke", HTTP: &spec.HTTPCheck{Path: "/healthz"}}}},
	}
}

func production() spec.Environment {
	return spec.Environment{
		Name:     "production",
		Gate:     spec.Gate{Approval: &spec.Approval{Approvers: []string{"release-lead", "sre-oncall"}, Quorum: 1}},
		Replicas: 4,
		URL:      "http://prod.local",
		Strategy: spec.Strategy{
			Type: spec.StrategyCanary,
			Steps: []spec.Step{
				{Weight: 10, Bake: spec.Duration(10 * time.Minute)},
				{Weight: 50, Bake: spec.Duration(10 * time.Minute)},
				{Weight: 100},
			},
			Analysis: &spec.Analysis{Interval: spec.Duration(time.Minute), FailureLimit: 1, Checks: []spec.Check{{Name: "error-rate", Exec: []string{"check"}}}},
		},
		Checks: spec.Checks{E2E: []spec.Check{{Name: "e2e", Exec: []string{"e2e"}}}},
		Verify: &spec.Verify{Window: spec.Duration(5 * time.Minute), Interval: spec.Duration(time.Minute), Checks: []spec.Check{httpOK}},
	}
}

func releaseInput(envs ...spec.Environment) ReleaseInput {
	return ReleaseInput{
		Spec: spec.Spec{
			Service:      "checkout",
			Image:        spec.Image{Repository: "registry.local/checkout"},
			Platform:     spec.Platform{Exec: execPlatform()},
			Environments: envs,
		},
		Version: "1.4.2",
		GitSHA:  "abc1234",
	}
}
