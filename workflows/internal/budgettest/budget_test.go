package budgettest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

const queue = "ferry-budget"

// platform and checks stand in for the real activities: every command and check succeeds at once, so a
// release's history is made of exactly the events its spec asks for.
type platform struct{}

func (*platform) Admit(context.Context, activities.AdmitRequest) error { return nil }

func (*platform) ResolveConfig(context.Context, activities.ConfigRequest) (activities.ConfigResult, error) {
	return activities.ConfigResult{}, nil
}

// Engine names one engine, as the worker's platform does for a spec on Docker; these specs are on exec.
func (*platform) Engine(context.Context, activities.PlatformRequest) (activities.EngineResult, error) {
	return activities.EngineResult{ID: "test-engine", Host: "local"}, nil
}

func (*platform) Deploy(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{}, nil
}
func (*platform) SetWeight(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{}, nil
}
func (*platform) Promote(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{}, nil
}
func (*platform) Rollback(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{}, nil
}
func (*platform) Remove(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{}, nil
}
func (*platform) WaitReady(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{}, nil
}

// Observe cannot tell what serves, as the exec platform without a current command cannot.
func (*platform) Observe(context.Context, activities.PlatformRequest) (activities.Observation, error) {
	return activities.Observation{}, nil
}

type checks struct{}

func (*checks) RunCheck(_ context.Context, in activities.CheckRequest) (activities.CheckResult, error) {
	return activities.CheckResult{Name: in.Check.Name, Passed: true}, nil
}

func TestHistoryOnServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := devserver.Start(ctx, devserver.Options{UIPort: -1, Logger: logger})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	defer func() { _ = srv.Stop() }()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.Release, workflow.RegisterOptions{Name: workflows.ReleaseWorkflow})
	w.RegisterWorkflowWithOptions(workflows.EnvLock, workflow.RegisterOptions{Name: workflows.EnvLockWorkflow})
	w.RegisterWorkflowWithOptions(workflows.PausedAnalysis, workflow.RegisterOptions{Name: workflows.PausedAnalysisWorkflow})
	w.RegisterActivity(&platform{})
	w.RegisterActivity(&checks{})
	w.RegisterActivity(&activities.Temporal{Client: c})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	t.Run("largest release", func(t *testing.T) { largestRelease(ctx, t, c) })
	t.Run("weekend pause", func(t *testing.T) { pausedRelease(ctx, t, c) })
	t.Run("round cost", func(t *testing.T) { roundCost(ctx, t, c) })
}

func checkList(n int) []spec.Check {
	cs := make([]spec.Check, n)
	for i := range cs {
		cs[i] = spec.Check{Name: fmt.Sprintf("check-%d", i), Exec: []string{"true"}}
	}
	return cs
}

func newSpec(service string, envs ...spec.Environment) *spec.Spec {
	s := &spec.Spec{
		Service: service,
		Image:   spec.Image{Repository: "registry.local/" + service},
		Platform: spec.Platform{Exec: &spec.ExecPlatform{Deploy: []string{"d"}, SetWeight: []string{"w"}, Promote: []string{"p"},
			Rollback: []string{"rb"}, Remove: []string{"rm"}}},
		Environments: envs,
	}
	spec.ApplyDefaults(s)
	return s
}

// budgetChecks and budgetInterval shape the largest release: rounds of budgetChecks checks every
// budgetInterval, short enough to run in under a minute and long enough for a round to finish within it, so
// that every round the estimate counts really runs.
const (
	budgetChecks   = 20
	budgetInterval = 300 * time.Millisecond
)

// budgetEnv is a canary environment whose bake and verification each last k analysis intervals.
func budgetEnv(k int) spec.Environment {
	d := spec.Duration(time.Duration(k) * budgetInterval)
	return spec.Environment{
		Name: "staging",
		Strategy: spec.Strategy{Type: spec.StrategyCanary, Steps: []spec.Step{{Weight: 50, Bake: d}},
			Analysis: &spec.Analysis{Interval: spec.Duration(budgetInterval), Checks: checkList(budgetChecks)}},
		Checks: spec.Checks{Smoke: checkList(2), E2E: checkList(2)},
		Verify: &spec.Verify{Window: d, Interval: spec.Duration(budgetInterval), Checks: checkList(budgetChecks)},
	}
}

