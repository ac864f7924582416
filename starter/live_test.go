package starter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// The live tests run the client side against a real embedded server, with a small stand-in for the Release
// workflow that speaks the same contract (search attributes, status query, decision Updates, outcome errors).
// They check what the starter does with Temporal, not what a release does.

const liveQueue = "starter-test"

var live struct {
	once   sync.Once
	server *devserver.Server
	client client.Client
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if live.client != nil {
		live.client.Close()
	}
	if live.server != nil {
		_ = live.server.Stop()
	}
	os.Exit(code)
}

// liveClient starts the shared server and a worker running fakeRelease on first use.
func liveClient(t *testing.T) client.Client {
	t.Helper()
	live.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if live.server, live.err = devserver.Start(ctx, devserver.Options{UIPort: -1, Logger: logger}); live.err != nil {
			return
		}
		live.client, live.err = client.DialContext(ctx, client.Options{
			HostPort: live.server.FrontendHostPort(), Namespace: live.server.Namespace(), Logger: sdklog.NewStructuredLogger(logger),
		})
		if live.err != nil {
			return
		}
		w := sdkworker.New(live.client, liveQueue, sdkworker.Options{})
		w.RegisterWorkflowWithOptions(fakeRelease, workflow.RegisterOptions{Name: workflows.ReleaseWorkflow})
		live.err = w.Start()
	})
	if live.err != nil {
		t.Fatalf("live server: %v", live.err)
	}
	return live.client
}

// fakeRelease waits at the production gate for an approval (or an abort), bakes briefly, and ends.
func fakeRelease(ctx workflow.Context, in workflows.ReleaseInput) (workflows.ReleaseResult, error) {
	st := workflows.Status{Service: in.Spec.Service, Version: in.Version, GitSHA: in.GitSHA, State: workflows.StateRunning,
		Env: "production", Stage: workflows.StageGate, Waiting: "approval"}
	var abortReason string
	approved := false
	_ = workflow.SetQueryHandler(ctx, workflows.QueryStatus, func() (workflows.Status, error) { return st, nil })
	_ = workflow.SetUpdateHandlerWithOptions(ctx, workflows.UpdateApprove,
		func(ctx workflow.Context, a workflows.ApproveInput) (workflows.UpdateResult, error) {
			approved = true
			st.Decisions = append(st.Decisions, workflows.Decision{Action: "approve", Env: a.Env, Identity: a.Identity, Reason: a.Reason})
			return workflows.UpdateResult{Message: "approved " + a.Env + " as " + a.Identity}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, a workflows.ApproveInput) error {
			if a.Env != st.Env || st.Stage != workflows.StageGate {
				return fmt.Errorf("no gate waits for approval in %s", a.Env)
			}
			return nil
		}})
	_ = workflow.SetUpdateHandlerWithOptions(ctx, workflows.UpdateAbort,
		func(ctx workflow.Context, a workflows.AbortInput) (workflows.UpdateResult, error) {
			abortReason = a.Reason
			return workflows.UpdateResult{}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, a workflows.AbortInput) error {
			if a.Reason == "" {
				return errors.New("abort needs a reason")
			}
			return nil
		}})
	stage := temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrStage)
	env := temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrEnvironment)
	state := temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrState)
	_ = workflow.UpsertTypedSearchAttributes(ctx, stage.ValueSet(st.Stage), env.ValueSet(st.Env))

	_ = workflow.Await(ctx, func() bool { return approved || abortReason != "" })
	res := workflows.ReleaseResult{Service: st.Service, Version: st.Version}
	if abortReason != "" {
		res.State, res.Reason = workflows.StateAborted, abortReason
		st.State, st.Reason = res.State, res.Reason
		_ = workflow.UpsertTypedSearchAttributes(ctx, state.ValueSet(res.State))
		return res, temporal.NewApplicationError("release aborted", workflows.ErrTypeAborted, res)
	}
	st.Stage, st.Waiting = workflows.StageCanary, ""
	_ = workflow.NewTimerWithOptions(ctx, 10*time.Millisecond, workflow.TimerOptions{Summary: "bake production"}).Get(ctx, nil)
	res.State = workflows.StateSucceeded
	st.State, st.Stage = res.State, workflows.StageDone
	_ = workflow.UpsertTypedSearchAttributes(ctx, state.ValueSet(res.State), stage.ValueSet(st.Stage))
	return res, nil
}

