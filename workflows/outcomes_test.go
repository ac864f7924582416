package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// autoCanary is production() without its approval gate, so a release reaches its bake at once.
func autoCanary() spec.Environment {
	prod := production()
	prod.Gate = spec.Gate{Auto: true}
	return prod
}

// clusterGone is a platform failure that no retry fixes.
var clusterGone = temporal.NewNonRetryableApplicationError("cluster gone", ErrTypeInvalid, nil)

// An abort or a cancel whose rollback fails leaves the new version where it was: the release fails and says
// so, instead of reporting a clean abort.
func TestInterruptedRollbackFailureFailsRelease(t *testing.T) {
	rolling := staging()
	rolling.Name = "production"
	rolling.Verify = &spec.Verify{Window: spec.Duration(10 * time.Minute), Interval: spec.Duration(time.Minute), Checks: []spec.Check{httpOK}}
	tests := []struct {
		name       string
		env        spec.Environment
		cancel     bool   // cancel the workflow instead of an abort
		failOp     string // fails from the abort on
		wantReason []string
		wantCalls  []string
	}{
		{
			name: "abort, canary removal fails", env: autoCanary(), failOp: "remove production",
			wantReason: []string{
				"production: aborted by alice: bad idea; rollback failed: cluster gone",
				"all traffic is back on stable, but 1.4.2 may still run on the canary track",
			},
			wantCalls: []string{
				"deploy production canary 1.4.2 0", "ready production canary 1.4.2 0",
				"set-weight production canary 1.4.2 10",
				"set-weight production canary 1.4.2 0", "remove production canary 1.4.2 0",
			},
		},
		{
			name: "cancel, canary traffic cannot move back", env: autoCanary(), cancel: true, failOp: "set-weight production",
			wantReason: []string{
				"production: cancelled; rollback failed: cluster gone",
				"traffic may still go to 1.4.2 on the canary track (last confirmed at 10%)",
			},
			wantCalls: []string{
				"deploy production canary 1.4.2 0", "ready production canary 1.4.2 0",
				"set-weight production canary 1.4.2 10",
				"set-weight production canary 1.4.2 0",
			},
		},
		{
			name: "abort, rolling rollback fails", env: rolling, failOp: "rollback production",
			wantReason: []string{
				"production: aborted by alice: bad idea; rollback failed: cluster gone",
				"1.4.2 may still serve all traffic: 1.4.1 was not restored",
			},
			wantCalls: []string{
				"deploy production stable 1.4.2 0", "ready production stable 1.4.2 0",
				"rollback production stable 1.4.1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
			var out *updateOutcome
			h.after(5*time.Minute, func() {
				h.mu.Lock()
				h.failOps[tt.failOp] = clusterGone
				h.mu.Unlock()
				if tt.cancel {
					h.env.CancelWorkflow()
					return
				}
				out = h.update(UpdateAbort, AbortInput{Identity: "alice", Reason: "bad idea"})
			})
			h.run(releaseInput(tt.env))

			res, errType := h.result()
			if errType != ErrTypeFailed || res.State != StateFailed {
				t.Fatalf("got state %q (error type %q, reason %q), want %s (%s)", res.State, errType, res.Reason, StateFailed, ErrTypeFailed)
			}
			for _, want := range tt.wantReason {
				if !strings.Contains(res.Reason, want) {
					t.Errorf("reason: got %q, want it to contain %q", res.Reason, want)
				}
			}
			if got := res.Environments[0]; got.State != StateFailed || got.Reason != res.Reason {
				t.Errorf("production: got %s %q, want %s %q", got.State, got.Reason, StateFailed, res.Reason)
			}
			if !tt.cancel && (out == nil || !out.accepted) {
				t.Errorf("abort update: got %+v, want accepted", out)
			}
			if got := h.released["production"]; got != nil {
				t.Errorf("lock released with deployed %+v, want nil: the release never completed", got)
			}
			h.wantCalls(tt.wantCalls...)
		})
	}
}

