package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

const (
	oldDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	newDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func servingOnly(version, digest string) activities.Observation {
	return activities.Observation{Known: true, Serving: []activities.Share{{Version: version, Digest: digest, Percent: 100}}}
}

// A rollback is reported only once the platform shows the stable version serving all traffic: when the new
// one still serves, the release fails and says what serves.
func TestRollbackOutcomeIsObserved(t *testing.T) {
	for _, tt := range []struct {
		name      string
		observed  activities.Observation
		wantState string
		wantIn    string
	}{
		{"stable serves", servingOnly("1.4.1", oldDigest), StateRolledBack, "rolled back (back on 1.4.1)"},
		{"new version still serves", servingOnly("1.4.2", newDigest), StateFailed,
			"production serves 1.4.2 (" + newDigest + ") at 100 %, expected 1.4.1 (" + oldDigest + ")"},
		{"split", activities.Observation{Known: true, Serving: []activities.Share{
			{Version: "1.4.1", Digest: oldDigest, Percent: 90}, {Version: "1.4.2", Digest: newDigest, Percent: 10}}},
			StateFailed, "at 90 % and 1.4.2"},
		{"cannot tell", activities.Observation{}, StateRolledBack, "rolled back"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout@" + oldDigest}
			h.observed["production"] = tt.observed
			h.checkFn = func(kind string, _ activities.CheckRequest) bool { return kind != "error-rate" }
			h.run(releaseInput(autoCanary()))
			res, _ := h.result()
			if res.State != tt.wantState || !strings.Contains(res.Reason, tt.wantIn) {
				t.Fatalf("got %s %q, want %s containing %q", res.State, res.Reason, tt.wantState, tt.wantIn)
			}
			if h.observations["production"] != 1 {
				t.Errorf("got %d observations, want 1", h.observations["production"])
			}
		})
	}
}

// A release says "succeeded" only when the platform shows the new digest serving all traffic.
func TestSuccessOutcomeIsObserved(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout@" + oldDigest}
	h.observed["production"] = servingOnly("1.4.1", oldDigest)
	h.run(releaseInput(autoCanary()))
	res, _ := h.result()
	want := "1.4.2 was promoted, but production serves 1.4.1 (" + oldDigest + ") at 100 %, expected 1.4.2"
	if res.State != StateFailed || !strings.Contains(res.Reason, want) {
		t.Fatalf("got %s %q, want %s containing %q", res.State, res.Reason, StateFailed, want)
	}

	h = newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout@" + oldDigest}
	h.observed["production"] = servingOnly("1.4.2", "")
	h.run(releaseInput(autoCanary()))
	if res, _ := h.result(); res.State != StateSucceeded {
		t.Fatalf("new version observed at 100 %%: got %s %q, want %s", res.State, res.Reason, StateSucceeded)
	}
}

// An abort while a canary promotes is accepted; the promotion runs to its end (it is not cancelled), and the
// rollback then restores the stable version with the platform's rollback, since stable may run the new one.
func TestAbortDuringPromoteRunsItToEndThenRollsBack(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout@" + oldDigest}
	h.promoteTime = time.Hour
	var out *updateOutcome
	var stage string
	var abortAt time.Time
	h.after(40*time.Minute, func() {
		stage, abortAt = h.status().Stage, h.env.Now()
		out = h.update(UpdateAbort, AbortInput{Identity: "alice", Reason: "wrong build"})
	})
	h.run(releaseInput(autoCanary()))
	if stage != StagePromote {
		t.Fatalf("the abort came at stage %q, want %q: the test's timing is off", stage, StagePromote)
	}
	if out == nil || !out.accepted {
		t.Fatalf("abort during promote: got %+v, want accepted", out)
	}
	res, _ := h.result()
	if res.State != StateAborted {
		t.Fatalf("got %s %q, want %s", res.State, res.Reason, StateAborted)
	}
	n := len(h.calls)
	if n < 3 || h.calls[n-3] != "promote production canary 1.4.2 100" ||
		h.calls[n-2] != "rollback production stable 1.4.1" || h.calls[n-1] != "remove production canary 1.4.2 0" {
		t.Fatalf("calls end with %q, want promote, then rollback to 1.4.1, then remove the canary", h.calls[max(n-3, 0):])
	}
	// The fake records a call when it returns: the promotion returned after the abort, it was not cut short.
	if promoted := h.callTime("promote production canary 1.4.2 100"); !promoted.After(abortAt.Add(15 * time.Minute)) {
		t.Errorf("the promotion ended at %v, want its full hour, well after the abort at %v", promoted, abortAt)
	}
}

// A failed canary before any promotion routes back with ExpectStable, so the platform refuses to route 100 %
// to a stable track that does not run the stable version.
func TestRollbackBeforePromoteExpectsStable(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout@" + oldDigest}
	h.checkFn = func(kind string, _ activities.CheckRequest) bool { return kind != "error-rate" }
	h.run(releaseInput(autoCanary()))
	last := h.requests[len(h.requests)-2]
	if last.Vars.Weight != 0 || !last.ExpectStable {
		t.Fatalf("the rollback's set-weight: got weight %d expectStable %v, want 0 and true", last.Vars.Weight, last.ExpectStable)
	}
}

// An abort during blue-green's scale-down delay switches back to the kept set with the platform's rollback,
// and does not scale it down.
func TestBlueGreenAbortDuringScaleDownSwitchesBack(t *testing.T) {
	bg := spec.Environment{Name: "production", Gate: spec.Gate{Auto: true}, Replicas: 2,
		Strategy: spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: spec.Duration(10 * time.Minute)}}
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout@" + oldDigest}
	var out *updateOutcome
	h.after(5*time.Minute, func() { out = h.update(UpdateAbort, AbortInput{Identity: "alice", Reason: "errors"}) })
	h.run(releaseInput(bg))
	if out == nil || !out.accepted {
		t.Fatalf("abort during scale-down: got %+v, want accepted", out)
	}
	res, _ := h.result()
	if res.State != StateAborted {
		t.Fatalf("got %s %q, want %s", res.State, res.Reason, StateAborted)
	}
	h.wantCalls(
		"deploy production preview 1.4.2 0", "ready production preview 1.4.2 0",
		"set-weight production preview 1.4.2 100", "promote production preview 1.4.2 100",
		"rollback production stable 1.4.1", "remove production preview 1.4.2 0",
	)
}
