package locktest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/workflows"
)

const (
	service = "checkout"
	env     = "production"
	queue   = "ferry-locktest"

	// standInWorkflow is the stand-in release's registered name.
	standInWorkflow = "LockStandIn"
)

func standInID(i int) string      { return workflows.ReleaseWorkflowID(service, standInVersion(i)) }
func standInVersion(i int) string { return fmt.Sprintf("1.%d.0", i) }

// standIn is a release reduced to what the lock sees of it: it waits until it is granted the environment
// and returns the grant. It fails if it is superseded instead. The test asks for the lock and gives it back
// on its behalf, with the signals a release sends.
func standIn(ctx workflow.Context) (workflows.LockGrantedSignal, error) {
	var granted workflows.LockGrantedSignal
	var superseded workflows.SupersededSignal
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, workflows.SignalLockGranted), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, &granted)
	})
	sel.AddReceive(workflow.GetSignalChannel(ctx, workflows.SignalSuperseded), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, &superseded)
	})
	sel.Select(ctx)
	if superseded.By != "" {
		return granted, fmt.Errorf("superseded by %s, want a grant", superseded.By)
	}
	return granted, nil
}

// TestEnvLockLosesNoGrantAcrossContinueAsNew takes releases one after another through one lock that
// continues as new every few signals. Release i+1 asks for the lock while release i holds it, and only then
// does release i give it back, so every grant after the first goes to a queued waiter and is sent while the
// lock handles a release signal, often in the workflow task that continues as new. A grant sent there and
// not awaited is dropped by the server, and its release waits forever.
func TestEnvLockLosesNoGrantAcrossContinueAsNew(t *testing.T) {
	const (
		releases = 300
		// An odd limit: each release costs two signals (acquire, release), so the runs end alternately
		// after an acquire and after a release, the handling that sends a grant.
		limit = 7
		// stuckAfter is how long a queued release may wait for its grant before the test calls it stuck;
		// a grant takes a fraction of a second.
		stuckAfter = 30 * time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv, err := devserver.Start(ctx, devserver.Options{Port: 0, UIPort: -1, Logger: logger})
	if err != nil {
		t.Fatalf("start the server: %v", err)
	}
	defer srv.Stop()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(),
		Logger: log.NewStructuredLogger(logger)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.EnvLock, workflow.RegisterOptions{Name: workflows.EnvLockWorkflow})
	w.RegisterWorkflowWithOptions(standIn, workflow.RegisterOptions{Name: standInWorkflow})
	w.RegisterActivity(&activities.Temporal{Client: c})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	lockID := workflows.EnvLockWorkflowID(service, env)
	lock, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: lockID, TaskQueue: queue}, workflows.EnvLockWorkflow,
		workflows.LockInput{Service: service, Env: env, SignalLimit: limit})
	if err != nil {
		t.Fatalf("start the lock: %v", err)
	}
	base := time.Now()
	// ask starts release i and asks for the lock on its behalf.
	ask := func(i int) client.WorkflowRun {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: standInID(i), TaskQueue: queue}, standInWorkflow)
		if err != nil {
			t.Fatalf("start release %d: %v", i, err)
		}
		req := workflows.LockRequest{WorkflowID: standInID(i), RunID: run.GetRunID(), Version: standInVersion(i),
			StartedAt: base.Add(time.Duration(i) * time.Second)}
		if err := c.SignalWorkflow(ctx, lockID, "", workflows.SignalLockAcquire, req); err != nil {
			t.Fatalf("release %d asks for the lock: %v", i, err)
		}
		return run
	}
	run := ask(0)
	for i := range releases {
		gctx, cancel := context.WithTimeout(ctx, stuckAfter)
		var g workflows.LockGrantedSignal
		err := run.Get(gctx, &g)
		cancel()
		if err != nil {
			t.Fatalf("release %d of %d: got %v, want granted within %v; lock: %s", i+1, releases, err, stuckAfter,
				lockState(ctx, c, lockID))
		}
		if i > 0 && (g.Stable == nil || g.Stable.Version != standInVersion(i-1)) {
			t.Fatalf("release %d granted with stable %+v, want %s", i+1, g.Stable, standInVersion(i-1))
		}
		if i+1 < releases {
			run = ask(i + 1) // queued behind release i, which still holds the lock
		}
		done := workflows.LockReleaseSignal{WorkflowID: standInID(i), Deployed: &workflows.Artifact{Version: standInVersion(i)}}
		if err := c.SignalWorkflow(ctx, lockID, "", workflows.SignalLockRelease, done); err != nil {
			t.Fatalf("release %d gives the lock back: %v", i+1, err)
		}
	}
	t.Logf("%d releases through one lock in %v", releases, time.Since(base).Round(time.Millisecond))

	var st workflows.LockState
	if v, err := c.QueryWorkflow(ctx, lockID, "", workflows.QueryLock); err != nil {
		t.Fatalf("query the lock: %v", err)
	} else if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	if st.Holder != nil || len(st.Queue) != 0 || st.Stable == nil || st.Stable.Version != standInVersion(releases-1) {
		t.Errorf("lock at the end: got holder %+v, queue %d, stable %+v; want free, empty, stable %s",
			st.Holder, len(st.Queue), st.Stable, standInVersion(releases-1))
	}
	runs, err := countRuns(ctx, c, lockID, lock.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	// 2 signals a release, and a new run after `limit` selector rounds; signals that arrive together while
	// a run ends are handled in its last round, so some runs take more.
	if want := releases / limit; runs < want {
		t.Errorf("lock runs: got %d, want at least %d (continue-as-new every %d signals)", runs, want, limit)
	}
	t.Logf("the lock ran %d runs", runs)
}

// lockState describes the lock for a failure message.
func lockState(ctx context.Context, c client.Client, lockID string) string {
	v, err := c.QueryWorkflow(ctx, lockID, "", workflows.QueryLock)
	if err != nil {
		return err.Error()
	}
	var st workflows.LockState
	if err := v.Get(&st); err != nil {
		return err.Error()
	}
	s := fmt.Sprintf("queue %d", len(st.Queue))
	if st.Holder != nil {
		s += ", holder " + st.Holder.Version
	}
	return s
}

// countRuns follows the lock's continue-as-new chain from its first run and counts the runs.
func countRuns(ctx context.Context, c client.Client, id, runID string) (int, error) {
	for n := 1; ; n++ {
		it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		if !it.HasNext() {
			return n, nil // still running: no close event
		}
		ev, err := it.Next()
		if err != nil {
			return 0, fmt.Errorf("history of %s run %d: %w", id, n, err)
		}
		can := ev.GetWorkflowExecutionContinuedAsNewEventAttributes()
		if can == nil {
			return 0, fmt.Errorf("%s run %d ended with %v, want continued as new or running", id, n, ev.GetEventType())
		}
		runID = can.GetNewExecutionRunId()
	}
}
