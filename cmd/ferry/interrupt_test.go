package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/ferryhq/ferry/workflows"
)

// TestLiveInterruptedFromOutside ends releases the way the Temporal UI does, through the API with an identity
// and a reason: a termination and a cancel request. `ferry status` and `ferry history` both name who did it
// and why.
func TestLiveInterruptedFromOutside(t *testing.T) {
	clearEnv(t)
	address := devServer(t)
	t.Setenv("TEMPORAL_ADDRESS", address)
	spec := writeFile(t, "ferry.yaml", gatedSpec)
	const ops = "ops@temporal-ui"
	c, err := client.Dial(client.Options{HostPort: address, Identity: ops, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	// Cancelled at the gate: the release winds down as an abort, and frees the lock for the next one.
	if _, stderr, code := ferry(t, "start", "--spec", spec, "--version", "2.0.0", "--git-sha", "abc1234"); code != exitOK {
		t.Fatalf("start 2.0.0: got %d %q", code, stderr)
	}
	atGate(t, "2.0.0")
	_, err = c.WorkflowService().RequestCancelWorkflowExecution(ctx, &workflowservice.RequestCancelWorkflowExecutionRequest{
		Namespace:         "default",
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflows.ReleaseWorkflowID("gated", "2.0.0")},
		Identity:          ops,
		Reason:            "wrong build",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "gated 2.0.0: aborted: cancelled by ops@temporal-ui: wrong build\n"
	eventually(t, func() error {
		stdout, stderr, _ := ferry(t, "status", "gated", "--version", "2.0.0")
		if !strings.HasPrefix(stdout, want) {
			return errors.New("status of the cancelled release: got " + stdout + stderr)
		}
		return nil
	})
	stdout, _, _ := ferry(t, "history", "gated", "--version", "2.0.0")
	if want := `cancel requested by ops@temporal-ui: "wrong build"`; !strings.Contains(stdout, want) {
		t.Errorf("history of the cancelled release lacks %q:\n%s", want, stdout)
	}

	// Terminated at the gate.
	if _, stderr, code := ferry(t, "start", "--spec", spec, "--version", "2.0.1", "--git-sha", "abc1235"); code != exitOK {
		t.Fatalf("start 2.0.1: got %d %q", code, stderr)
	}
	atGate(t, "2.0.1")
	watchInNarrowTerminal(t, "2.0.1")
	if err := c.TerminateWorkflow(ctx, workflows.ReleaseWorkflowID("gated", "2.0.1"), "", "stuck at the gate"); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := ferry(t, "status", "gated", "--version", "2.0.1")
	if want := "gated 2.0.1: failed: terminated by ops@temporal-ui: stuck at the gate\n"; code != exitOK || !strings.HasPrefix(stdout, want) {
		t.Errorf("status of the terminated release: got %d %q %q, want it to begin with %q", code, stdout, stderr, want)
	}
	stdout, _, _ = ferry(t, "history", "gated", "--version", "2.0.1")
	if want := `release failed: terminated by ops@temporal-ui: "stuck at the gate"`; !strings.Contains(stdout, want) {
		t.Errorf("history of the terminated release lacks %q:\n%s", want, stdout)
	}
	if _, stderr, code := ferry(t, "start", "--spec", spec, "--version", "2.0.1", "--git-sha", "abc1235", "--wait"); code != exitFailed ||
		!strings.Contains(stderr, "ferry: gated 2.0.1 failed: terminated by ops@temporal-ui: stuck at the gate\n") {
		t.Errorf("start --wait of the terminated release: got %d %q", code, stderr)
	}
}

// watchInNarrowTerminal runs `status --watch` on a terminal 45 columns wide for a few seconds: each redraw of
// its line must fit, or the terminal would wrap it and stack the copies.
func watchInNarrowTerminal(t *testing.T, version string) {
	t.Helper()
	ptmx, tty := openPTY(t, 45)
	var screen syncBuffer
	go func() { _, _ = io.Copy(&screen, ptmx) }()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var stderr syncBuffer
	if code := run(ctx, []string{"ferry", "status", "gated", "--version", version, "--watch"}, tty, &stderr); code != exitOK {
		t.Errorf("status --watch on a terminal: exit %d %q", code, stderr.String())
	}
	var draws []string
	eventually(t, func() error {
		draws = strings.Split(strings.TrimRight(screen.String(), "\r\n"), "\r\033[K")[1:]
		if len(draws) < 2 {
			return fmt.Errorf("got %d redraws on the terminal, want several: %q", len(draws), screen.String())
		}
		return nil
	})
	for _, d := range draws {
		if n := utf8.RuneCountInString(d); n > 44 || !strings.HasPrefix(d, "gated "+version+": production") {
			t.Errorf("redraw %q: %d characters, want at most 44 and the release's line", d, n)
		}
	}
	if !strings.HasSuffix(draws[0], "…") {
		t.Errorf("redraw %q: want the long line cut with …", draws[0])
	}
}
