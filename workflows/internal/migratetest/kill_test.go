package migratetest

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/workflows"
)

// workerEnv, when set to a Temporal address, makes the test binary a worker process (see TestMain).
const workerEnv = "FERRY_MIGRATETEST_WORKER"

// runWorker runs Release workflows and the real migration activities until the process is killed.
func runWorker(addr, dsn, root string) error {
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: os.Getenv(workerEnv + "_NAMESPACE"), Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return err
	}
	w := worker.New(c, queue, worker.Options{MaxHeartbeatThrottleInterval: time.Second})
	w.RegisterWorkflowWithOptions(workflows.Release, workflow.RegisterOptions{Name: workflows.ReleaseWorkflow})
	w.RegisterWorkflowWithOptions(workflows.EnvLock, workflow.RegisterOptions{Name: workflows.EnvLockWorkflow})
	w.RegisterWorkflowWithOptions(workflows.Contract, workflow.RegisterOptions{Name: workflows.ContractWorkflow})
	w.RegisterActivity(&platform{running: map[string]string{}})
	w.RegisterActivity(&activities.Temporal{Client: c})
	w.RegisterActivity(&activities.Migrations{Databases: dsns{"users": dsn}, Exec: &activities.ExecPolicy{Root: root}})
	return w.Run(worker.InterruptCh())
}

func startWorker(t *testing.T, addr, namespace, dsn, root string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+addr, workerEnv+"_DSN="+dsn, workerEnv+"_ROOT="+root, workerEnv+"_NAMESPACE="+namespace)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestBackfillSurvivesKilledWorker kills the worker process (SIGKILL) in the middle of a backfill and starts
// another: the backfill resumes from its last heartbeat, misses no row and updates none twice.
func TestBackfillSurvivesKilledWorker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const rows = 20000
	f := newFixture(t, ctx, rows, "'Y'", map[string]string{"db/003_expand.sql": expandSQL})
	db, dsn, root, srv, c, addr := f.db, f.dsn, f.root, f.srv, f.c, f.srv.FrontendHostPort()

	first := startWorker(t, addr, srv.Namespace(), dsn, root)
	s := slowBackfillSpec() // the kill lands mid-way
	id := workflows.ReleaseWorkflowID(s.Service, "1.0.0")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ReleaseWorkflow,
		workflows.ReleaseInput{Spec: *s, Version: "1.0.0", GitSHA: "abc1234"})
	if err != nil {
		t.Fatal(err)
	}
	// Kill the worker once the backfill heartbeated some progress, and well before it is done.
	var seen activities.BackfillProgress
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no backfill progress within 2m (last %+v)", seen)
		}
		desc, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			continue
		}
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetActivityType().GetName() == "Backfill" && pa.GetHeartbeatDetails() != nil {
				_ = converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &seen)
			}
		}
		if seen.Rows > 0 {
			break
		}
	}
	if err := syscall.Kill(first.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	var filled int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM users WHERE email_verified IS NOT NULL`).Scan(&filled); err != nil {
		t.Fatal(err)
	}
	if filled >= rows {
		t.Fatalf("the backfill finished (%d rows) before the kill; slow it down", filled)
	}
	startWorker(t, addr, srv.Namespace(), dsn, root)
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("release: %v", err)
	}
	var missed, twice int64
	if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE email_verified IS NULL), count(*) FILTER (WHERE n <> 1) FROM users`).Scan(&missed, &twice); err != nil {
		t.Fatal(err)
	}
	if missed != 0 || twice != 0 {
		t.Errorf("after a killed worker: %d rows missed and %d not updated exactly once, want 0 and 0", missed, twice)
	}
	t.Logf("killed the worker at %d of %d rows heartbeated (%d committed)", seen.Rows, rows, filled)
}
