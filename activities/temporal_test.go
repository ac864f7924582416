package activities

import (
	"context"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
)

// fakeSignaler records a signal-with-start call and fails with err; it describes runs with status (or
// describeErr).
type fakeSignaler struct {
	err         error
	status      enumspb.WorkflowExecutionStatus
	describeErr error
	workflowID  string
	describedID string // workflow ID and run ID of the last describe, "id/run"
	signal      string
	signalArg   any
	opts        client.StartWorkflowOptions
	workflow    any
	args        []any
}

func (f *fakeSignaler) SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	f.workflowID, f.signal, f.signalArg, f.opts, f.workflow, f.args = workflowID, signalName, signalArg, options, workflow, workflowArgs
	return nil, f.err
}

func (f *fakeSignaler) DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.describedID = workflowID + "/" + runID
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{Status: f.status},
	}, nil
}

func TestWorkflowRunning(t *testing.T) {
	tests := []struct {
		name    string
		fake    *fakeSignaler
		want    bool
		wantErr bool
	}{
		{"running", &fakeSignaler{status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}, true, false},
		{"terminated", &fakeSignaler{status: enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED}, false, false},
		{"completed", &fakeSignaler{status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}, false, false},
		{"unknown to the server", &fakeSignaler{describeErr: serviceerror.NewNotFound("gone")}, false, false},
		{"server unavailable", &fakeSignaler{describeErr: serviceerror.NewUnavailable("down")}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&Temporal{Client: tt.fake}).WorkflowRunning(context.Background(), WorkflowRunningInput{WorkflowID: "w", RunID: "first"})
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
			// The workflow ID's current run answers: a release that continued as new still runs.
			if tt.fake.describedID != "w/" {
				t.Errorf("described %q, want %q (the current run of w)", tt.fake.describedID, "w/")
			}
		})
	}
}

func TestSignalWithStartOptions(t *testing.T) {
	for _, workflowArg := range []any{nil, "arg"} {
		fake := &fakeSignaler{}
		tp := &Temporal{Client: fake}
		env := newActivityEnv(tp)
		_, err := env.ExecuteActivity(tp.SignalWithStart, SignalWithStartInput{
			WorkflowID: "ferry-env/checkout/staging", WorkflowType: "EnvLock", TaskQueue: "ferry",
			Signal: "lock-acquire", SignalArg: "req", WorkflowArg: workflowArg,
		})
		if err != nil {
			t.Fatal(err)
		}
		wantOpts := client.StartWorkflowOptions{
			ID: "ferry-env/checkout/staging", TaskQueue: "ferry",
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}
		if fake.workflowID != "ferry-env/checkout/staging" || fake.signal != "lock-acquire" || fake.signalArg != "req" ||
			fake.workflow != "EnvLock" || fake.opts.ID != wantOpts.ID || fake.opts.TaskQueue != wantOpts.TaskQueue ||
			fake.opts.WorkflowIDConflictPolicy != wantOpts.WorkflowIDConflictPolicy {
			t.Errorf("got call %s %s %v %+v %v, want the input's IDs with conflict policy USE_EXISTING",
				fake.workflowID, fake.signal, fake.signalArg, fake.opts, fake.workflow)
		}
		var wantArgs []any
		if workflowArg != nil {
			wantArgs = []any{workflowArg}
		}
		if !slices.Equal(fake.args, wantArgs) {
			t.Errorf("got workflow args %v, want %v", fake.args, wantArgs)
		}
	}
}

func TestSignalWithStartErrors(t *testing.T) {
	valid := SignalWithStartInput{WorkflowID: "w", WorkflowType: "EnvLock", TaskQueue: "ferry", Signal: "s"}
	tests := []struct {
		name      string
		in        SignalWithStartInput
		err       error
		typ       string
		retryable bool
		msg       string
	}{
		{"missing signal", SignalWithStartInput{WorkflowID: "w", WorkflowType: "EnvLock", TaskQueue: "ferry"}, nil,
			ErrTypeInvalidSpec, false, "signal-with-start needs workflow ID, workflow type, task queue and signal"},
		{"rejected by the server", valid, serviceerror.NewInvalidArgument("bad task queue"),
			ErrTypeInvalidSpec, false, "signal-with-start w s rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := &Temporal{Client: &fakeSignaler{err: tt.err}}
			_, err := newActivityEnv(tp).ExecuteActivity(tp.SignalWithStart, tt.in)
			assertFailure(t, err, tt.typ, tt.retryable, tt.msg)
		})
	}
	t.Run("unavailable server", func(t *testing.T) {
		tp := &Temporal{Client: &fakeSignaler{err: serviceerror.NewUnavailable("connection refused")}}
		_, err := newActivityEnv(tp).ExecuteActivity(tp.SignalWithStart, valid)
		assertRetryable(t, err)
	})
}

// collectSignals is a workflow that returns its argument followed by the first n "note" signals it receives.
func collectSignals(ctx workflow.Context, first string, n int) ([]string, error) {
	got := []string{first}
	ch := workflow.GetSignalChannel(ctx, "note")
	for range n {
		var s string
		ch.Receive(ctx, &s)
		got = append(got, s)
	}
	return got, nil
}

func TestSignalWithStartAgainstServer(t *testing.T) {
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	srv.NewWorker("ferry-test", func(r worker.Registry) {
		r.RegisterWorkflowWithOptions(func(ctx workflow.Context, first string) ([]string, error) {
			return collectSignals(ctx, first, 2)
		}, workflow.RegisterOptions{Name: "Collector"})
	})
	c := srv.GetDefaultClient()
	tp := &Temporal{Client: c}
	env := newActivityEnv(tp)
	for _, note := range []string{"one", "two"} {
		// The first call starts the workflow; the second finds it running and only signals it.
		_, err := env.ExecuteActivity(tp.SignalWithStart, SignalWithStartInput{
			WorkflowID: "collector", WorkflowType: "Collector", TaskQueue: "ferry-test",
			Signal: "note", SignalArg: note, WorkflowArg: "started",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	if err := c.GetWorkflow(ctx, "collector", "").Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if want := []string{"started", "one", "two"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q from one run", got, want)
	}
}
