package starter

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferryhq/ferry/workflows"
)

func TestBackoff(t *testing.T) {
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d): got %v, want %v", i+1, got, w)
		}
	}
	if got := backoff(1000); got != maxRetry {
		t.Errorf("backoff(1000): got %v, want %v", got, maxRetry)
	}
}

func TestIsOutage(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"unavailable", live, serviceerror.NewUnavailable("connection refused"), true},
		{"wrapped grpc unavailable", live, fmt.Errorf("describe x: %w", status.Error(codes.Unavailable, "connection refused")), true},
		{"rpc deadline", live, serviceerror.NewDeadlineExceeded("deadline"), true},
		{"bounded call ran out", live, fmt.Errorf("describe x: %w", context.DeadlineExceeded), true},
		{"namespace not loaded yet", live, serviceerror.NewNamespaceNotFound("default"), true},
		{"no such release", live, &NotFoundError{Service: "a", Version: "1"}, false},
		{"no worker", live, &NoWorkerError{What: "status query", Wait: queryTimeout}, false},
		{"internal", live, serviceerror.NewInternal("boom"), false},
		{"nil", live, nil, false},
		{"caller's own end", done, serviceerror.NewUnavailable("connection refused"), false},
	}
	for _, tt := range tests {
		if got := isOutage(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// An outage is counted from its first failure: the waits follow the backoff, the last one is cut to the time
// left, past the reconnect timeout the follower gives up, and an answer in between starts the count afresh.
func TestFollowerCountsOutage(t *testing.T) {
	var heard []Outage
	f := newFollower(Run{Service: "checkout", Version: "1.4.2"}, FollowOptions{ReconnectTimeout: 10 * time.Second, OnReconnect: func(o Outage) { heard = append(heard, o) }})
	f.last = workflows.Status{State: workflows.StateRunning, Env: "production"}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	down := serviceerror.NewUnavailable("connection refused")

	at := t0
	var waits []time.Duration
	for range 5 {
		wait, lost := f.failed(down, at, at)
		if lost != nil {
			t.Fatalf("gave up after %v, want to keep trying for 10s", at.Sub(t0))
		}
		waits = append(waits, wait)
		at = at.Add(wait)
	}
	// 0.5+1+2+4 = 7.5s gone, 2.5s left: the fifth wait is cut to it.
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 2500 * time.Millisecond}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("waits: got %v, want %v", waits, want)
	}
	_, lost := f.failed(down, at, at)
	if lost == nil || lost.For != 10*time.Second || !errors.Is(lost, down) || lost.Last.Env != "production" {
		t.Fatalf("at the reconnect timeout: got %+v, want a *LostError after 10s with the last status", lost)
	}
	if len(heard) != 5 || heard[0].Attempt != 1 || heard[4].Attempt != 5 || !heard[4].Since.Equal(t0) || heard[4].Left != 2500*time.Millisecond {
		t.Errorf("heard %+v, want attempts 1..5 since %v, the last with 2.5s left", heard, t0)
	}

	f.answered()
	if last := heard[len(heard)-1]; last.Attempt != 0 || !last.Since.Equal(t0) {
		t.Errorf("on the answer: heard %+v, want attempt 0 since the outage began", last)
	}
	f.answered() // no outage: nothing to tell
	if len(heard) != 6 {
		t.Errorf("heard %d notices, want 6", len(heard))
	}
	later := at.Add(time.Hour)
	if wait, lost := f.failed(down, later.Add(-followRead), later); lost != nil || wait != firstRetry || !heard[len(heard)-1].Since.Equal(later.Add(-followRead)) {
		t.Errorf("a new outage: got wait %v, %v, want a fresh count", wait, lost)
	}
}

// do retries only what an outage explains, and stops at once when its context ends.
func TestFollowerDo(t *testing.T) {
	f := newFollower(Run{Service: "checkout", Version: "1.4.2"}, FollowOptions{ReconnectTimeout: time.Minute})
	calls := 0
	err := f.do(context.Background(), func(context.Context) error {
		calls++
		if calls < 3 {
			return serviceerror.NewUnavailable("connection refused")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("got %v after %d calls, want nil after 3", err, calls)
	}

	calls = 0
	notFound := &NotFoundError{Service: "checkout", Version: "1.4.2"}
	if err := f.do(context.Background(), func(context.Context) error { calls++; return notFound }); err != notFound || calls != 1 {
		t.Errorf("got %v after %d calls, want the error itself after 1", err, calls)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = f.do(ctx, func(context.Context) error { return serviceerror.NewUnavailable("connection refused") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the context's deadline", err)
	}

	short := newFollower(Run{Service: "checkout", Version: "1.4.2"}, FollowOptions{ReconnectTimeout: 50 * time.Millisecond})
	var lost *LostError
	if err := short.do(context.Background(), func(context.Context) error { return serviceerror.NewUnavailable("connection refused") }); !errors.As(err, &lost) {
		t.Errorf("got %v, want a *LostError", err)
	}
}

func TestInterruptionReason(t *testing.T) {
	tests := []struct {
		in     interruption
		reason string
		want   string
	}{
		{interruption{terminated: true, identity: "ops@ui", why: "stuck"}, "terminated", "terminated by ops@ui: stuck"},
		{interruption{terminated: true, identity: "ops@ui"}, "terminated", "terminated by ops@ui"},
		{interruption{identity: "ops@ui", why: "wrong build"}, "cancelled; rolled back production", "cancelled by ops@ui: wrong build; rolled back production"},
		{interruption{identity: "ops@ui", why: "wrong build"}, "canceled", "cancelled by ops@ui: wrong build"},
		{interruption{why: "wrong build"}, "cancelled", "cancelled by an unknown identity: wrong build"},
		{interruption{identity: "ops@ui"}, "rollback failed", "rollback failed; cancel requested by ops@ui"},
	}
	for _, tt := range tests {
		if got := tt.in.reason(tt.reason); got != tt.want {
			t.Errorf("%+v on %q: got %q, want %q", tt.in, tt.reason, got, tt.want)
		}
	}
}

func TestTimelineInterruptions(t *testing.T) {
	events := []*historypb.HistoryEvent{
		{EventId: 1, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED, Attributes: &historypb.HistoryEvent_WorkflowExecutionCancelRequestedEventAttributes{
			WorkflowExecutionCancelRequestedEventAttributes: &historypb.WorkflowExecutionCancelRequestedEventAttributes{Identity: "ops@ui", Cause: "wrong build"}}},
		{EventId: 2, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, Attributes: &historypb.HistoryEvent_WorkflowExecutionTerminatedEventAttributes{
			WorkflowExecutionTerminatedEventAttributes: &historypb.WorkflowExecutionTerminatedEventAttributes{Identity: "ops@ui", Reason: "stuck"}}},
	}
	got := Timeline(events, converter.GetDefaultDataConverter())
	if len(got) != 2 {
		t.Fatalf("got %d events, want 2: %+v", len(got), got)
	}
	if c := got[0]; c.Kind != EventCancelRequest || c.Identity != "ops@ui" || c.Reason != "wrong build" || c.Text != `cancel requested by ops@ui: "wrong build"` {
		t.Errorf("cancel request: got %+v", c)
	}
	if o := got[1]; o.Kind != EventOutcome || o.Identity != "ops@ui" || o.Reason != "terminated by ops@ui: stuck" || o.Text != `release failed: terminated by ops@ui: "stuck"` {
		t.Errorf("termination: got %+v", o)
	}
}
