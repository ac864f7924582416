package workflows

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// canaryStaging is a staging environment with its own canary (10 % for 10m, then 100 %) and analysis.
func canaryStaging() spec.Environment {
	e := production()
	e.Name, e.URL, e.Gate = "staging", "http://staging.local", spec.Gate{Auto: true}
	e.Strategy.Steps = []spec.Step{{Weight: 10, Bake: spec.Duration(10 * time.Minute)}, {Weight: 100}}
	e.Checks, e.Verify = spec.Checks{}, nil
	return e
}

// autoProduction is production() without the approval gate.
func autoProduction() spec.Environment {
	e := production()
	e.Gate = spec.Gate{Auto: true}
	return e
}

// whenStarts calls fn on the test's event loop when the platform activity "op env weight" (op as the
// activity is named, e.g. SetWeight) starts, before it runs: an Update sent from fn reaches the workflow
// while the operation is in flight. A test has one such hook; later calls replace it.
func (h *harness) whenStarts(op, env string, weight int, fn func()) {
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		if info.ActivityType.Name != op {
			return
		}
		var req activities.PlatformRequest
		if err := args.Get(&req); err != nil {
			h.t.Errorf("decode %s input: %v", op, err)
			return
		}
		if req.Vars.Env == env && req.Vars.Weight == weight {
			fn()
		}
	})
}

// analysisRounds counts the analysis checks that ran in env at weight.
func (h *harness) analysisRounds(env string, weight int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.checks {
		if c == fmt.Sprintf("error-rate %s %d", env, weight) {
			n++
		}
	}
	return n
}

// wantFullProductionCanary checks that production ran every canary step, baked each for its full 10m and
// analysed each bake at every 1m interval, as if no decision had been made before it began.
func (h *harness) wantFullProductionCanary() {
	h.t.Helper()
	if res, errType := h.result(); errType != "" || res.State != StateSucceeded {
		h.t.Fatalf("got state %q (type %q, reason %q), want succeeded", res.State, errType, res.Reason)
	}
	var prod []string
	for _, c := range h.calls {
		if strings.Contains(c, " production ") {
			prod = append(prod, c)
		}
	}
	want := productionCanary
	if got, w := strings.Join(prod, "\n"), strings.Join(want, "\n"); got != w {
		h.t.Fatalf("production calls:\ngot:\n%s\n\nwant:\n%s", got, w)
	}
	w10 := h.callTime("set-weight production canary 1.4.2 10")
	w50 := h.callTime("set-weight production canary 1.4.2 50")
	w100 := h.callTime("set-weight production canary 1.4.2 100")
	if got := w50.Sub(w10); got != 10*time.Minute {
		h.t.Errorf("production bake at 10%%: got %v, want 10m", got)
	}
	if got := w100.Sub(w50); got != 10*time.Minute {
		h.t.Errorf("production bake at 50%%: got %v, want 10m", got)
	}
	for _, w := range []int{10, 50} {
		if got := h.analysisRounds("production", w); got != 10 {
			h.t.Errorf("production analysis rounds at %d%%: got %d, want 10", w, got)
		}
	}
}

// A decision made during staging's canary belongs to staging: production's canary runs in full.
func TestDecisionsBelongToOneEnvironment(t *testing.T) {
	t.Run("promote --full during staging's bake", func(t *testing.T) {
		h := newHarness(t)
		var out *updateOutcome
		h.after(5*time.Minute, func() {
			out = h.update(UpdatePromote, PromoteInput{Identity: "alice", Full: true})
		})
		h.run(releaseInput(canaryStaging(), autoProduction()))
		if out == nil || !out.accepted {
			t.Fatalf("promote --full in staging: got %+v, want accepted", out)
		}
		// It did act on staging: 100 % came before the 10m bake ended.
		if got := h.callTime("set-weight staging canary 1.4.2 100").Sub(h.callTime("set-weight staging canary 1.4.2 10")); got >= 10*time.Minute {
			t.Errorf("staging: 100%% came %v after 10%%, want before the bake ended", got)
		}
		h.wantFullProductionCanary()
	})
}

