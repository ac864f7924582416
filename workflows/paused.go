package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// PausedAnalysisWorkflow is the registered name of PausedAnalysis. It is part of recorded histories: never
// rename it.
const PausedAnalysisWorkflow = "PausedAnalysis"

// pausedAnalysisChange is the GetVersion change ID under which a paused step's analysis runs in a
// PausedAnalysis child workflow instead of in the release's own history.
const pausedAnalysisChange = "paused-analysis-child"

// pausedAnalysisHistory is the history length past which PausedAnalysis continues as new. Tests lower it.
var pausedAnalysisHistory = 10_000

// PausedAnalysisInput starts (or continues) a PausedAnalysis workflow.
type PausedAnalysisInput struct {
	Env    string `json:"env"`
	Weight int    `json:"weight"`
	// Requests are the analysis checks, rendered by the release; each round runs them all in parallel.
	Requests []activities.CheckRequest `json:"requests"`
	Interval time.Duration             `json:"interval"`
	// Next is when the next round is due, on the release's analysis cadence.
	Next time.Time `json:"next"`
	// Failures counts the failed rounds of the step so far; more than FailureLimit fails the step.
	Failures     int `json:"failures"`
	FailureLimit int `json:"failureLimit"`
	// Rounds and LastCheck are what the previous runs of this pause did.
	Rounds    int          `json:"rounds,omitempty"`
	LastCheck *CheckStatus `json:"lastCheck,omitempty"`
}

// PausedAnalysisResult is where a PausedAnalysis stopped: the release takes the cadence, the failure count
// and the last check over from it.
type PausedAnalysisResult struct {
	Next      time.Time    `json:"next"`
	Failures  int          `json:"failures"`
	Rounds    int          `json:"rounds"`
	LastCheck *CheckStatus `json:"lastCheck,omitempty"`
	// Failed, when set, is why the step failed: more failed rounds than FailureLimit.
	Failed string `json:"failed,omitempty"`
}

// PausedAnalysis runs a paused step's analysis for its parent Release: a round every Interval from Next,
// until the failures pass FailureLimit (it returns Failed) or the release cancels it on resume or promote
// (it returns where it stopped; a round cut short by the cancel does not count). A pause lasts as long as a
// person wants, so the rounds live here, and the workflow continues as new to bound its own history; the
// release's history grows by a constant per pause.
func PausedAnalysis(ctx workflow.Context, in PausedAnalysisInput) (PausedAnalysisResult, error) {
	result := func() PausedAnalysisResult {
		return PausedAnalysisResult{Next: in.Next, Failures: in.Failures, Rounds: in.Rounds, LastCheck: in.LastCheck}
	}
	for {
		if wait := in.Next.Sub(workflow.Now(ctx)); wait > 0 {
			timer := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{
				Summary: fmt.Sprintf("paused analysis %s at %d%%", in.Env, in.Weight),
			})
			if err := timer.Get(ctx, nil); err != nil {
				return result(), nil // cancelled: the release resumed
			}
		}
		futures := make([]workflow.Future, len(in.Requests))
		for i, req := range in.Requests {
			opts := checkOptions(ctx, req.Check, fmt.Sprintf("analysis %s: %s (paused)", in.Env, req.Check.Name))
			futures[i] = workflow.ExecuteActivity(opts, checkActs.RunCheck, req)
		}
		var failed *activities.CheckResult
		var last *CheckStatus
		for _, f := range futures {
			var res activities.CheckResult
			if err := f.Get(ctx, &res); err != nil {
				if ctx.Err() != nil {
					return result(), nil
				}
				return result(), fmt.Errorf("analysis: %s", errorMessage(err))
			}
			last = &CheckStatus{Name: res.Name, Kind: "analysis", Passed: res.Passed, Detail: res.Detail, At: workflow.Now(ctx)}
			if !res.Passed && failed == nil {
				failed = &res
			}
		}
		if ctx.Err() != nil {
			return result(), nil
		}
		in.Rounds++
		in.LastCheck = last
		for now := workflow.Now(ctx); !in.Next.After(now); {
			in.Next = in.Next.Add(in.Interval) // keep the cadence, skipping rounds a slow one overran
		}
		if failed != nil {
			in.Failures++
			if in.Failures > in.FailureLimit {
				res := result()
				res.Failed = fmt.Sprintf("analysis failed at %d%%: %q: %s (%d failed runs, limit %d)",
					in.Weight, failed.Name, failed.Detail, in.Failures, in.FailureLimit)
				return res, nil
			}
		}
		info := workflow.GetInfo(ctx)
		if info.GetCurrentHistoryLength() >= pausedAnalysisHistory || info.GetContinueAsNewSuggested() {
			return PausedAnalysisResult{}, workflow.NewContinueAsNewError(ctx, PausedAnalysisWorkflow, in)
		}
	}
}

// analyzeInChild reports whether a paused step's analysis runs in a PausedAnalysis child (since version
// 1 of pausedAnalysisChange) rather than in the release's own history.
func (r *release) analyzeInChild(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, pausedAnalysisChange, workflow.DefaultVersion, 1) == 1
}

// analyzeWhilePaused keeps a paused step's analysis running, from *next on its cadence, until done reports
// true (resume, promote) or ctx is cancelled (abort). The rounds run in a PausedAnalysis child workflow, so
// however long the pause lasts the release's history grows by a few events only; the child's result moves
// *next, the failure count and the last check on. It reports whether any round ran, and returns an error
// when the analysis failed the step.
func (r *release) analyzeWhilePaused(ctx workflow.Context, e *envRun, a *spec.Analysis, next *time.Time, done func() bool) (bool, error) {
	track := e.strategy.track()
	in := PausedAnalysisInput{
		Env: e.spec.Name, Weight: e.weight, Interval: orDefault(a.Interval.D(), time.Minute), Next: *next,
		Failures: r.status.AnalysisFailures, FailureLimit: a.FailureLimit,
	}
	for _, c := range a.Checks {
		in.Requests = append(in.Requests, activities.CheckRequest{Check: c, BaseURL: e.spec.URL, Dir: e.checkDir(), Vars: r.vars(e, track, e.weight)})
	}
	r.pausedAnalyses++
	childCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	childCtx = workflow.WithChildOptions(childCtx, workflow.ChildWorkflowOptions{
		WorkflowID: fmt.Sprintf("%s/paused-analysis/%s/%d", workflow.GetInfo(ctx).WorkflowExecution.ID, e.spec.Name, r.pausedAnalyses),
		// Wait for the child to close on cancel: its result carries the rounds it ran.
		WaitForCancellation: true,
		StaticSummary:       fmt.Sprintf("analysis of %s %s at %d%% while paused", r.name(), e.spec.Name, e.weight),
	})
	f := workflow.ExecuteChildWorkflow(childCtx, PausedAnalysisWorkflow, in)
	waitErr := workflow.Await(ctx, func() bool { return done() || f.IsReady() })
	if !f.IsReady() {
		cancel()
	}
	var res PausedAnalysisResult
	if err := f.Get(ctx, &res); err != nil {
		var canceled *temporal.CanceledError
		if !errors.As(err, &canceled) {
			return false, fmt.Errorf("analysis while paused: %s", errorMessage(err))
		}
		return false, waitErr // cancelled before it started: nothing ran
	}
	*next = res.Next
	r.status.AnalysisFailures = res.Failures
	if res.LastCheck != nil {
		r.status.LastCheck = res.LastCheck
	}
	if res.Failed != "" {
		return res.Rounds > 0, errors.New(res.Failed)
	}
	return res.Rounds > 0, waitErr
}
