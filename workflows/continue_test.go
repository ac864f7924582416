package workflows

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/internal/spec"
)

// runChain runs a release run after run, following each continue-as-new with a fresh test environment (the
// testsuite runs one workflow execution each), as the server does under the same workflow ID. setup
// prepares each run's harness before it starts. It returns the harness of every run, in order.
func runChain(t *testing.T, in ReleaseInput, setup func(h *harness, run int)) []*harness {
	t.Helper()
	var hs []*harness
	for run := 1; run <= 10; run++ {
		h := newHarness(t)
		hs = append(hs, h)
		setup(h, run)
		h.run(in)
		var can *workflow.ContinueAsNewError
		if !errors.As(h.env.GetWorkflowError(), &can) {
			return hs
		}
		if got := can.WorkflowType.Name; got != ReleaseWorkflow {
			t.Fatalf("run %d continued as %q, want %q", run, got, ReleaseWorkflow)
		}
		in = ReleaseInput{}
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
			t.Fatalf("decode continue-as-new input: %v", err)
		}
	}
	t.Fatal("release continued as new more than 10 times")
	return nil
}

func TestReleaseContinuesAsNewBetweenEnvironments(t *testing.T) {
	defer func(old int) { continueThreshold = old }(continueThreshold)
	continueThreshold = 0 // continue at every environment boundary

	var approved *updateOutcome
	var paused, resumed *updateOutcome
	hs := runChain(t, releaseInput(staging(), production()), func(h *harness, run int) {
		h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
		if run == 2 {
			h.after(time.Hour, func() { approved = h.update(UpdateApprove, approveLead) })
			h.after(time.Hour+5*time.Minute, func() { paused = h.update(UpdatePause, PauseInput{Identity: "alice", Reason: "look"}) })
			h.after(time.Hour+7*time.Minute, func() { resumed = h.update(UpdateResume, ResumeInput{Identity: "alice"}) })
		}
	})
	if len(hs) != 2 {
		t.Fatalf("got %d runs, want 2 (one per environment)", len(hs))
	}
	h := hs[1]
	res, errType := h.result()
	if errType != "" || res.State != StateSucceeded {
		t.Fatalf("got state %q (error type %q, reason %q), want succeeded", res.State, errType, res.Reason)
	}
	for _, u := range []*updateOutcome{approved, paused, resumed} {
		if u == nil || !u.accepted || u.err != nil {
			t.Fatalf("update in the second run: got %+v, want accepted", u)
		}
	}
	if len(res.Environments) != 2 {
		t.Fatalf("got %d environments in the result, want 2", len(res.Environments))
	}
	for _, e := range res.Environments {
		if e.State != StateSucceeded || e.Started.IsZero() || e.Finished.IsZero() {
			t.Errorf("env %s: got state %q started %v finished %v, want succeeded with both times", e.Name, e.State, e.Started, e.Finished)
		}
	}
	// The second run deployed production only, and kept what the first run recorded.
	h.wantCalls(productionCanary...)
	st := h.status()
	if st.State != StateSucceeded || st.Stage != StageDone {
		t.Errorf("status: got state %q stage %q, want succeeded done", st.State, st.Stage)
	}
	if len(st.Decisions) != 3 {
		t.Errorf("got decisions %+v, want approve, pause and resume", st.Decisions)
	}
	if got := h.released["production"]; got == nil || got.Version != "1.4.2" {
		t.Errorf("production lock released with %+v, want 1.4.2 deployed", got)
	}
}

func TestReleaseCarriesStartTimeAcrossContinueAsNew(t *testing.T) {
	defer func(old int) { continueThreshold = old }(continueThreshold)
	continueThreshold = 0

	hs := runChain(t, releaseInput(staging(), staging2()), func(*harness, int) {})
	if len(hs) != 2 {
		t.Fatalf("got %d runs, want 2", len(hs))
	}
	first := hs[0].status().StartedAt
	if got := hs[1].status().StartedAt; !got.Equal(first) || first.IsZero() {
		t.Errorf("second run's StartedAt: got %v, want the first run's %v", got, first)
	}
}

// staging2 is a second auto-gated rolling environment.
func staging2() spec.Environment {
	e := staging()
	e.Name = "qa"
	return e
}