// A pause or promote sent while staging sets its last weight is refused: nothing in staging would act on
// it, and it must not freeze or shorten production's canary.
func TestDecisionDuringStagingSetWeightLeavesProductionAlone(t *testing.T) {
	tests := []struct {
		name   string
		update string
		arg    any
		want   string
	}{
		{"pause", UpdatePause, PauseInput{Identity: "alice"},
			"checkout 1.4.2 cannot be paused: it is shifting canary traffic in staging"},
		{"promote", UpdatePromote, PromoteInput{Identity: "alice"},
			"checkout 1.4.2 has no step to promote: it is shifting canary traffic in staging"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var out *updateOutcome
			h.whenStarts("SetWeight", "staging", 100, func() { out = h.update(tt.update, tt.arg) })
			// Ends a pause that wrongly reached production, so that the test finishes either way.
			h.after(10*time.Hour, func() { h.update(UpdateResume, ResumeInput{Identity: "alice"}) })
			h.run(releaseInput(canaryStaging(), autoProduction()))
			if out == nil || !out.done {
				t.Fatalf("%s: got %+v, want an answer", tt.name, out)
			}
			if got := rejection(out.rejected); got != tt.want {
				t.Errorf("%s during set-weight 100:\ngot  %q\nwant %q", tt.name, got, tt.want)
			}
			h.wantFullProductionCanary()
		})
	}
}

// Pause and promote act only on a bake or a pause step; during the final set-weight 100 they are refused
// with what the release is doing, and the release goes on as if they had not been sent.
func TestPauseAndPromoteRefusedOutsideAWait(t *testing.T) {
	for _, tt := range []struct {
		update string
		arg    any
		want   string
	}{
		{UpdatePause, PauseInput{Identity: "alice", Reason: "look"},
			"checkout 1.4.2 cannot be paused: it is shifting canary traffic in production"},
		{UpdatePromote, PromoteInput{Identity: "alice", Full: true},
			"checkout 1.4.2 has no step to promote: it is shifting canary traffic in production"},
	} {
		t.Run(tt.update, func(t *testing.T) {
			h := newHarness(t)
			var out *updateOutcome
			var during Status
			h.whenStarts("SetWeight", "production", 100, func() {
				out = h.update(tt.update, tt.arg)
				during = h.status()
			})
			h.run(releaseInput(autoProduction()))
			if during.Stage != StageCanary || during.Weight != 50 {
				t.Fatalf("hook ran at stage %q weight %d, want canary at 50%% before set-weight 100", during.Stage, during.Weight)
			}
			if out == nil || !out.done {
				t.Fatalf("got %+v, want an answer", out)
			}
			if got := rejection(out.rejected); got != tt.want {
				t.Errorf("during set-weight 100:\ngot  %q\nwant %q", got, tt.want)
			}
			res, errType := h.result()
			if errType != "" || res.State != StateSucceeded {
				t.Fatalf("got state %q type %q, want succeeded", res.State, errType)
			}
			if s := h.status(); s.Paused || len(s.Decisions) != 0 {
				t.Errorf("after the release: got paused=%v decisions=%+v, want no trace of the refused %s", s.Paused, s.Decisions, tt.update)
			}
		})
	}
}

// While a bake or a pause step is the active wait, pause and promote are accepted.
func TestPauseAndPromoteAcceptedDuringAWait(t *testing.T) {
	h := newHarness(t)
	prod := autoProduction()
	prod.Strategy.Steps = []spec.Step{{Weight: 10, Bake: spec.Duration(10 * time.Minute)}, {Pause: &spec.Pause{}}, {Weight: 100}}
	outs := map[string]*updateOutcome{}
	h.after(3*time.Minute, func() { outs["pause in bake"] = h.update(UpdatePause, PauseInput{Identity: "alice"}) })
	h.after(4*time.Minute, func() { outs["resume in bake"] = h.update(UpdateResume, ResumeInput{Identity: "alice"}) })
	h.after(30*time.Minute, func() { outs["promote at pause step"] = h.update(UpdatePromote, PromoteInput{Identity: "alice"}) })
	h.run(releaseInput(prod))
	for _, k := range []string{"pause in bake", "resume in bake", "promote at pause step"} {
		if out := outs[k]; out == nil || !out.accepted || out.err != nil {
			t.Errorf("%s: got %+v, want accepted", k, out)
		}
	}
	if res, errType := h.result(); errType != "" || res.State != StateSucceeded {
		t.Errorf("got state %q type %q, want succeeded", res.State, errType)
	}
}

