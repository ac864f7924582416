package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// countChecks counts the analysis runs of production in h, at the given weight.
func countChecks(h *harness, prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.checks {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// A release paused for a weekend keeps its analysis running every interval, in a child workflow, and goes on
// where it stopped when resumed.
func TestWeekendPauseKeepsAnalysisRunning(t *testing.T) {
	h := newHarness(t)
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.after(5*time.Minute, func() { h.update(UpdatePause, PauseInput{Identity: "alice", Reason: "friday"}) })
	var during, atResume int
	h.after(5*time.Minute+30*time.Hour, func() {
		during = countChecks(h, "error-rate production 10")
		if s := h.status(); !s.Paused {
			t.Errorf("after 30h: got paused=%v, want paused", s.Paused)
		}
	})
	h.after(5*time.Minute+64*time.Hour, func() {
		atResume = countChecks(h, "error-rate production 10")
		h.update(UpdateResume, ResumeInput{Identity: "alice"})
	})
	h.run(releaseInput(staging(), production()))

	if res, _ := h.result(); res.State != StateSucceeded {
		t.Fatalf("got %s (%s), want succeeded", res.State, res.Reason)
	}
	// Weight 10 from about t=1m: 4 rounds before the pause, then one a minute while paused.
	if want := 4 + 30*60; during < want-2 || during > want+2 {
		t.Errorf("analysis runs after 30h paused: got %d, want about %d", during, want)
	}
	if want := 4 + 64*60; atResume < want-2 || atResume > want+2 {
		t.Errorf("analysis runs at resume after 64h: got %d, want about %d", atResume, want)
	}
	// The bake then runs its remaining 6 minutes with its analysis: a round per minute on the cadence, the
	// slot that fell due while the resume was delivered, and the round that ends the bake.
	if got := countChecks(h, "error-rate production 10") - atResume; got < 6 || got > 8 {
		t.Errorf("analysis runs after resume: got %d, want about 7", got)
	}
}

// An analysis that fails while paused fails the step and rolls back, as it would if the bake ran.
func TestAnalysisFailureWhilePausedRollsBack(t *testing.T) {
	h := newHarness(t)
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.after(5*time.Minute, func() { h.update(UpdatePause, PauseInput{Identity: "alice"}) })
	h.after(3*time.Hour, func() {
		h.mu.Lock()
		h.checkFn = func(kind string, _ activities.CheckRequest) bool { return kind != "error-rate" }
		h.mu.Unlock()
	})
	h.run(releaseInput(staging(), production()))

	res, errType := h.result()
	if res.State != StateRolledBack || errType != ErrTypeRolledBack {
		t.Fatalf("got state %q (error type %q), want rolled_back", res.State, errType)
	}
	if !strings.Contains(res.Reason, "analysis failed at 10%") || !strings.Contains(res.Reason, "2 failed runs, limit 1") {
		t.Errorf("got reason %q, want the analysis failure at 10%% past its limit", res.Reason)
	}
	// The checks fail from 3h on, while paused: the second failed round (3h+1m) passes the limit.
	start := h.callTime("deploy staging stable 1.4.2 0")
	if at := h.callTime("set-weight production canary 1.4.2 0").Sub(start); at < 3*time.Hour || at > 3*time.Hour+3*time.Minute {
		t.Errorf("rollback began at %v, want just after 3h", at)
	}
}

// PausedAnalysis continues as new to bound its own history, and carries its cadence and failure count over.
func TestPausedAnalysisContinuesAsNew(t *testing.T) {
	defer func(old int) { pausedAnalysisHistory = old }(pausedAnalysisHistory)
	pausedAnalysisHistory = 0 // continue after every round

	h := newHarness(t)
	h.mu.Lock()
	h.checkFn = func(string, activities.CheckRequest) bool { return false }
	h.mu.Unlock()
	start := h.env.Now()
	in := PausedAnalysisInput{Env: "production", Weight: 10, Interval: time.Minute, Next: start.Add(time.Minute), FailureLimit: 2,
		Requests: []activities.CheckRequest{{Check: spec.Check{Name: "error-rate", Exec: []string{"check"}}}}}
	var runs int
	for ; runs < 10; runs++ {
		h.env.ExecuteWorkflow(PausedAnalysis, in)
		var can *workflow.ContinueAsNewError
		if !errors.As(h.env.GetWorkflowError(), &can) {
			break
		}
		in = PausedAnalysisInput{}
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
			t.Fatal(err)
		}
		h = newHarness(t)
		h.mu.Lock()
		h.checkFn = func(string, activities.CheckRequest) bool { return false }
		h.mu.Unlock()
	}
	var res PausedAnalysisResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	// Three failed rounds, one per run: the third passes the limit of 2.
	if runs != 2 || res.Rounds != 3 || res.Failures != 3 || !strings.Contains(res.Failed, "3 failed runs, limit 2") {
		t.Errorf("got %d continuations and %+v, want 2 and the third failed round failing the step", runs, res)
	}
}