// largestRelease runs the largest first environment the budget allows, then a second one behind an
// approval, and checks that the release continued as new between them, that the first run's history stays
// within the estimate, and that status, list, decisions and history follow the release into its new run.
func largestRelease(ctx context.Context, t *testing.T, c client.Client) {
	// The longest bake and verification whose worst case still fits the budget.
	n := 1
	for {
		s := newSpec("budget", budgetEnv(n+1))
		if spec.EstimateHistory(&s.Environments[0], "environments[0]").Events > spec.HistoryBudget {
			break
		}
		n++
	}
	production := spec.Environment{Name: "production", Gate: spec.Gate{Approval: &spec.Approval{}},
		Strategy: spec.Strategy{Type: spec.StrategyRolling}, Checks: spec.Checks{Smoke: checkList(1)}}
	s := newSpec("budget", budgetEnv(n), production)
	if err := spec.Validate(s); err != nil {
		t.Fatalf("the largest spec the budget allows does not validate: %v", err)
	}
	estimate := spec.EstimateHistory(&s.Environments[0], "environments[0]").Events
	over := newSpec("budget", budgetEnv(n+1), production)
	if err := spec.Validate(over); err == nil || !strings.Contains(err.Error(), "exceeds the budget") {
		t.Fatalf("one check more: got %v, want the budget exceeded", err)
	}

	in := workflows.ReleaseInput{Spec: *s, Version: "1.0.0", GitSHA: "abc1234"}
	run, _, err := starter.Start(ctx, c, starter.StartOptions{TaskQueue: queue, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	// run keeps the first run's ID, as `ferry start` does: everything below must follow the release anyway.
	awaitStatus(ctx, t, c, run, func(st workflows.Status) bool { return st.Env == "production" && st.Stage == workflows.StageGate })
	rows, _, err := starter.List(ctx, c, starter.ListOptions{Service: "budget"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].State != workflows.StateRunning {
		t.Errorf("list while in the second run: got %+v, want one running release", rows)
	}
	// The new run asks for production's lock as the release it is: started when the first run started, or
	// it would pass for newer than releases started since.
	st, err := starter.StatusOf(ctx, c, run)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, run.WorkflowID, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if firstStart := desc.GetWorkflowExecutionInfo().GetStartTime().AsTime(); st.StartedAt.Sub(firstStart).Abs() > time.Second {
		t.Errorf("status StartedAt %v, want the first run's start %v", st.StartedAt, firstStart)
	}
	v, err := c.QueryWorkflow(ctx, workflows.EnvLockWorkflowID("budget", "production"), "", workflows.QueryLock)
	var lock workflows.LockState
	if err == nil {
		err = v.Get(&lock)
	}
	if err != nil || lock.Holder == nil || !lock.Holder.StartedAt.Equal(st.StartedAt) {
		t.Errorf("production lock: got %+v, %v; want held by the release started at %v", lock.Holder, err, st.StartedAt)
	}
	if _, err := starter.Approve(ctx, c, run, workflows.ApproveInput{Env: "production", Identity: "alice"}); err != nil {
		t.Fatalf("approve in the second run: %v", err)
	}
	res, err := starter.Wait(ctx, c, run)
	if err != nil || res.State != workflows.StateSucceeded || len(res.Environments) != 2 ||
		res.Environments[0].State != workflows.StateSucceeded || res.Environments[1].State != workflows.StateSucceeded {
		t.Fatalf("got %+v, %v; want both environments succeeded", res, err)
	}

	runs := runHistories(ctx, t, c, run.WorkflowID)
	if len(runs) != 2 {
		t.Fatalf("got %d runs of %d events, want 2: the release continues as new before production (%d intervals, estimate %d)",
			len(runs), len(runs[0]), n, estimate)
	}
	first := len(runs[0])
	t.Logf("largest release: %d checks every %v for 2 x %d intervals; first run (staging) %d events with %d checks run, estimate %d, budget %d; second run %d events",
		budgetChecks, budgetInterval, n, first, countActivities(runs[0], "RunCheck"), estimate, spec.HistoryBudget, len(runs[1]))
	if first > estimate {
		t.Errorf("got %d events in the first run, want at most the estimate %d", first, estimate)
	}
	if last := runs[0][first-1].GetEventType(); last != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
		t.Errorf("first run ended with %v, want continued as new", last)
	}

	events, err := starter.History(ctx, c, nil, "budget", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	var deploys []string
	for _, e := range events {
		if e.Name == "Deploy" {
			deploys = append(deploys, e.Env)
		}
	}
	if strings.Join(deploys, " ") != "staging production" {
		t.Errorf("history: got deploys %q, want one per environment across both runs", deploys)
	}
}

// pausedRelease pauses a bake with analysis every 100 ms for seconds, and checks that the rounds run while
// paused went to a child workflow, not into the release's history.
func pausedRelease(ctx context.Context, t *testing.T, c client.Client) {
	ms := func(d int) spec.Duration { return spec.Duration(time.Duration(d) * time.Millisecond) }
	env := spec.Environment{Name: "production",
		Strategy: spec.Strategy{Type: spec.StrategyCanary, Steps: []spec.Step{{Weight: 10, Bake: ms(1000)}},
			Analysis: &spec.Analysis{Interval: ms(100), Checks: checkList(1)}}}
	s := newSpec("paused", env)
	if err := spec.Validate(s); err != nil {
		t.Fatal(err)
	}
	estimate := spec.EstimateHistory(&s.Environments[0], "environments[0]").Events
	run, _, err := starter.Start(ctx, c, starter.StartOptions{TaskQueue: queue, Input: workflows.ReleaseInput{Spec: *s, Version: "1.0.0", GitSHA: "abc1234"}})
	if err != nil {
		t.Fatal(err)
	}
	awaitStatus(ctx, t, c, run, func(st workflows.Status) bool { return st.Weight == 10 && !st.BakeUntil.IsZero() })
	if _, err := starter.Pause(ctx, c, run, workflows.PauseInput{Identity: "alice"}); err != nil {
		t.Fatal(err)
	}
	const paused = 4 * time.Second
	time.Sleep(paused)
	if _, err := starter.Resume(ctx, c, run, workflows.ResumeInput{Identity: "alice"}); err != nil {
		t.Fatal(err)
	}
	if res, err := starter.Wait(ctx, c, run); err != nil || res.State != workflows.StateSucceeded {
		t.Fatalf("got %+v, %v; want succeeded", res, err)
	}
	runs := runHistories(ctx, t, c, run.WorkflowID)
	release := runs[len(runs)-1]
	// The pause itself, from its Update to the resume's: the child's start, cancel and result.
	var during, from int
	for i, e := range release {
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED {
			if from == 0 {
				from = i
			} else {
				during = i - from + 2 // up to the resume's completion
				break
			}
		}
	}
	t.Logf("the pause and its resume: %d events in the release", during)
	if during == 0 || during > 40 {
		t.Errorf("got %d events from pause to resume, want a few dozen at most, however long the pause", during)
	}
	child := runHistories(ctx, t, c, run.WorkflowID+"/paused-analysis/production/1")
	var childRounds int
	for _, r := range child {
		childRounds += countActivities(r, "RunCheck")
	}
	t.Logf("paused %v: release %d events (estimate %d without the pause), %d analysis rounds in the child (%d runs)",
		paused, len(release), estimate, childRounds, len(child))
	if childRounds < 10 {
		t.Errorf("got %d analysis rounds while paused, want one every 100-200ms", childRounds)
	}
	if len(release) > estimate {
		t.Errorf("got %d events in the release, want at most the estimate %d: a pause must not grow it", len(release), estimate)
	}
}

// roundCost runs a verification of one check every 100 ms and measures what a round costs in history:
// with one check no workflow task is shared, so it is the estimate's worst case, 6 + 5 events.
func roundCost(ctx context.Context, t *testing.T, c client.Client) {
	env := spec.Environment{Name: "production", Strategy: spec.Strategy{Type: spec.StrategyRecreate},
		Verify: &spec.Verify{Window: spec.Duration(3 * time.Second), Interval: spec.Duration(100 * time.Millisecond), Checks: checkList(1)}}
	s := newSpec("rounds", env)
	run, _, err := starter.Start(ctx, c, starter.StartOptions{TaskQueue: queue, Input: workflows.ReleaseInput{Spec: *s, Version: "1.0.0", GitSHA: "abc1234"}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := starter.Wait(ctx, c, run); err != nil || res.State != workflows.StateSucceeded {
		t.Fatalf("got %+v, %v; want succeeded", res, err)
	}
	events := runHistories(ctx, t, c, run.WorkflowID)[0]
	first, last := -1, -1
	for i, e := range events {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "RunCheck" {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	rounds := countActivities(events, "RunCheck") - 1
	perRound := float64(last-first) / float64(rounds)
	estimate := spec.EstimateHistory(&s.Environments[0], "environments[0]").Events
	t.Logf("verification: %d rounds, %.2f events a round (estimate 11); release %d events, estimate %d",
		rounds+1, perRound, len(events), estimate)
	if perRound > 11 {
		t.Errorf("got %.2f events a round, want at most the estimate's 11", perRound)
	}
	if len(events) > estimate {
		t.Errorf("got %d events, want at most the estimate %d", len(events), estimate)
	}
}

func awaitStatus(ctx context.Context, t *testing.T, c client.Client, run starter.Run, ok func(workflows.Status) bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	var last workflows.Status
	for time.Now().Before(deadline) {
		st, err := starter.StatusOf(ctx, c, run)
		if err == nil && ok(st) {
			return
		}
		last = st
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("condition not reached; last status %+v", last)
}

// runHistories returns the events of every run of a workflow, first run first.
func runHistories(ctx context.Context, t *testing.T, c client.Client, id string) [][]*historypb.HistoryEvent {
	t.Helper()
	var runs [][]*historypb.HistoryEvent
	for runID := ""; ; {
		var events []*historypb.HistoryEvent
		it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatalf("history of %s: %v", id, err)
			}
			events = append(events, e)
		}
		runs = append([][]*historypb.HistoryEvent{events}, runs...)
		runID = events[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
		if runID == "" {
			return runs
		}
	}
}

func countActivities(events []*historypb.HistoryEvent, name string) int {
	n := 0
	for _, e := range events {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == name {
			n++
		}
	}
	return n
}
