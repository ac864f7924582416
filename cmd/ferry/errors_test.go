package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

func TestDescribe(t *testing.T) {
	outcome := func(state, typ string) error {
		return &starter.OutcomeError{Type: typ, Result: workflows.ReleaseResult{Service: "checkout", Version: "1.4.2", State: state, Reason: "analysis failed"}}
	}
	problems := &spec.Problems{List: []spec.Problem{
		{File: "ferry.yaml", Line: 1, Path: "service", Message: "required"},
		{File: "ferry.yaml", Line: 7, Path: "environments[0].strategy.type", Message: "must be one of ..."},
	}}
	historyHint := "`ferry history checkout --version 1.4.2` shows what happened"
	tests := []struct {
		name    string
		err     error
		message string
		hint    string
		code    int
	}{
		{"usage", usagef("approve", "missing --env"), "missing --env", "run `ferry approve --help` for its usage", exitRejected},
		{"app usage", usagef("", "unknown command %q", "x"), `unknown command "x"`, "run `ferry help` for the commands", exitRejected},
		{"bad spec", &specError{path: "ferry.yaml", err: problems}, "ferry.yaml has 2 problems",
			"fix them, then check with `ferry validate ferry.yaml`", exitRejected},
		{"missing spec", &specError{path: "x.yaml", err: fmt.Errorf("read spec: %w", os.ErrNotExist)}, "x.yaml: no such file",
			"pass the path of the service's ferry.yaml", exitRejected},
		{"rejected", fmt.Errorf("approve: %w", &starter.RejectedError{Update: "approve", Reason: "bob may not approve production (approvers: alice)"}),
			"bob may not approve production (approvers: alice)", "`ferry status SERVICE` shows where the release is and what it waits for", exitRejected},
		{"no running release", &starter.NotFoundError{Service: "checkout", Running: true}, "no running release of checkout",
			"`ferry list --service checkout` shows its releases", exitRejected},
		{"no such release", &starter.NotFoundError{Service: "checkout", Version: "9.9.9"}, "no release checkout 9.9.9",
			"`ferry list --service checkout` shows its releases", exitRejected},
		{"ambiguous", &starter.AmbiguousError{Service: "checkout", Intent: starter.Intent{Decision: "abort"}, Releases: []workflows.Status{
			{Service: "checkout", Version: "1.7.0", State: workflows.StateRunning, Env: "staging", Stage: workflows.StageCanary},
			{Service: "checkout", Version: "1.6.0", State: workflows.StateRunning, Env: "production", Stage: workflows.StageCanary},
		}}, "abort: 2 running releases of checkout are deploying", "pass --version to choose one of the releases above", exitRejected},
		{"failed", outcome(workflows.StateFailed, workflows.ErrTypeFailed), "checkout 1.4.2 failed: analysis failed", historyHint, exitFailed},
		{"rolled back", outcome(workflows.StateRolledBack, workflows.ErrTypeRolledBack), "checkout 1.4.2 rolled back: analysis failed", historyHint, exitRolledBack},
		{"aborted", outcome(workflows.StateAborted, workflows.ErrTypeAborted), "checkout 1.4.2 aborted: analysis failed", historyHint, exitAborted},
		{"superseded", outcome(workflows.StateSuperseded, ""), "checkout 1.4.2 superseded: analysis failed", historyHint, exitSuperseded},
		{"still running at --timeout", &stillRunningError{run: starter.ReleaseRun("checkout", "1.4.2"), timeout: 30 * time.Minute,
			last: workflows.Status{Service: "checkout", Version: "1.4.2", State: workflows.StateRunning, Env: "production", Stage: workflows.StageCanary, Steps: 3, Step: 2, Weight: 50, BakeUntil: time.Now().Add(time.Minute)}},
			"checkout 1.4.2 still running after --timeout 30m (production canary, step 2/3, weight 50%)",
			"the release goes on: `ferry status checkout --version 1.4.2 --watch` follows it", exitStillRunning},
		{"lost Temporal while following", &starter.LostError{Run: starter.ReleaseRun("checkout", "1.4.2"), For: 2*time.Minute + 300*time.Millisecond,
			Err: fmt.Errorf("describe: %w", serviceerror.NewUnavailable(`connection error: desc = "transport: dial tcp: connect: connection refused"`))},
			"lost Temporal for 2m while following checkout 1.4.2 (connection refused)",
			"the release goes on without this command: once Temporal is back, `ferry status checkout --version 1.4.2 --watch` follows it; --reconnect-timeout (FERRY_RECONNECT_TIMEOUT) waits longer", exitUnreachable},
		{"invalid spec at run time", outcome(workflows.StateFailed, workflows.ErrTypeInvalid), "checkout 1.4.2 failed: analysis failed", historyHint, exitRejected},
		{"dial", &unreachableError{address: "10.0.0.1:7233", err: errors.New(`connection error: desc = "transport: dial tcp: connect: connection refused"`)},
			"cannot reach Temporal at 10.0.0.1:7233 (connection refused)", "start `ferry dev`, or point --address (TEMPORAL_ADDRESS) at a running server", exitUnreachable},
		{"unavailable call", fmt.Errorf("list releases: %w", serviceerror.NewUnavailable("server is shutting down")),
			"cannot reach Temporal (server is shutting down)", "start `ferry dev`, or point --address (TEMPORAL_ADDRESS) at a running server", exitUnreachable},
		{"grpc unavailable", fmt.Errorf("query: %w", status.Error(codes.Unavailable, "connection reset")),
			"cannot reach Temporal (connection reset)", "start `ferry dev`, or point --address (TEMPORAL_ADDRESS) at a running server", exitUnreachable},
		{"no worker for a query", &starter.NoWorkerError{What: "status query", Wait: 10 * time.Second}, "no worker answered the status query within 10s",
			"run `ferry worker` (or `ferry dev`, which includes one) for this server and --task-queue", exitUnreachable},
		{"no worker for the lock", &starter.NoWorkerError{What: "lock query", Wait: 10 * time.Second}, "no worker answered the lock query within 10s",
			"run `ferry worker` (or `ferry dev`, which includes one) for this server and --task-queue", exitUnreachable},
		{"no worker for an update", &starter.NoWorkerError{What: "approve update", Wait: 30 * time.Second}, "no worker answered the approve update within 30s; it may still apply when a worker returns",
			"run `ferry worker` (or `ferry dev`, which includes one) for this server and --task-queue; the server keeps the decision, so it may still apply when a worker returns: check `ferry status SERVICE` before repeating it", exitUnreachable},
		{"namespace", serviceerror.NewNamespaceNotFound("prod"), "Namespace prod is not found.",
			"pass an existing namespace with --namespace or TEMPORAL_NAMESPACE", exitRejected},
		{"interrupted", fmt.Errorf("wait: %w", context.Canceled), "interrupted",
			"a started release keeps running; `ferry status SERVICE` follows it", exitError},
		{"unexpected", errors.New("boom\nwith a second line"), "boom",
			"this is unexpected: rerun with --log-level debug, and report it if it persists", exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := describe(tt.err)
			if r.message != tt.message || r.hint != tt.hint || r.code != tt.code {
				t.Errorf("got %q / %q / %d, want %q / %q / %d", r.message, r.hint, r.code, tt.message, tt.hint, tt.code)
			}
		})
	}
}

