package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

var approveLead = ApproveInput{Env: "production", Identity: "release-lead", Reason: "looks good"}

func TestReleaseHappyPath(t *testing.T) {
	h := newHarness(t)
	h.stable["staging"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
	var approved *updateOutcome
	h.after(time.Hour, func() { approved = h.update(UpdateApprove, approveLead) })
	h.run(releaseInput(staging(), production()))

	res, errType := h.result()
	if errType != "" || res.State != StateSucceeded {
		t.Fatalf("got state %q (error type %q, reason %q), want succeeded", res.State, errType, res.Reason)
	}
	if !approved.accepted || approved.result.Message != "approved checkout 1.4.2 in production (1/1)" {
		t.Errorf("approve: got %+v", approved)
	}
	h.wantCalls(
		append([]string{"deploy staging stable 1.4.2 0", "ready staging stable 1.4.2 0"}, productionCanary...)...)
	// Bakes are durable timers of the declared length.
	if got := h.callTime("set-weight production canary 1.4.2 50").Sub(h.callTime("set-weight production canary 1.4.2 10")); got != 10*time.Minute {
		t.Errorf("bake at 10%%: got %v, want 10m", got)
	}
	if got := h.callTime("deploy production canary 1.4.2 0").Sub(h.env.Now().Add(-time.Hour)); got < 0 {
		t.Errorf("production deployed before approval")
	}
	// 10 analysis runs per 10m bake at a 1m interval, one for the 100% step without a bake, plus e2e, plus
	// verification at 0..5m.
	var analysis, verify int
	for _, c := range h.checks {
		switch {
		case strings.HasPrefix(c, "error-rate production"):
			analysis++
		case strings.HasPrefix(c, "health production"):
			verify++
		}
	}
	if analysis != 21 || verify != 6 {
		t.Errorf("got %d analysis and %d verification runs, want 21 and 6", analysis, verify)
	}
	for _, e := range res.Environments {
		if e.State != StateSucceeded {
			t.Errorf("env %s: got %s, want succeeded", e.Name, e.State)
		}
	}
	if got := h.released["production"]; got == nil || got.Version != "1.4.2" {
		t.Errorf("production lock released with %+v, want 1.4.2 deployed", got)
	}
}

func TestCanaryAnalysisFailureRollsBack(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
	h.checkFn = func(name string, in activities.CheckRequest) bool {
		return !(name == "error-rate" && in.Vars.Weight == 10)
	}
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.run(releaseInput(staging(), production()))

	res, errType := h.result()
	if errType != ErrTypeRolledBack || res.State != StateRolledBack {
		t.Fatalf("got state %q type %q, want rolled_back", res.State, errType)
	}
	if !strings.Contains(res.Reason, `analysis failed at 10%: "error-rate": status 500, want 200 (2 failed runs, limit 1)`) ||
		!strings.Contains(res.Reason, "back on 1.4.1") {
		t.Errorf("reason: got %q", res.Reason)
	}
	h.wantCalls(
		"deploy staging stable 1.4.2 0",
		"ready staging stable 1.4.2 0",
		"deploy production canary 1.4.2 0",
		"ready production canary 1.4.2 0",
		"set-weight production canary 1.4.2 10",
		"set-weight production canary 1.4.2 0",
		"remove production canary 1.4.2 0",
	)
	if got := h.released["production"]; got != nil {
		t.Errorf("production lock released with deployed %+v, want nil after rollback", got)
	}
	if got := res.Environments[1].State; got != StateRolledBack {
		t.Errorf("production env state: got %s, want rolled_back", got)
	}
}

func TestFailuresRollBack(t *testing.T) {
	recreate := staging()
	recreate.Strategy = spec.Strategy{Type: spec.StrategyRecreate}
	tests := []struct {
		name       string
		env        spec.Environment
		stable     *Artifact
		current    *activities.CurrentResult // the platform's answer to current; nil: no current command
		failOp     string
		failCheck  string
		wantReason string
		wantCalls  []string
	}{
		{
			name: "smoke check, rolling with a stable version", env: staging(),
			stable: &Artifact{Version: "1.4.1"}, failCheck: "smoke",
			wantReason: `staging: smoke check "smoke" failed: status 500, want 200; rolled back (back on 1.4.1)`,
			wantCalls:  []string{"deploy staging stable 1.4.2 0", "ready staging stable 1.4.2 0", "rollback staging stable 1.4.1"},
		},
		{
			name: "readiness, first deploy removes the new version", env: recreate,
			current:    &activities.CurrentResult{Known: true},
			failOp:     "ready staging",
			wantReason: "staging: readiness: not ready; rolled back (removed the new version)",
			wantCalls:  []string{"current staging", "deploy staging stable 1.4.2 0", "ready staging stable 1.4.2 0", "remove staging stable 1.4.2 0"},
		},
		{
			name: "deploy command", env: staging(), stable: &Artifact{Version: "1.4.1"},
			failOp:     "deploy staging",
			wantReason: "staging: deploy: not ready; rolled back (back on 1.4.1)",
			wantCalls:  []string{"deploy staging stable 1.4.2 0", "rollback staging stable 1.4.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.stable["staging"] = tt.stable
			if tt.failOp != "" {
				h.failOps[tt.failOp] = temporal.NewNonRetryableApplicationError("not ready", "ReadinessTimeout", nil)
			}
			h.checkFn = func(name string, _ activities.CheckRequest) bool { return name != tt.failCheck }
			in := releaseInput(tt.env)
			if tt.current != nil {
				in = withCurrent(in)
				h.answerCurrent(*tt.current)
			}
			h.run(in)
			res, errType := h.result()
			if errType != ErrTypeRolledBack || res.Reason != tt.wantReason {
				t.Errorf("got type %q reason %q, want %s %q", errType, res.Reason, ErrTypeRolledBack, tt.wantReason)
			}
			h.wantCalls(tt.wantCalls...)
		})
	}
}

func TestRollbackFailureFailsRelease(t *testing.T) {
	h := newHarness(t)
	h.stable["staging"] = &Artifact{Version: "1.4.1"}
	h.checkFn = func(name string, _ activities.CheckRequest) bool { return name != "smoke" }
	h.failOps["rollback staging"] = temporal.NewNonRetryableApplicationError("cluster gone", ErrTypeInvalid, nil)
	h.run(releaseInput(staging()))
	res, errType := h.result()
	if errType != ErrTypeFailed || !strings.Contains(res.Reason, "rollback failed: cluster gone") {
		t.Errorf("got type %q reason %q, want ReleaseFailed with the rollback failure", errType, res.Reason)
	}
}

func TestAbort(t *testing.T) {
	tests := []struct {
		name      string
		at        time.Duration
		noGrant   bool
		wantCalls []string
		wantEnv   string
	}{
		{name: "waiting for the lock", at: time.Minute, noGrant: true, wantEnv: StateAborted,
			wantCalls: []string{"deploy staging stable 1.4.2 0", "ready staging stable 1.4.2 0"}},
		{name: "at the approval gate", at: time.Minute, wantEnv: StateAborted,
			wantCalls: []string{"deploy staging stable 1.4.2 0", "ready staging stable 1.4.2 0"}},
		{name: "while baking", at: 2*time.Hour + 5*time.Minute, wantEnv: StateRolledBack,
			wantCalls: []string{
				"deploy staging stable 1.4.2 0", "ready staging stable 1.4.2 0",
				"deploy production canary 1.4.2 0", "ready production canary 1.4.2 0",
				"set-weight production canary 1.4.2 10",
				"set-weight production canary 1.4.2 0", "remove production canary 1.4.2 0",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.noGrant["production"] = tt.noGrant
			h.after(2*time.Hour, func() { h.update(UpdateApprove, approveLead) })
			var out *updateOutcome
			h.after(tt.at, func() { out = h.update(UpdateAbort, AbortInput{Identity: "alice", Reason: "bad idea"}) })
			h.run(releaseInput(staging(), production()))
			res, errType := h.result()
			if errType != ErrTypeAborted || res.State != StateAborted {
				t.Fatalf("got state %q type %q, want aborted", res.State, errType)
			}
			if !strings.HasPrefix(res.Reason, "aborted by alice: bad idea") {
				t.Errorf("reason: got %q", res.Reason)
			}
			if out == nil || !out.accepted || out.err != nil {
				t.Errorf("abort update: got %+v, want accepted", out)
			}
			if got := res.Environments[1].State; got != tt.wantEnv {
				t.Errorf("production state: got %s, want %s", got, tt.wantEnv)
			}
			h.wantCalls(tt.wantCalls...)
		})
	}
}

func TestCancelRollsBackOnDisconnectedContext(t *testing.T) {
	h := newHarness(t)
	h.after(30*time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.after(35*time.Minute, h.env.CancelWorkflow)
	h.run(releaseInput(staging(), production()))
	res, errType := h.result()
	if errType != "Canceled" || res.State != StateAborted {
		t.Fatalf("got state %q type %q, want aborted via cancel", res.State, errType)
	}
	calls := strings.Join(h.calls, "\n")
	if !strings.HasSuffix(calls, "set-weight production canary 1.4.2 0\nremove production canary 1.4.2 0") {
		t.Errorf("got calls\n%s\nwant a rollback at the end", calls)
	}
}

func TestWrongStateUpdatesAreRejected(t *testing.T) {
	h := newHarness(t)
	outs := map[string]*updateOutcome{}
	send := func(key, name string, arg any) func() {
		return func() { outs[key] = h.update(name, arg) }
	}
	// At the production gate (t=1m).
	h.after(time.Minute, send("promote at gate", UpdatePromote, PromoteInput{Identity: "alice"}))
	h.after(time.Minute, send("pause at gate", UpdatePause, PauseInput{Identity: "alice"}))
	h.after(time.Minute, send("resume at gate", UpdateResume, ResumeInput{Identity: "alice"}))
	h.after(time.Minute, send("approve wrong env", UpdateApprove, ApproveInput{Env: "staging", Identity: "release-lead"}))
	h.after(time.Minute, send("approve not allowed", UpdateApprove, ApproveInput{Env: "production", Identity: "mallory"}))
	h.after(time.Minute, send("abort without reason", UpdateAbort, AbortInput{Identity: "alice"}))
	h.after(2*time.Minute, send("approve", UpdateApprove, approveLead))
	// Baking the 10% step (t=2m + 4m).
	h.after(6*time.Minute, send("approve while baking", UpdateApprove, approveLead))
	h.after(6*time.Minute, send("resume while running", UpdateResume, ResumeInput{Identity: "alice"}))
	h.run(releaseInput(staging(), production()))

	want := map[string]string{
		"promote at gate":      "checkout 1.4.2 has no step to promote: it is waiting for approval by release-lead or sre-oncall (0/1) in production",
		"pause at gate":        "checkout 1.4.2 cannot be paused: it is waiting for approval by release-lead or sre-oncall (0/1) in production",
		"resume at gate":       "checkout 1.4.2 is not paused: it is waiting for approval by release-lead or sre-oncall (0/1) in production",
		"approve wrong env":    "checkout 1.4.2 is not waiting for approval in staging: it is waiting for approval by release-lead or sre-oncall (0/1) in production",
		"approve not allowed":  "mallory may not approve checkout 1.4.2 in production: approvers are release-lead, sre-oncall",
		"abort without reason": "abort needs a reason",
		"approve while baking": "checkout 1.4.2 is not waiting for approval in production: it is baking the 10% canary step in production (6m left)",
		"resume while running": "checkout 1.4.2 is not paused: it is baking the 10% canary step in production (6m left)",
	}
	for key, msg := range want {
		out := outs[key]
		if out == nil || out.rejected == nil {
			t.Errorf("%s: got %+v, want rejected", key, out)
			continue
		}
		if got := rejection(out.rejected); got != msg {
			t.Errorf("%s:\ngot  %q\nwant %q", key, got, msg)
		}
	}
	if out := outs["approve"]; out == nil || !out.accepted {
		t.Errorf("approve: got %+v, want accepted", out)
	}
	// Rejected updates changed nothing: the release completes as usual.
	if res, errType := h.result(); errType != "" || res.State != StateSucceeded {
		t.Errorf("got state %q type %q, want succeeded", res.State, errType)
	}
}

// rejection returns the validator's message from an Update rejection.
func rejection(err error) string {
	if err == nil {
		return "<accepted>"
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

func TestQuorumNeedsDistinctApprovers(t *testing.T) {
	h := newHarness(t)
	prod := production()
	prod.Gate.Approval.Quorum = 2
	var dup, second *updateOutcome
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.after(2*time.Minute, func() { dup = h.update(UpdateApprove, approveLead) })
	h.after(3*time.Minute, func() {
		if s := h.status(); s.Stage != StageGate || s.Waiting != "approval by release-lead or sre-oncall (1/2)" {
			t.Errorf("at 1/2 approvals: got stage %q waiting %q", s.Stage, s.Waiting)
		}
		second = h.update(UpdateApprove, ApproveInput{Env: "production", Identity: "sre-oncall", Reason: "ok"})
	})
	h.run(releaseInput(staging(), prod))
	if dup == nil || rejection(dup.rejected) != "release-lead already approved checkout 1.4.2 in production" {
		t.Errorf("duplicate approval: got %+v", dup)
	}
	if second == nil || second.result.Message != "approved checkout 1.4.2 in production (2/2)" {
		t.Errorf("second approval: got %+v", second)
	}
	if got := h.callTime("deploy production canary 1.4.2 0"); got.Sub(h.callTime("deploy staging stable 1.4.2 0")) < 3*time.Minute {
		t.Errorf("production deployed before quorum")
	}
}

func TestPauseFreezesBakeAndResumeContinues(t *testing.T) {
	h := newHarness(t)
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	var paused, dupPause *updateOutcome
	h.after(5*time.Minute, func() { paused = h.update(UpdatePause, PauseInput{Identity: "alice", Reason: "watching"}) })
	h.after(6*time.Minute, func() {
		dupPause = h.update(UpdatePause, PauseInput{Identity: "bob"})
		if s := h.status(); !s.Paused || !s.BakeUntil.IsZero() {
			t.Errorf("while paused: got paused=%v bakeUntil=%v", s.Paused, s.BakeUntil)
		}
	})
	h.after(65*time.Minute, func() { h.update(UpdateResume, ResumeInput{Identity: "alice"}) })
	h.run(releaseInput(staging(), production()))
	if paused == nil || !paused.accepted {
		t.Fatalf("pause: got %+v", paused)
	}
	if got := rejection(dupPause.rejected); got != "checkout 1.4.2 is already paused (by alice)" {
		t.Errorf("second pause: got %q", got)
	}
	// Weight 10 was set at about t=1m; the 10m bake ran 4m, froze for 60m, then ran its last 6m.
	bake := h.callTime("set-weight production canary 1.4.2 50").Sub(h.callTime("set-weight production canary 1.4.2 10"))
	if bake != 70*time.Minute {
		t.Errorf("bake with a 60m pause: got %v, want 70m", bake)
	}
	if res, _ := h.result(); res.State != StateSucceeded {
		t.Errorf("got %s, want succeeded", res.State)
	}
}

func TestPromote(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(map[bool]string{false: "next step", true: "full"}[full], func(t *testing.T) {
			h := newHarness(t)
			h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
			var out *updateOutcome
			h.after(3*time.Minute, func() { out = h.update(UpdatePromote, PromoteInput{Identity: "alice", Full: full}) })
			h.run(releaseInput(staging(), production()))
			if out == nil || !out.accepted {
				t.Fatalf("promote: got %+v", out)
			}
			w10 := h.callTime("set-weight production canary 1.4.2 10")
			if full {
				if got := h.callTime("set-weight production canary 1.4.2 100").Sub(w10); got >= 10*time.Minute {
					t.Errorf("promote --full: 100%% came %v after 10%%, want before the bake ended", got)
				}
				for _, c := range h.calls {
					if c == "set-weight production canary 1.4.2 50" {
						t.Errorf("promote --full still ran the 50%% step")
					}
				}
			} else {
				w50 := h.callTime("set-weight production canary 1.4.2 50")
				if got := w50.Sub(w10); got >= 10*time.Minute {
					t.Errorf("promote: 50%% came %v after 10%%, want before the 10m bake ended", got)
				}
				if got := h.callTime("set-weight production canary 1.4.2 100").Sub(w50); got != 10*time.Minute {
					t.Errorf("promote affected the next bake: got %v, want 10m", got)
				}
			}
		})
	}
}

func TestPauseStepWaitsForResume(t *testing.T) {
	h := newHarness(t)
	prod := production()
	prod.Gate = spec.Gate{Auto: true}
	prod.Strategy.Steps = []spec.Step{{Weight: 20, Bake: spec.Duration(time.Minute)}, {Pause: &spec.Pause{}}, {Weight: 100}}
	h.after(3*time.Hour, func() {
		s := h.status()
		if !s.Paused || s.Step != 2 || s.Waiting != "ferry resume or ferry promote" {
			t.Errorf("at the pause step: got paused=%v step=%d waiting=%q", s.Paused, s.Step, s.Waiting)
		}
		h.update(UpdateResume, ResumeInput{Identity: "alice"})
	})
	h.run(releaseInput(prod))
	if got := h.callTime("set-weight production canary 1.4.2 100"); got.Sub(h.callTime("set-weight production canary 1.4.2 20")) < 3*time.Hour-2*time.Minute {
		t.Errorf("pause step did not wait for resume")
	}
}

func TestSupersededAtGate(t *testing.T) {
	h := newHarness(t)
	h.after(time.Minute, func() { h.env.SignalWorkflow(SignalSuperseded, SupersededSignal{By: "1.4.3"}) })
	h.run(releaseInput(staging(), production()))
	res, errType := h.result()
	if errType != "" || res.State != StateSuperseded || res.Reason != "superseded by 1.4.3" {
		t.Fatalf("got state %q type %q reason %q, want superseded by 1.4.3", res.State, errType, res.Reason)
	}
	h.wantCalls("deploy staging stable 1.4.2 0", "ready staging stable 1.4.2 0")
	if !contains(h.signals, SignalLockRelease+" production") {
		t.Errorf("production lock not released: %v", h.signals)
	}
}

func TestSupersedeIgnoredWhileDeploying(t *testing.T) {
	h := newHarness(t)
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.after(5*time.Minute, func() { h.env.SignalWorkflow(SignalSuperseded, SupersededSignal{By: "1.4.3"}) })
	h.run(releaseInput(staging(), production()))
	if res, _ := h.result(); res.State != StateSucceeded {
		t.Fatalf("got %s, want succeeded: a release that deploys is never interrupted", res.State)
	}
}

func TestBlueGreen(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
	prod := spec.Environment{
		Name: "production", Gate: spec.Gate{Auto: true}, Replicas: 2,
		Strategy: spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: spec.Duration(time.Minute),
			Analysis: &spec.Analysis{Interval: spec.Duration(time.Minute), Checks: []spec.Check{httpOK}}},
	}
	h.run(releaseInput(prod))
	h.wantCalls(productionBlueGreen...)
	if got := h.callTime("remove production previous 1.4.1 0").Sub(h.callTime("promote production preview 1.4.2 100")); got != time.Minute {
		t.Errorf("scale-down delay: got %v, want 1m", got)
	}
}

func TestVerificationFailureRollsBack(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1"}
	start := h.env.Now()
	h.checkFn = func(name string, _ activities.CheckRequest) bool {
		return name != "health" || h.env.Now().Sub(start) < 20*time.Minute+2*time.Minute
	}
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.run(releaseInput(production()))
	res, errType := h.result()
	if errType != ErrTypeRolledBack || !strings.Contains(res.Reason, `verification failed: "health"`) {
		t.Fatalf("got %q %q, want rolled back by verification", errType, res.Reason)
	}
	if h.calls[len(h.calls)-2] != "set-weight production canary 1.4.2 0" {
		t.Errorf("got calls %q, want traffic back to stable", h.calls)
	}
}

func TestDeployWindowWaitsForOpening(t *testing.T) {
	h := newHarness(t)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	h.env.SetStartTime(time.Date(2026, 11, 28, 10, 0, 0, 0, berlin)) // a Saturday
	prod := staging()
	prod.Name = "production"
	prod.Gate = spec.Gate{Window: &spec.Window{Days: []string{"mon", "tue", "wed", "thu"}, Hours: "09:00-16:00", Timezone: "Europe/Berlin"}}
	h.after(time.Hour, func() {
		if s := h.status(); !strings.HasPrefix(s.Waiting, "the deploy window (mon,tue,wed,thu 09:00-16:00 Europe/Berlin), opens Mon 2026-11-30 09:00") {
			t.Errorf("waiting: got %q", s.Waiting)
		}
	})
	h.run(releaseInput(prod))
	if got, want := h.callTime("deploy production stable 1.4.2 0").In(berlin), time.Date(2026, 11, 30, 9, 0, 0, 0, berlin); !got.Equal(want) {
		t.Errorf("deployed at %v, want %v", got, want)
	}
}

func TestStatusWhileBaking(t *testing.T) {
	h := newHarness(t)
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.after(15*time.Minute, func() {
		s := h.status()
		if s.Env != "production" || s.Stage != StageCanary || s.Step != 2 || s.Steps != 3 || s.Weight != 50 {
			t.Errorf("got env=%s stage=%s step=%d/%d weight=%d, want production canary 2/3 50", s.Env, s.Stage, s.Step, s.Steps, s.Weight)
		}
		if left := s.BakeUntil.Sub(h.env.Now()); left != 6*time.Minute {
			t.Errorf("bake left: got %v, want 6m", left)
		}
		if s.LastCheck == nil || s.LastCheck.Kind != "analysis" || !s.LastCheck.Passed {
			t.Errorf("last check: got %+v", s.LastCheck)
		}
		if len(s.Decisions) != 1 || s.Decisions[0].Identity != "release-lead" || s.Decisions[0].Reason != "looks good" {
			t.Errorf("decisions: got %+v", s.Decisions)
		}
	})
	h.run(releaseInput(staging(), production()))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// productionCanary is what the platform runs for production's 10 → 50 → 100 canary of 1.4.2.
var productionCanary = []string{
	"deploy production canary 1.4.2 0",
	"ready production canary 1.4.2 0",
	"set-weight production canary 1.4.2 10",
	"set-weight production canary 1.4.2 50",
	"set-weight production canary 1.4.2 100",
	"promote production canary 1.4.2 100",
	"set-weight production canary 1.4.2 0",
	"remove production canary 1.4.2 0",
}

// productionBlueGreen is what the platform runs for production's blue-green of 1.4.2 over 1.4.1.
var productionBlueGreen = []string{
	"deploy production preview 1.4.2 0",
	"ready production preview 1.4.2 0",
	"set-weight production preview 1.4.2 100",
	"promote production preview 1.4.2 100",
	"remove production previous 1.4.1 0",
}
