package migratetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// TestBackfillCommands pauses, resizes and resumes a running backfill the way `ferry migrate pause-backfill`,
// `resize-backfill` and `resume-backfill` do: each goes, without a version, to the release that runs it.
func TestBackfillCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const rows = 20000
	f := newFixture(t, ctx, rows, "'Y'", map[string]string{"db/003_expand.sql": expandSQL})
	f.serve(t)
	s := slowBackfillSpec()
	wr, err := f.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.ReleaseWorkflowID(s.Service, "1.0.0"), TaskQueue: queue},
		workflows.ReleaseWorkflow, workflows.ReleaseInput{Spec: *s, Version: "1.0.0", GitSHA: "abc1234"})
	if err != nil {
		t.Fatal(err)
	}
	run := starter.ReleaseRun(s.Service, "1.0.0")
	waitStatus := func(what string, ok func(workflows.Status) bool) workflows.Status {
		t.Helper()
		var st workflows.Status
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if st, err = starter.StatusOf(ctx, f.c, run); err == nil && ok(st) {
				return st
			}
		}
		t.Fatalf("no %s within a minute: last status %+v (%v)", what, st.Backfill, err)
		return st
	}
	waitStatus("backfill progress", func(st workflows.Status) bool {
		return st.Backfill != nil && st.Backfill.State == "running" && st.Backfill.Progress.Rows > 0
	})

	send := func(in workflows.BackfillInput, want string) {
		t.Helper()
		target, err := starter.ResolveFor(ctx, f.c, s.Service, "", starter.Intent{Decision: workflows.UpdateBackfill})
		if err != nil || target.Version != "1.0.0" {
			t.Fatalf("resolve the release of %s: got %+v, %v, want 1.0.0", in.Action, target, err)
		}
		res, err := starter.Backfill(ctx, f.c, target, in)
		if err != nil || !strings.Contains(res.Message, want) {
			t.Fatalf("%s: got %q, %v, want %q", in.Action, res.Message, err, want)
		}
	}
	send(workflows.BackfillInput{Action: workflows.BackfillPause, Identity: "dba", Reason: "peak traffic"}, "paused the backfill of add-email-verified")
	st := waitStatus("paused backfill", func(st workflows.Status) bool { return st.Backfill != nil && st.Backfill.State == "paused" })
	if st.Backfill.PausedBy != "dba" {
		t.Errorf("paused by: got %q, want dba", st.Backfill.PausedBy)
	}
	// `ferry migrate status` shows the paused backfill under its migration.
	migrations, err := starter.MigrationStatuses(ctx, f.c)
	if err != nil || len(migrations) != 1 || len(migrations[0].Backfills) != 1 ||
		migrations[0].Backfills[0].Version != "1.0.0" || migrations[0].Backfills[0].State != "paused" {
		t.Errorf("migration statuses: got %+v, %v, want add-email-verified with 1.0.0's paused backfill", migrations, err)
	}
	// The batch under way when the pause came may still commit; once the activity has stopped, nothing moves.
	for deadline := time.Now().Add(30 * time.Second); backfillPending(t, ctx, f.c, run.WorkflowID); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the backfill activity still runs 30s after the pause")
		}
	}
	filled := func() int64 { return f.count(t, ctx, "SELECT count(*) FROM users WHERE email_verified IS NOT NULL") }
	before := filled()
	time.Sleep(time.Second)
	if after := filled(); after != before || after >= rows {
		t.Fatalf("while paused: %d rows filled, then %d a second later; want no change, and fewer than %d", before, after, rows)
	}

	send(workflows.BackfillInput{Action: workflows.BackfillResize, BatchTarget: 50 * time.Millisecond, Identity: "dba"}, "now aims at batches of 50ms")
	send(workflows.BackfillInput{Action: workflows.BackfillResume, Identity: "dba"}, "resumed the backfill of add-email-verified")
	if err := wr.Get(ctx, nil); err != nil {
		t.Fatalf("release: %v", err)
	}
	if missed, twice := f.count(t, ctx, "SELECT count(*) FROM users WHERE email_verified IS NULL"),
		f.count(t, ctx, "SELECT count(*) FROM users WHERE n <> 1"); missed != 0 || twice != 0 {
		t.Errorf("after pause, resize and resume: %d rows missed and %d not updated exactly once, want 0 and 0", missed, twice)
	}
	st, err = starter.StatusOf(ctx, f.c, run)
	if err != nil || st.Backfill == nil || st.Backfill.State != "done" || st.Backfill.BatchTarget != 50*time.Millisecond {
		t.Errorf("final status: got %+v, %v, want the backfill done, aiming at 50ms batches", st.Backfill, err)
	}
}

// backfillPending reports whether the workflow has a Backfill activity scheduled or running.
func backfillPending(t *testing.T, ctx context.Context, c client.Client, id string) bool {
	t.Helper()
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityType().GetName() == "Backfill" {
			return true
		}
	}
	return false
}
