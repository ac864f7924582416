package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
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

// A follower reports only errors that asking again cannot change; worker trouble it shows as a stale status,
// and everything else, outages and errors it cannot place alike, it tries again.
func TestFollowerErrorKinds(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	noPoller := serviceerror.NewFailedPrecondition("no poller seen for task queue recently, worker may be down")
	tests := []struct {
		name              string
		ctx               context.Context
		err               error
		permanent, worker bool
	}{
		{"unavailable", live, serviceerror.NewUnavailable("connection refused"), false, false},
		{"wrapped grpc unavailable", live, fmt.Errorf("describe x: %w", status.Error(codes.Unavailable, "connection refused")), false, false},
		{"bounded call ran out", live, fmt.Errorf("describe x: %w", context.DeadlineExceeded), false, false},
		{"namespace not loaded yet", live, serviceerror.NewNamespaceNotFound("default"), false, false},
		{"internal", live, serviceerror.NewInternal("boom"), false, false},
		{"no poller after a restart", live, fmt.Errorf("query status of x: %w", noPoller), false, true},
		{"no worker", live, &NoWorkerError{What: "status query", Wait: queryTimeout}, false, true},
		{"query failed", live, serviceerror.NewQueryFailed("replay"), false, true},
		{"no such release", live, &NotFoundError{Service: "a", Version: "1"}, true, false},
		{"server not found", live, serviceerror.NewNotFound("gone"), true, false},
		{"denied", live, serviceerror.NewPermissionDenied("no", ""), true, false},
		{"caller's own end", done, serviceerror.NewUnavailable("connection refused"), true, false},
	}
	for _, tt := range tests {
		if got := permanent(tt.ctx, tt.err); got != tt.permanent {
			t.Errorf("%s: permanent got %v, want %v", tt.name, got, tt.permanent)
		}
		if got := workerTrouble(tt.err); got != tt.worker {
			t.Errorf("%s: worker trouble got %v, want %v", tt.name, got, tt.worker)
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

// queryClient answers status queries from a script of errors, then with status.
type queryClient struct {
	client.Client
	errs   []error
	status workflows.Status
	calls  int
}

func (c *queryClient) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	c.calls++
	if c.calls <= len(c.errs) {
		return nil, c.errs[c.calls-1]
	}
	p, err := converter.GetDefaultDataConverter().ToPayloads(c.status)
	if err != nil {
		return nil, err
	}
	return encodedStatus{p}, nil
}

type encodedStatus struct{ p *commonpb.Payloads }

func (e encodedStatus) HasValue() bool { return true }
func (e encodedStatus) Get(ptr any) error {
	return converter.GetDefaultDataConverter().FromPayloads(e.p, ptr)
}

// A status query the worker fails is asked again, a bounded number of times; other errors are not.
func TestQueryRetriesFailedQuery(t *testing.T) {
	failed := serviceerror.NewQueryFailed("invalid state transition")
	run := Run{WorkflowID: "ferry-release/profile/10.0.0", Service: "profile", Version: "10.0.0"}
	want := workflows.Status{Service: "profile", Version: "10.0.0", Stage: "deploying"}
	tests := []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   bool
	}{
		{"answered", nil, 1, false},
		{"failed once", []error{failed}, 2, false},
		{"failed twice", []error{failed, failed}, 3, false},
		{"failed every time", []error{failed, failed, failed, failed}, queryAttempts, true},
		{"other error", []error{serviceerror.NewInternal("boom")}, 1, true},
	}
	for _, tt := range tests {
		c := &queryClient{errs: tt.errs, status: want}
		st, err := query(context.Background(), c, run)
		if c.calls != tt.wantCalls {
			t.Errorf("%s: %d calls, want %d", tt.name, c.calls, tt.wantCalls)
		}
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: got %+v, want an error", tt.name, st)
			}
			continue
		}
		if err != nil || st.Stage != want.Stage || st.Version != want.Version {
			t.Errorf("%s: got %+v, %v, want %+v", tt.name, st, err, want)
		}
	}
}

// describeRunning is a queryClient whose release runs.
type describeRunning struct{ *queryClient }

func (c describeRunning) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: "ferry-release/profile/10.0.0", RunId: "r1"},
		Status:    enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
	}}, nil
}