func startFake(ctx context.Context, t *testing.T, c client.Client, service, version string) (Run, bool) {
	t.Helper()
	run, existed, err := Start(ctx, c, StartOptions{TaskQueue: liveQueue, Input: workflows.ReleaseInput{
		Spec: spec.Spec{Service: service}, Version: version, GitSHA: "abc1234", StartedBy: "ci@runner",
	}})
	if err != nil {
		t.Fatalf("Start %s %s: %v", service, version, err)
	}
	return run, existed
}

// eventually retries f until it succeeds: visibility follows the workflow asynchronously.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestLiveApproveFlow(t *testing.T) {
	c := liveClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	run, existed := startFake(ctx, t, c, "checkout", "1.4.2")
	if existed || run.RunID == "" || run.WorkflowID != "ferry-release/checkout/1.4.2" {
		t.Fatalf("first Start: got %+v existed %v, want a new run of ferry-release/checkout/1.4.2", run, existed)
	}
	again, existed := startFake(ctx, t, c, "checkout", "1.4.2")
	if !existed || again.RunID != run.RunID {
		t.Fatalf("second Start: got run %s existed %v, want run %s existed true", again.RunID, existed, run.RunID)
	}

	eventually(t, func() error {
		rows, _, err := List(ctx, c, ListOptions{Service: "checkout", State: workflows.StateRunning})
		if err != nil {
			return err
		}
		if len(rows) != 1 || rows[0].Version != "1.4.2" || rows[0].Stage != workflows.StageGate || rows[0].Env != "production" {
			return fmt.Errorf("List running: got %+v, want checkout 1.4.2 at the production gate", rows)
		}
		return nil
	})
	resolved, err := Resolve(ctx, c, "checkout", "")
	if err != nil || resolved.RunID != run.RunID {
		t.Fatalf("Resolve newest running: got %+v, %v, want run %s", resolved, err, run.RunID)
	}

	st, err := Status(ctx, c, "checkout", "")
	if err != nil || st.Stage != workflows.StageGate || st.Waiting != "approval" {
		t.Fatalf("Status: got %+v, %v, want waiting for approval at the gate", st, err)
	}

	_, err = Approve(ctx, c, resolved, workflows.ApproveInput{Env: "staging", Identity: "alice"})
	var rejected *RejectedError
	if !errors.As(err, &rejected) || rejected.Reason != "no gate waits for approval in staging" || rejected.Update != workflows.UpdateApprove {
		t.Fatalf("Approve staging: got %v, want the validator's rejection verbatim", err)
	}
	res, err := Approve(ctx, c, resolved, workflows.ApproveInput{Env: "production", Identity: "alice", Reason: "looks good"})
	if err != nil || res.Message != "approved production as alice" {
		t.Fatalf("Approve production: got %+v, %v", res, err)
	}

	result, err := Wait(ctx, c, run)
	if err != nil || result.State != workflows.StateSucceeded {
		t.Fatalf("Wait: got %+v, %v, want succeeded", result, err)
	}
	st, err = StatusOf(ctx, c, run)
	if err != nil || st.State != workflows.StateSucceeded || len(st.Decisions) != 1 {
		t.Fatalf("Status after the end: got %+v, %v, want succeeded with the approval", st, err)
	}
	_, err = Approve(ctx, c, run, workflows.ApproveInput{Env: "production", Identity: "bob"})
	if !errors.As(err, &rejected) || !strings.Contains(rejected.Reason, "already ended") {
		t.Fatalf("Approve after the end: got %v, want a rejection saying the release ended", err)
	}

	events, err := History(ctx, c, nil, "checkout", "1.4.2")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, e := range events {
		texts = append(texts, e.Text)
	}
	got := strings.Join(texts, "\n")
	for _, want := range []string{
		"release checkout 1.4.2 started by ci@runner",
		`approve production by alice: "looks good"`,
		"timer 10ms: bake production",
		"release succeeded",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("history lacks %q; got:\n%s", want, got)
		}
	}
	if strings.Contains(got, "staging") {
		t.Errorf("history shows the rejected approval; got:\n%s", got)
	}

	var notFound *NotFoundError
	eventually(t, func() error {
		_, err = Resolve(ctx, c, "checkout", "")
		if !errors.As(err, &notFound) || err.Error() != "no running release of checkout" {
			return fmt.Errorf("Resolve with none running: got %v, want no running release of checkout", err)
		}
		return nil
	})
	if newest, err := Newest(ctx, c, "checkout", ""); err != nil || newest.RunID != run.RunID {
		t.Errorf("Newest with none running: got %+v, %v, want the closed run %s", newest, err, run.RunID)
	}
}

