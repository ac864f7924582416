package workflows

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

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
				"traffic may still go to 1.4.2 on the canary track (last set to 10%)",
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
