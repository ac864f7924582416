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
	want := []string{
		"deploy production canary 1.4.2 0",
		"ready production canary 1.4.2 0",
		"set-weight production canary 1.4.2 10",
		"set-weight production canary 1.4.2 50",
		"set-weight production canary 1.4.2 100",
		"promote production canary 1.4.2 100",
		"set-weight production canary 1.4.2 0",
		"remove production canary 1.4.2 0",
	}
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
