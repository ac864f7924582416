package activities

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
)

// TestSignalWithStartReachesLegacyWorkflow: a signal goes to the workflow under its older ID only when that
// workflow's search attribute says it is the one meant; another service's signal starts a workflow of its own.
func TestSignalWithStartReachesLegacyWorkflow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	c := srv.GetDefaultClient()
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		SearchAttributes: map[string]enumspb.IndexedValueType{"FerryService": enumspb.INDEXED_VALUE_TYPE_KEYWORD},
		Namespace:        srv.GetDefaultNamespace()}); err != nil {
		t.Fatal(err)
	}
	srv.NewWorker("ferry-test", func(r worker.Registry) {
		r.RegisterWorkflowWithOptions(func(ctx workflow.Context, first string) ([]string, error) {
			return collectSignals(ctx, first, 1)
		}, workflow.RegisterOptions{Name: "Collector"})
	})
	service := temporal.NewSearchAttributeKeyKeyword("FerryService")
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "old-id", TaskQueue: "ferry-test",
		TypedSearchAttributes: temporal.NewSearchAttributes(service.ValueSet("a"))}, "Collector", "old"); err != nil {
		t.Fatal(err)
	}
	tp := &Temporal{Client: c}
	env := newActivityEnv(tp)
	signal := func(svc string) {
		t.Helper()
		_, err := env.ExecuteActivity(tp.SignalWithStart, SignalWithStartInput{
			WorkflowID: "new-id-" + svc, WorkflowType: "Collector", TaskQueue: "ferry-test", Once: true,
			Signal: "note", SignalArg: "from " + svc, WorkflowArg: "new " + svc,
			Legacy: &LegacyWorkflow{WorkflowID: "old-id", Attribute: "FerryService", Value: svc}})
		if err != nil {
			t.Fatal(err)
		}
	}
	result := func(id string) []string {
		t.Helper()
		var got []string
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &got); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return got
	}
	signal("b")
	if got, want := result("new-id-b"), []string{"new b", "from b"}; !slices.Equal(got, want) {
		t.Errorf("service b: got %q, want %q: its own workflow", got, want)
	}
	signal("a")
	if got, want := result("old-id"), []string{"old", "from a"}; !slices.Equal(got, want) {
		t.Errorf("service a: got %q, want %q: the workflow under the older ID", got, want)
	}
	signal("a") // the older workflow closed: Once drops the signal, and nothing starts
	var notFound *serviceerror.NotFound
	if _, err := c.DescribeWorkflowExecution(ctx, "new-id-a", ""); !errors.As(err, &notFound) {
		t.Errorf("describe new-id-a: got %v, want not found: service a's signals go to its older workflow", err)
	}
}

// TestDeployedVersionsQueriesTheLock: the activity answers a lock's stable and holder versions with their
// commit times, and nothing for a lock that does not exist.
func TestDeployedVersionsQueriesTheLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	c := srv.GetDefaultClient()
	commit := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	srv.NewWorker("ferry-test", func(r worker.Registry) {
		r.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
			state := map[string]any{
				"holder": map[string]any{"workflowId": "r", "version": "build-42"},
				"stable": map[string]any{"version": "build-41", "image": "x", "commitTime": commit},
				"queue":  []any{},
			}
			if err := workflow.SetQueryHandler(ctx, "lock", func() (map[string]any, error) { return state, nil }); err != nil {
				return err
			}
			return workflow.Await(ctx, func() bool { return false })
		}, workflow.RegisterOptions{Name: "Lock"})
	})
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "lock", TaskQueue: "ferry-test"}, "Lock"); err != nil {
		t.Fatal(err)
	}
	tp := &Temporal{Client: c}
	env := newActivityEnv(tp)
	v, err := env.ExecuteActivity(tp.DeployedVersions, DeployedVersionsInput{WorkflowID: "lock", Query: "lock"})
	var got DeployedVersions
	if err != nil || v.Get(&got) != nil {
		t.Fatalf("deployed versions: %v", err)
	}
	if got.Stable == nil || got.Stable.Version != "build-41" || !got.Stable.CommitTime.Equal(commit) ||
		got.Holder == nil || got.Holder.Version != "build-42" || !got.Holder.CommitTime.IsZero() {
		t.Errorf("got stable %+v holder %+v, want build-41 committed %s and build-42 without a commit time", got.Stable, got.Holder, commit)
	}
	v, err = env.ExecuteActivity(tp.DeployedVersions, DeployedVersionsInput{WorkflowID: "no-such-lock", Query: "lock"})
	got = DeployedVersions{}
	if err != nil || v.Get(&got) != nil || got.Stable != nil || got.Holder != nil {
		t.Errorf("a lock that does not exist: got %+v, %v, want nothing", got, err)
	}
}