// A failure after promotion cannot roll back: the new version serves, so it becomes the environment's stable
// version, the release fails with the cleanup failure, and the next release rolls back to it.
func TestFailureAfterPromotionKeepsNewVersionStable(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
	h.failOps["remove production"] = clusterGone
	h.run(releaseInput(autoCanary()))

	res, errType := h.result()
	if errType != ErrTypeFailed || res.State != StateFailed {
		t.Fatalf("got state %q (error type %q, reason %q), want %s", res.State, errType, res.Reason, StateFailed)
	}
	want := "production: 1.4.2 is promoted and serves all traffic, but its cleanup failed: promote: remove canary: cluster gone"
	if res.Reason != want || res.Environments[0].Reason != want {
		t.Errorf("reason: got %q (production %q), want %q", res.Reason, res.Environments[0].Reason, want)
	}
	got := h.released["production"]
	if got == nil || got.Version != "1.4.2" || got.Image != "registry.local/checkout:1.4.2" {
		t.Fatalf("production lock released with deployed %+v, want 1.4.2 as the stable version", got)
	}
	if calls := h.calls[len(h.calls)-3:]; strings.Join(calls, "\n") != "promote production canary 1.4.2 100\nset-weight production canary 1.4.2 0\nremove production canary 1.4.2 0" {
		t.Errorf("got last calls %q, want promote, route to stable, remove", calls)
	}

	// The next release gets what the lock recorded, and a failed smoke check rolls back to 1.4.2.
	next := newHarness(t)
	next.stable["production"] = got
	next.checkFn = func(name string, _ activities.CheckRequest) bool { return name != "smoke" }
	rolling := staging()
	rolling.Name = "production"
	in := releaseInput(rolling)
	in.Version = "1.4.3"
	next.run(in)
	if res, errType := next.result(); errType != ErrTypeRolledBack || !strings.HasSuffix(res.Reason, "rolled back (back on 1.4.2)") {
		t.Errorf("next release: got type %q reason %q, want rolled back to 1.4.2", errType, res.Reason)
	}
	next.wantCalls("deploy production stable 1.4.3 0", "ready production stable 1.4.3 0", "rollback production stable 1.4.2")
}

// A cancel after promotion does not stop the canary's cleanup halfway.
func TestCancelDuringCanaryCleanupFinishesIt(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		var req activities.PlatformRequest
		// Routing to stable, once promoted: the first set-weight 0 of the release.
		if info.ActivityType.Name == "SetWeight" && args.Get(&req) == nil && req.Vars.Weight == 0 {
			h.env.CancelWorkflow()
		}
	})
	h.run(releaseInput(autoCanary()))
	if res, errType := h.result(); errType != "" || res.State != StateSucceeded {
		t.Errorf("got state %q type %q reason %q, want succeeded: the cancel came after promotion", res.State, errType, res.Reason)
	}
	if calls := h.calls[len(h.calls)-3:]; strings.Join(calls, "\n") != "promote production canary 1.4.2 100\nset-weight production canary 1.4.2 0\nremove production canary 1.4.2 0" {
		t.Errorf("got last calls %q, want promote, route to stable, remove", calls)
	}
	if got := h.released["production"]; got == nil || got.Version != "1.4.2" {
		t.Errorf("production lock released with deployed %+v, want 1.4.2", got)
	}
}

