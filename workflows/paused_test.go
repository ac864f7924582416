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

// countChecks counts the checks in h logged as check ("name env weight") that ran at a workflow time in
// [from, to).
func countChecks(h *harness, check string, from, to time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for i, c := range h.checks {
		if at := h.checkTimes[i]; c == check && !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// A release paused for a weekend keeps its analysis running every interval, in a child workflow, and goes on
// where it stopped when resumed. The rounds are counted by the workflow time they ran at: a count taken in a
// callback would race the activities that run at the callback's instant.
func TestWeekendPauseKeepsAnalysisRunning(t *testing.T) {
	h := newHarness(t)
	start := h.env.Now()
	at := func(d time.Duration) time.Time { return start.Add(d) }
	pause, resume := 5*time.Minute, 5*time.Minute+64*time.Hour
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.after(pause, func() { h.update(UpdatePause, PauseInput{Identity: "alice", Reason: "friday"}) })
	h.after(pause+30*time.Hour, func() {
		if s := h.status(); !s.Paused {
			t.Errorf("after 30h: got paused=%v, want paused", s.Paused)
		}
	})
	h.after(resume, func() { h.update(UpdateResume, ResumeInput{Identity: "alice"}) })
	h.run(releaseInput(staging(), production()))

	if res, _ := h.result(); res.State != StateSucceeded {
		t.Fatalf("got %s (%s), want succeeded", res.State, res.Reason)
	}
	const weight10 = "error-rate production 10"
	// Weight 10 from t=1m: a round a minute at 2m..4m before the pause, then one a minute while paused.
	if got := countChecks(h, weight10, start, at(pause)); got != 3 {
		t.Errorf("analysis runs before the pause: got %d, want 3", got)
	}
	if got, want := countChecks(h, weight10, at(pause), at(pause+30*time.Hour)), 30*60; got != want {
		t.Errorf("analysis runs in the first 30h paused: got %d, want %d", got, want)
	}
	if got, want := countChecks(h, weight10, at(pause), at(resume)), 64*60; got != want {
		t.Errorf("analysis runs while paused for 64h: got %d, want %d", got, want)
	}
	// At the resume's instant the child's round and the release's slot that fell due may both run.
	if got := countChecks(h, weight10, at(resume), at(resume+time.Second)); got < 1 || got > 2 {
		t.Errorf("analysis runs at the resume: got %d, want 1 or 2", got)
	}
	// The bake then runs its remaining 6 minutes on the same cadence; its last round ends the bake.
	if got := countChecks(h, weight10, at(resume+time.Second), at(resume+time.Hour)); got != 6 {
		t.Errorf("analysis runs after resume: got %d, want 6", got)
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