func TestPrintError(t *testing.T) {
	var b bytes.Buffer
	err := &specError{path: "ferry.yaml", err: &spec.Problems{List: []spec.Problem{{File: "ferry.yaml", Line: 3, Path: "service", Message: "required"}}}}
	code := printError(&b, err)
	want := "ferry.yaml:3: service: required\nferry: ferry.yaml has 1 problem\nhint: fix them, then check with `ferry validate ferry.yaml`\n"
	if code != exitRejected || b.String() != want {
		t.Errorf("got %d %q, want %d %q", code, b.String(), exitRejected, want)
	}
}

// TestPrintAmbiguous: a decision that could mean several releases lists each one with its stage above the message.
func TestPrintAmbiguous(t *testing.T) {
	var b bytes.Buffer
	code := printError(&b, &starter.AmbiguousError{Service: "checkout", Intent: starter.Intent{Decision: "approve", ApprovalEnv: "production"},
		Releases: []workflows.Status{
			{Service: "checkout", Version: "1.6.0", State: workflows.StateRunning, Env: "production", Stage: workflows.StageCanary, Step: 1, Steps: 3, Weight: 10},
			{Service: "checkout", Version: "1.7.0", State: workflows.StateRunning, Env: "production", Stage: workflows.StageLock, Waiting: "the production lock"},
		}})
	want := "  checkout 1.6.0: production canary, step 1/3, weight 10%\n" +
		"  checkout 1.7.0: production, waiting for the production lock\n" +
		"ferry: approve: none of the 2 running releases of checkout is waiting for approval in production\n" +
		"hint: pass --version to choose one of the releases above\n"
	if code != exitRejected || b.String() != want {
		t.Errorf("got %d %q, want %d %q", code, b.String(), exitRejected, want)
	}
}
