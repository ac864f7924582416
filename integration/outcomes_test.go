package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/workflows"
)

// removeGone logs its call like platform.sh, then fails for good: it fails once, and the retry finds a
// program that can no longer be run, which no further retry fixes.
const removeGone = `#!/bin/sh
"$(dirname "$0")/platform.sh"
chmod -x "$0"
echo "cluster gone"
exit 1
`

// An abort whose rollback fails is not a clean abort: the canary may still run, so `ferry start --wait` exits
// 4 (failed) and the status says what went wrong and what may be left.
func TestAbortWhoseRollbackFailsExitsFailed(t *testing.T) {
	t.Parallel()
	spec := strings.Replace(canary("auto", "30s", "pass"), "remove: [./platform.sh]", "remove: [./remove.sh]", 1)
	a := newApp(t, "shipping", spec, map[string]string{"remove.sh": removeGone})
	done := startWaiting(a, "9.0.0")
	awaitStatus(t, "shipping", "9.0.0", 2*time.Minute, func(s workflows.Status) bool {
		return s.Env == "production" && !s.BakeUntil.IsZero()
	})
	mustFerry(t, "abort", "shipping", "--version", "9.0.0", "--reason", "wrong build")
	r := waitResult(t, done, time.Minute)
	if r.code != 4 {
		t.Fatalf("start --wait: exit %d, want 4 (failed)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	s := status(t, "shipping", "9.0.0")
	if s.State != workflows.StateFailed {
		t.Errorf("got state %q, want %q", s.State, workflows.StateFailed)
	}
	for _, want := range []string{"aborted by ci-bot: wrong build", "rollback failed", "9.0.0 may still run on the canary track"} {
		if !strings.Contains(s.Reason, want) {
			t.Errorf("reason: got %q, want it to contain %q", s.Reason, want)
		}
	}
	calls := a.calls()
	if n := len(calls); n < 2 || calls[n-2] != "set-weight production canary 9.0.0 0" || calls[n-1] != "remove production canary 9.0.0 0" {
		t.Errorf("got calls %q, want the rollback's set-weight 0 and remove at the end", calls)
	}
}