// An abort once the last environment's work is done could change nothing: it is refused as finishing, and
// the release succeeds. An abort during an earlier environment's lock release still stops the release.
func TestAbortWhileFinishing(t *testing.T) {
	rollingProduction := staging()
	rollingProduction.Name = "production"
	abort := AbortInput{Identity: "alice", Reason: "too late"}

	t.Run("during the last lock release", func(t *testing.T) {
		h := newHarness(t)
		h.signalTime = time.Minute // the work ends at 0s; the lock release runs until 1m
		var out *updateOutcome
		var during Status
		h.after(30*time.Second, func() {
			during = h.status()
			out = h.update(UpdateAbort, abort)
		})
		h.run(releaseInput(staging()))
		if during.Stage == StageDone {
			t.Fatalf("the abort came after the release finished; want it during the lock release")
		}
		const want = "checkout 1.4.2 is already finishing: its work in staging is done and only the lock release remains"
		if out == nil || rejection(out.rejected) != want {
			t.Errorf("abort while finishing:\ngot  %+v\nwant rejected with %q", out, want)
		}
		res, errType := h.result()
		if errType != "" || res.State != StateSucceeded {
			t.Errorf("got state %q type %q reason %q, want succeeded", res.State, errType, res.Reason)
		}
		if got := h.released["staging"]; got == nil || got.Version != "1.4.2" {
			t.Errorf("staging lock released with %+v, want 1.4.2 deployed", got)
		}
	})

	t.Run("during an earlier environment's lock release", func(t *testing.T) {
		h := newHarness(t)
		h.signalTime = time.Minute
		var out *updateOutcome
		h.after(30*time.Second, func() { out = h.update(UpdateAbort, abort) })
		h.run(releaseInput(staging(), rollingProduction))
		if out == nil || !out.accepted || out.err != nil {
			t.Fatalf("abort before production: got %+v, want accepted", out)
		}
		res, errType := h.result()
		if errType != ErrTypeAborted || res.State != StateAborted {
			t.Errorf("got state %q type %q, want aborted", res.State, errType)
		}
		h.wantCalls("deploy staging stable 1.4.2 0", "ready staging stable 1.4.2 0")
	})
}

// recordAnalysis makes every analysis round take checkTime and returns the workflow times the rounds
// started at, per weight.
func (h *harness) recordAnalysis(checkTime time.Duration) map[int][]time.Time {
	h.checkTime = checkTime
	starts := map[int][]time.Time{}
	h.checkFn = func(name string, in activities.CheckRequest) bool {
		if name == "error-rate" {
			h.mu.Lock()
			starts[in.Vars.Weight] = append(starts[in.Vars.Weight], h.env.Now().Add(-checkTime))
			h.mu.Unlock()
		}
		return true
	}
	return starts
}

// offsets renders times relative to from, e.g. "1m0s 2m0s".
func offsets(from time.Time, times []time.Time) string {
	var s []string
	for _, t := range times {
		s = append(s, t.Sub(from).String())
	}
	return strings.Join(s, " ")
}

// minutes renders "1m0s 2m0s ..." for the given minute marks.
func minutes(ms ...float64) string {
	var s []string
	for _, m := range ms {
		s = append(s, time.Duration(m*float64(time.Minute)).String())
	}
	return strings.Join(s, " ")
}