func TestLiveAbortAndMissing(t *testing.T) {
	c := liveClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	run, _ := startFake(ctx, t, c, "cart", "2.0.0")
	_, err := Abort(ctx, c, run, workflows.AbortInput{Identity: "alice"})
	var rejected *RejectedError
	if !errors.As(err, &rejected) || rejected.Reason != "abort needs a reason" {
		t.Fatalf("Abort without reason: got %v, want the validator's rejection", err)
	}
	if _, err := Abort(ctx, c, run, workflows.AbortInput{Identity: "alice", Reason: "bad build"}); err != nil {
		t.Fatal(err)
	}
	res, err := Wait(ctx, c, run)
	var outcome *OutcomeError
	if !errors.As(err, &outcome) || outcome.Type != workflows.ErrTypeAborted || res.State != workflows.StateAborted || res.Reason != "bad build" {
		t.Fatalf("Wait aborted: got %+v, %v, want aborted: bad build", res, err)
	}
	if err.Error() != "cart 2.0.0 aborted: bad build" {
		t.Errorf("outcome message: got %q", err)
	}
	eventually(t, func() error {
		rows, _, err := List(ctx, c, ListOptions{Service: "cart"})
		if err != nil || len(rows) != 1 || rows[0].State != workflows.StateAborted || rows[0].CloseTime.IsZero() {
			return fmt.Errorf("List cart: got %+v, %v, want one closed aborted release", rows, err)
		}
		return nil
	})
	if _, _, err := Start(ctx, c, StartOptions{TaskQueue: liveQueue, Input: workflows.ReleaseInput{Spec: spec.Spec{Service: "cart"}, Version: "2.0.0", GitSHA: "abc1234"}}); err != nil {
		t.Errorf("Start of a closed release: got %v, want the existing run", err)
	}

	var notFound *NotFoundError
	if _, err := Approve(ctx, c, ReleaseRun("cart", "9.9.9"), workflows.ApproveInput{Env: "production"}); !errors.As(err, &notFound) || err.Error() != "no release cart 9.9.9" {
		t.Errorf("Approve of a missing release: got %v, want no release cart 9.9.9", err)
	}
	if _, err := Status(ctx, c, "nosuch", ""); !errors.As(err, &notFound) || err.Error() != "no release of nosuch" {
		t.Errorf("Status of an unknown service: got %v, want no release of nosuch", err)
	}
	if _, _, err := List(ctx, c, ListOptions{State: "bogus"}); !errors.As(err, &rejected) {
		t.Errorf("List with an unknown state: got %v, want a rejection", err)
	}
}
