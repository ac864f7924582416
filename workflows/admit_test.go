package workflows

import (
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/activities"
)

// A release the worker refuses fails at once: no lock is asked for, no command runs, and the reason is the
// worker's.
func TestReleaseRefusedAtAdmission(t *testing.T) {
	h := newHarness(t)
	h.admitErr = temporal.NewNonRetryableApplicationError(
		"the worker refuses this release: platform.exec.deploy[0]: program /bin/sh is not allowed",
		activities.ErrTypeInvalidSpec, nil)
	h.run(releaseInput(staging(), production()))

	res, errType := h.result()
	if errType != ErrTypeFailed || res.State != StateFailed {
		t.Fatalf("got state %q (error type %q), want failed", res.State, errType)
	}
	if !strings.Contains(res.Reason, "program /bin/sh is not allowed") {
		t.Errorf("got reason %q, want the worker's refusal", res.Reason)
	}
	if h.admitted != 1 {
		t.Errorf("got %d admissions, want 1 (a refusal is not retried)", h.admitted)
	}
	h.wantCalls()
	if len(h.signals) != 0 {
		t.Errorf("got lock signals %q, want none", h.signals)
	}
	for _, e := range res.Environments {
		if e.State != "pending" {
			t.Errorf("environment %s: got state %q, want pending", e.Name, e.State)
		}
	}
}

// Every release is admitted once, first.
func TestReleaseAdmittedFirst(t *testing.T) {
	h := newHarness(t)
	h.run(releaseInput(staging()))
	if res, errType := h.result(); errType != "" || res.State != StateSucceeded {
		t.Fatalf("got state %q (error type %q, reason %q), want succeeded", res.State, errType, res.Reason)
	}
	if h.admitted != 1 {
		t.Errorf("got %d admissions, want 1", h.admitted)
	}
}