// A cancel while blue-green keeps the old set for its scale-down delay still scales the old set down, or
// says that it is left.
func TestCancelDuringScaleDownDelay(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(map[bool]string{false: "scales down", true: "scale-down fails"}[fail], func(t *testing.T) {
			h := newHarness(t)
			h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
			if fail {
				h.failOps["remove production"] = clusterGone
			}
			prod := spec.Environment{
				Name: "production", Gate: spec.Gate{Auto: true}, Replicas: 2,
				Strategy: spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: spec.Duration(time.Hour)},
			}
			h.after(10*time.Minute, func() {
				if s := h.status(); s.Stage != StageScaleDown {
					t.Errorf("at the cancel: got stage %q, want %q", s.Stage, StageScaleDown)
				}
				h.env.CancelWorkflow()
			})
			h.run(releaseInput(prod))
			h.wantCalls(productionBlueGreen...)
			if got := h.callTime("remove production previous 1.4.1 0").Sub(h.callTime("promote production preview 1.4.2 100")); got != 10*time.Minute {
				t.Errorf("scale-down came %v after promotion, want 10m (at the cancel)", got)
			}
			if got := h.released["production"]; got == nil || got.Version != "1.4.2" {
				t.Errorf("production lock released with deployed %+v, want 1.4.2", got)
			}
			res, errType := h.result()
			if !fail {
				if errType != "" || res.State != StateSucceeded {
					t.Errorf("got state %q type %q reason %q, want succeeded: 1.4.2 serves and 1.4.1 is gone", res.State, errType, res.Reason)
				}
				return
			}
			want := "production: 1.4.2 is promoted and serves all traffic, but its cleanup failed: scale down 1.4.1: cluster gone (1.4.1 may still run on the previous track)"
			if errType != ErrTypeFailed || res.Reason != want {
				t.Errorf("got type %q reason %q, want %s %q", errType, res.Reason, ErrTypeFailed, want)
			}
		})
	}
}

// answerCurrent makes the platform's current command answer res, and logs each call as "current env".
func (h *harness) answerCurrent(res activities.CurrentResult) {
	h.env.OnActivity(platformActs.Current, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.PlatformRequest) (activities.CurrentResult, error) {
			h.noteQueue(ctx, "current")
			h.mu.Lock()
			defer h.mu.Unlock()
			h.calls = append(h.calls, "current "+in.Vars.Env)
			h.times = append(h.times, h.env.Now())
			return res, nil
		})
}

// withCurrent gives the spec's platform a current command.
func withCurrent(in ReleaseInput) ReleaseInput {
	exec := *in.Spec.Platform.Exec
	exec.Current = []string{"current"}
	in.Spec.Platform.Exec = &exec
	return in
}