// Analysis runs at start + k·interval whatever each round takes, once more at the end of every bake, and
// once for a step without a bake.
func TestAnalysisCadence(t *testing.T) {
	t.Run("slow rounds do not drift and the bake ends with a round", func(t *testing.T) {
		h := newHarness(t)
		starts := h.recordAnalysis(10 * time.Second)
		h.run(releaseInput(autoProduction()))
		if res, errType := h.result(); errType != "" || res.State != StateSucceeded {
			t.Fatalf("got state %q type %q reason %q, want succeeded", res.State, errType, res.Reason)
		}
		every := minutes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
		for _, w := range []int{10, 50} {
			from := h.callTime(fmt.Sprintf("set-weight production canary 1.4.2 %d", w))
			if got := offsets(from, starts[w]); got != every {
				t.Errorf("analysis at %d%%, after set-weight:\ngot  %s\nwant %s", w, got, every)
			}
		}
		// The last 10m bake's final round took 10s before traffic moved on.
		if got := h.callTime("set-weight production canary 1.4.2 100").Sub(h.callTime("set-weight production canary 1.4.2 50")); got != 10*time.Minute+10*time.Second {
			t.Errorf("50%% step: got %v, want 10m10s (the bake and its final round)", got)
		}
		// The 100% step has no bake: it is analysed once, right after its set-weight.
		if got := offsets(h.callTime("set-weight production canary 1.4.2 100"), starts[100]); got != "0s" {
			t.Errorf("analysis at 100%%: got %q, want one round at 0s", got)
		}
	})

	t.Run("a bake that is no multiple of the interval ends with a round", func(t *testing.T) {
		h := newHarness(t)
		starts := h.recordAnalysis(0)
		prod := autoProduction()
		prod.Strategy.Analysis.Interval = spec.Duration(3 * time.Minute)
		h.run(releaseInput(prod))
		from := h.callTime("set-weight production canary 1.4.2 10")
		if got, want := offsets(from, starts[10]), minutes(3, 6, 9, 10); got != want {
			t.Errorf("analysis at 10%%:\ngot  %s\nwant %s", got, want)
		}
	})

	t.Run("ferry pause in a bake keeps the cadence", func(t *testing.T) {
		h := newHarness(t)
		starts := h.recordAnalysis(10 * time.Second)
		prod := autoProduction()
		prod.Strategy.Steps = []spec.Step{{Weight: 10, Bake: spec.Duration(10 * time.Minute)}, {Weight: 100}}
		// set-weight 10 runs at 0s: pause at 4m30s, resume at 7m30s; the bake ends at 13m.
		h.after(4*time.Minute+30*time.Second, func() { h.update(UpdatePause, PauseInput{Identity: "alice"}) })
		h.after(7*time.Minute+30*time.Second, func() { h.update(UpdateResume, ResumeInput{Identity: "alice"}) })
		h.run(releaseInput(prod))
		from := h.callTime("set-weight production canary 1.4.2 10")
		if got, want := offsets(from, starts[10]), minutes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13); got != want {
			t.Errorf("analysis at 10%%:\ngot  %s\nwant %s", got, want)
		}
	})

	t.Run("a pause step keeps analysis running", func(t *testing.T) {
		h := newHarness(t)
		starts := h.recordAnalysis(0)
		prod := autoProduction()
		prod.Strategy.Steps = []spec.Step{{Weight: 20, Bake: spec.Duration(time.Minute)}, {Pause: &spec.Pause{}}, {Weight: 100}}
		// The 1m bake and its round end at 1m: the pause step holds from 1m until the resume at 6m30s.
		h.after(6*time.Minute+30*time.Second, func() { h.update(UpdateResume, ResumeInput{Identity: "alice"}) })
		h.run(releaseInput(prod))
		from := h.callTime("set-weight production canary 1.4.2 20")
		if got, want := offsets(from, starts[20]), minutes(1, 2, 3, 4, 5, 6, 6.5); got != want {
			t.Errorf("analysis at 20%% (bake to 1m, then the pause step):\ngot  %s\nwant %s", got, want)
		}
	})

	t.Run("a timed pause step is analysed to its end", func(t *testing.T) {
		h := newHarness(t)
		starts := h.recordAnalysis(0)
		prod := autoProduction()
		prod.Strategy.Steps = []spec.Step{{Weight: 20}, {Pause: &spec.Pause{Duration: spec.Duration(150 * time.Second)}}, {Weight: 100}}
		h.run(releaseInput(prod))
		from := h.callTime("set-weight production canary 1.4.2 20")
		if got, want := offsets(from, starts[20]), minutes(0, 1, 2, 2.5); got != want {
			t.Errorf("analysis at 20%% (one for the step, then the 2m30s pause step):\ngot  %s\nwant %s", got, want)
		}
	})

	t.Run("a pause step before any traffic runs no analysis", func(t *testing.T) {
		h := newHarness(t)
		starts := h.recordAnalysis(0)
		prod := autoProduction()
		prod.Strategy.Steps = []spec.Step{{Pause: &spec.Pause{Duration: spec.Duration(5 * time.Minute)}}, {Weight: 100}}
		h.run(releaseInput(prod))
		if got := len(starts[0]); got != 0 {
			t.Errorf("analysis rounds at 0%%: got %d, want 0", got)
		}
		if got := len(starts[100]); got != 1 {
			t.Errorf("analysis rounds at 100%%: got %d, want 1", got)
		}
	})
}

// Analysis during a pause step counts like any other: past the failure limit the canary rolls back
// without waiting for a person.
func TestPauseStepAnalysisFailureRollsBack(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1"}
	prod := autoProduction()
	prod.Strategy.Steps = []spec.Step{{Weight: 20}, {Pause: &spec.Pause{}}, {Weight: 100}}
	start := h.env.Now()
	// Healthy for the step's own round at 0s, failing from the pause step's first round at 1m.
	h.checkFn = func(name string, _ activities.CheckRequest) bool {
		return name != "error-rate" || h.env.Now().Sub(start) < 30*time.Second
	}
	h.run(releaseInput(prod))
	res, errType := h.result()
	if errType != ErrTypeRolledBack || !strings.Contains(res.Reason, `analysis failed at 20%: "error-rate"`) {
		t.Fatalf("got type %q reason %q, want rolled back by analysis at 20%%", errType, res.Reason)
	}
	// FailureLimit 1: the second failed round, at 2m, rolls back.
	if got := h.callTime("set-weight production canary 1.4.2 0").Sub(h.callTime("set-weight production canary 1.4.2 20")); got != 2*time.Minute {
		t.Errorf("rollback came %v after 20%%, want 2m (two failed rounds in the pause step)", got)
	}
}