// A worker that keeps failing the status query does not end a watch: it reports the last status it saw,
// saying why it is stale, and goes on.
func TestWatchRidesOutFailedQueries(t *testing.T) {
	failed := serviceerror.NewQueryFailed("invalid state transition")
	last := workflows.Status{Service: "profile", Version: "10.0.0", State: workflows.StateRunning, Stage: "deploying", Env: "production"}
	c := describeRunning{&queryClient{status: last}}
	run := Run{WorkflowID: "ferry-release/profile/10.0.0", Service: "profile", Version: "10.0.0"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var seen []workflows.Status
	_, err := Watch(ctx, c, run, time.Millisecond, func(st workflows.Status) {
		seen = append(seen, st)
		if len(seen) == 1 {
			c.errs = make([]error, c.calls+queryAttempts)
			for i := range c.errs {
				c.errs[i] = failed
			}
		}
		if len(seen) == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("watch ended with %v, want it to go on until cancelled", err)
	}
	if len(seen) != 2 {
		t.Fatalf("saw %d statuses, want 2", len(seen))
	}
	got := seen[1]
	if got.Env != "production" || got.Stage != "deploying" || got.State != workflows.StateRunning || !strings.Contains(got.Waiting, "failed the status query: invalid state transition") {
		t.Errorf("after failed queries: got %+v, want the last status, waiting for a status answer", got)
	}
}

// runsClient is a release that continued as new from run r1 to r2, which runs: it logs the run IDs it is
// asked to describe, and answers queries from a script of errors, then with status.
type runsClient struct {
	*queryClient
	asked []string
}

func (c *runsClient) DescribeWorkflowExecution(_ context.Context, _, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	c.asked = append(c.asked, runID)
	info := &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: "ferry-release/profile/10.0.0", RunId: "r2"},
		Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}
	if runID == "r1" {
		info.Execution.RunId, info.Status = "r1", enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: info}, nil
}

// A watch asks for the release's latest run once it has seen it: the first run passes retention while the
// release goes on. Before the fix every poll described r1 first.
func TestWatchFollowsTheLatestRun(t *testing.T) {
	running := workflows.Status{Service: "profile", Version: "10.0.0", State: workflows.StateRunning}
	c := &runsClient{queryClient: &queryClient{status: running}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	polls := 0
	_, err := Watch(ctx, c, Run{WorkflowID: "ferry-release/profile/10.0.0", RunID: "r1", Service: "profile", Version: "10.0.0"},
		time.Millisecond, func(workflows.Status) {
			if polls++; polls == 3 {
				cancel()
			}
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("watch ended with %v, want it to go on until cancelled", err)
	}
	if got, want := strings.Join(c.asked, ","), "r1,,r2,r2"; got != want {
		t.Errorf("described runs: got %q, want %q", got, want)
	}
}

// Right after a server restart no worker polls yet, and the server may fail a call it cannot place: neither
// is the release's outcome. The watch goes on, saying it waits for a worker, until the release ends. Before the
// fix "no poller seen" ended it with an error (exit 1 for a release that succeeded).
func TestWatchRidesOutTransientErrors(t *testing.T) {
	noPoller := serviceerror.NewFailedPrecondition("no poller seen for task queue recently, worker may be down")
	done := workflows.Status{Service: "profile", Version: "10.0.0", State: workflows.StateSucceeded}
	c := &runsClient{queryClient: &queryClient{status: done, errs: []error{noPoller, serviceerror.NewInternal("boom")}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var seen []workflows.Status
	st, err := Watch(ctx, c, Run{WorkflowID: "ferry-release/profile/10.0.0", Service: "profile", Version: "10.0.0"},
		time.Millisecond, func(st workflows.Status) { seen = append(seen, st) })
	if err != nil || st.State != workflows.StateSucceeded {
		t.Fatalf("watch: got %+v, %v, want succeeded", st, err)
	}
	if len(seen) != 2 || seen[0].State != workflows.StateRunning || !strings.Contains(seen[0].Waiting, "no poller seen") {
		t.Errorf("statuses: got %+v, want a stale one waiting for a worker, then the outcome", seen)
	}
}