// A release that does not know what served before never removes the stable track on a guess: it asks the
// platform's current command, and without an answer it leaves the environment as it is and says what to do.
func TestUnknownStableVersionIsNeverRemoved(t *testing.T) {
	rolling := staging()
	rolling.Name = "production"
	slowRolling := rolling
	slowRolling.Verify = &spec.Verify{Window: spec.Duration(10 * time.Minute), Interval: spec.Duration(time.Minute), Checks: []spec.Check{httpOK}}
	unknown := "not rolled back: the version that served production before 1.4.2 is unknown, so production was left as it is " +
		"and 1.4.2 may serve all traffic; release the version that should serve again, and tell Ferry what runs with " +
		"`ferry adopt checkout --env production --version VERSION --image REPOSITORY@sha256:...` or a platform.exec.current command"
	tests := []struct {
		name       string
		env        spec.Environment
		current    *activities.CurrentResult // nil: the spec has no current command
		abort      bool                      // abort at 5m instead of failing the smoke check
		wantType   string
		wantReason string
		wantCalls  []string
		wantImage  string // the rollback's StableImage
	}{
		{
			name: "no current command", env: rolling,
			wantType: ErrTypeFailed, wantReason: `production: smoke check "smoke" failed: status 500, want 200; ` + unknown,
			wantCalls: []string{"deploy production stable 1.4.2 0", "ready production stable 1.4.2 0"},
		},
		{
			name: "no current command, aborted", env: slowRolling, abort: true,
			wantType: ErrTypeFailed, wantReason: "production: aborted by alice: bad idea; " + unknown,
			wantCalls: []string{"deploy production stable 1.4.2 0", "ready production stable 1.4.2 0"},
		},
		{
			name: "current answers nothing", env: rolling, current: &activities.CurrentResult{},
			wantType: ErrTypeFailed, wantReason: `production: smoke check "smoke" failed: status 500, want 200; ` + unknown,
			wantCalls: []string{"current production", "deploy production stable 1.4.2 0", "ready production stable 1.4.2 0"},
		},
		{
			name: "current names the running version", env: rolling, current: &activities.CurrentResult{Known: true, Version: "1.3.9"},
			wantType: ErrTypeRolledBack, wantReason: `production: smoke check "smoke" failed: status 500, want 200; rolled back (back on 1.3.9)`,
			wantCalls: []string{"current production", "deploy production stable 1.4.2 0", "ready production stable 1.4.2 0", "rollback production stable 1.3.9"},
			wantImage: "registry.local/checkout:1.3.9",
		},
		{
			name: "current says nothing runs", env: rolling, current: &activities.CurrentResult{Known: true},
			wantType: ErrTypeRolledBack, wantReason: `production: smoke check "smoke" failed: status 500, want 200; rolled back (removed the new version)`,
			wantCalls: []string{"current production", "deploy production stable 1.4.2 0", "ready production stable 1.4.2 0", "remove production stable 1.4.2 0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			in := releaseInput(tt.env)
			if tt.current != nil {
				in = withCurrent(in)
				h.answerCurrent(*tt.current)
			}
			var rollbackImage string
			h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
				var req activities.PlatformRequest
				if info.ActivityType.Name == "Rollback" && args.Get(&req) == nil {
					rollbackImage = req.Vars.StableImage
				}
			})
			if tt.abort {
				h.after(5*time.Minute, func() { h.update(UpdateAbort, AbortInput{Identity: "alice", Reason: "bad idea"}) })
			} else {
				h.checkFn = func(name string, _ activities.CheckRequest) bool { return name != "smoke" }
			}
			h.run(in)
			res, errType := h.result()
			if errType != tt.wantType || res.Reason != tt.wantReason {
				t.Errorf("got type %q reason\n%q\nwant %s\n%q", errType, res.Reason, tt.wantType, tt.wantReason)
			}
			h.wantCalls(tt.wantCalls...)
			if rollbackImage != tt.wantImage {
				t.Errorf("rollback's stable image: got %q, want %q", rollbackImage, tt.wantImage)
			}
			if got := h.released["production"]; got != nil {
				t.Errorf("lock released with deployed %+v, want nil", got)
			}
		})
	}
}

// The lock's stable version wins: the platform is asked only when the lock does not know.
func TestCurrentIsAskedOnlyWhenTheLockDoesNotKnow(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
	h.answerCurrent(activities.CurrentResult{Known: true, Version: "1.3.9"})
	prod := spec.Environment{
		Name: "production", Gate: spec.Gate{Auto: true}, Replicas: 2,
		Strategy: spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: spec.Duration(time.Minute)},
	}
	h.run(withCurrent(releaseInput(staging(), prod)))
	h.wantCalls(
		"current staging",
		"deploy staging stable 1.4.2 0",
		"ready staging stable 1.4.2 0",
		"deploy production preview 1.4.2 0",
		"ready production preview 1.4.2 0",
		"set-weight production preview 1.4.2 100",
		"promote production preview 1.4.2 100",
		"remove production previous 1.4.1 0",
	)
}

// Blue-green scales down the version the platform said was running, which it would otherwise leave behind.
func TestBlueGreenScalesDownWhatThePlatformSaidRan(t *testing.T) {
	h := newHarness(t)
	h.answerCurrent(activities.CurrentResult{Known: true, Version: "1.3.9"})
	prod := spec.Environment{
		Name: "production", Gate: spec.Gate{Auto: true}, Replicas: 2,
		Strategy: spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: spec.Duration(time.Minute)},
	}
	h.run(withCurrent(releaseInput(prod)))
	h.wantCalls(
		"current production",
		"deploy production preview 1.4.2 0",
		"ready production preview 1.4.2 0",
		"set-weight production preview 1.4.2 100",
		"promote production preview 1.4.2 100",
		"remove production previous 1.3.9 0",
	)
	if res, errType := h.result(); errType != "" || res.State != StateSucceeded {
		t.Errorf("got state %q type %q, want succeeded", res.State, errType)
	}
}
