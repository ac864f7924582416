package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/migrate"
)

const itemRows = 20000

// itemsTable is a table of rows to fill: done and doubled are the new columns, n counts how often the
// backfill updated a row, and touched how often the concurrent writer did.
const itemsTable = `CREATE TABLE items (
	id bigserial PRIMARY KEY,
	legacy int NOT NULL,
	doubled int,
	done boolean NOT NULL DEFAULT false,
	n int NOT NULL DEFAULT 0,
	touched int NOT NULL DEFAULT 0
);
INSERT INTO items (legacy) SELECT g FROM generate_series(1, 20000) g;`

var itemsBackfill = migrate.Backfill{Table: "items", Set: "doubled = legacy * 2, done = true, n = n + 1", Where: "NOT done"}

// TestBackfillWithConcurrentWriter fills 20,000 rows while a writer, acting as the new version, inserts filled
// rows and fills rows it updates. Afterwards every row is filled, the backfill updated none twice and none that
// the writer had filled, and its count of rows matches the table.
func TestBackfillWithConcurrentWriter(t *testing.T) {
	ctx, conn, dsn := connect(t)
	mustExec(t, ctx, conn, itemsTable)
	writer := dial(t, ctx, dsn)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes int
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for writes = 0; writes < 200000; writes++ {
			select {
			case <-stop:
				return
			default:
			}
			var err error
			if writes%2 == 0 {
				_, err = writer.Exec(ctx, "INSERT INTO items (legacy, doubled, done) VALUES ($1, $1 * 2, true)", 100000+writes)
			} else {
				_, err = writer.Exec(ctx, "UPDATE items SET touched = touched + 1, doubled = legacy * 2, done = true WHERE id = $1", 1+rng.IntN(itemRows))
			}
			if err != nil {
				writeErr = err
				return
			}
		}
	}()

	var reports []Progress
	final, err := Backfill(ctx, conn, BackfillRequest{Spec: itemsBackfill, InitialBatch: 200, MaxBatch: 2000, TargetBatch: 20 * time.Millisecond},
		func(p Progress) error { reports = append(reports, p); return nil })
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if writeErr != nil {
		t.Fatalf("writer: %v", writeErr)
	}
	t.Logf("%d batches, %d rows at %.0f rows/s, %d concurrent writes", final.Batches, final.Rows, final.RowsPerSecond, writes)

	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM items WHERE NOT done OR doubled IS DISTINCT FROM legacy * 2"); n != 0 {
		t.Errorf("rows not filled: got %d, want 0", n)
	}
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM items WHERE n > 1"); n != 0 {
		t.Errorf("rows updated twice: got %d, want 0", n)
	}
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM items WHERE n = 1"); n != final.Rows {
		t.Errorf("rows the backfill updated: table says %d, progress says %d", n, final.Rows)
	}
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM items WHERE n = 1 AND id > $1", itemRows); n != 0 {
		t.Errorf("filled rows the writer inserted and the backfill updated again: got %d, want 0", n)
	}
	if len(reports) != final.Batches || len(reports) < 2 {
		t.Fatalf("reports: got %d for %d batches, want one per batch and more than one", len(reports), final.Batches)
	}
	for i := 1; i < len(reports); i++ {
		prev, cur := reports[i-1], reports[i]
		a, _ := strconv.ParseInt(prev.Cursor, 10, 64)
		b, _ := strconv.ParseInt(cur.Cursor, 10, 64)
		if b <= a || cur.Rows < prev.Rows {
			t.Fatalf("report %d: cursor %s rows %d after cursor %s rows %d, want both to grow", i, cur.Cursor, cur.Rows, prev.Cursor, prev.Rows)
		}
	}
	if reports[0].Total < itemRows/2 {
		t.Errorf("first estimate: got %d, want about %d", reports[0].Total, itemRows)
	}
}

// TestBackfillResumesAfterCrash cancels a backfill in the middle of a batch, as a worker crash would, and
// resumes it from the last reported cursor, then again from an older one, as after a lost heartbeat.
func TestBackfillResumesAfterCrash(t *testing.T) {
	ctx, conn, dsn := connect(t)
	mustExec(t, ctx, conn, itemsTable)
	// A row of the sixth batch (2501..3000) is locked, so that batch is in progress when the crash comes.
	tx := openTx(t, ctx, dsn, "SELECT * FROM items WHERE id = 2750 FOR UPDATE")
	observer := dial(t, ctx, dsn)

	runCtx, crash := context.WithCancel(ctx)
	defer crash()
	var reports []Progress
	crashed := make(chan error, 1)
	_, err := Backfill(runCtx, conn, BackfillRequest{Spec: itemsBackfill, InitialBatch: 500, MinBatch: 500, MaxBatch: 500},
		func(p Progress) error {
			reports = append(reports, p)
			if len(reports) == 5 {
				go func() {
					// Crash once the next batch waits for the locked row; poll for at most 30 s.
					for i := 0; i < 600; i++ {
						var waiting int64
						err := observer.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
							WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE "items" SET%'`).Scan(&waiting)
						if err != nil || waiting > 0 {
							crash()
							crashed <- err
							return
						}
						time.Sleep(50 * time.Millisecond)
					}
					crash()
					crashed <- errors.New("the sixth batch never waited for the locked row")
				}()
			}
			return nil
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("crashed run: got %v, want context.Canceled", err)
	}
	if err := <-crashed; err != nil {
		t.Fatal(err)
	}
	if len(reports) != 5 {
		t.Fatalf("reports before the crash: got %d, want 5", len(reports))
	}
	for i, p := range reports {
		// Fixed batches of 500 over keys 1..20000: the cursor is each batch's highest key, compared as a number.
		if want := strconv.Itoa(500 * (i + 1)); p.Cursor != want {
			t.Fatalf("report %d: got cursor %s, want %s", i, p.Cursor, want)
		}
	}
	if n := queryInt(t, ctx, observer, "SELECT count(*) FROM items WHERE done AND id > 2500"); n != 0 {
		t.Errorf("rows of the crashed batch visible: got %d, want 0", n)
	}
	// The crashed batch may still commit once the lock is free, before the resumed run starts or during it.
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	last := reports[len(reports)-1]
	lastKey, _ := strconv.ParseInt(last.Cursor, 10, 64)
	conn = dial(t, ctx, dsn) // a cancelled query closes its connection
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM items WHERE id <= $1 AND NOT done", lastKey); n != 0 {
		t.Fatalf("rows up to the reported cursor %d not filled: got %d, want 0", lastKey, n)
	}

	final, err := Backfill(ctx, conn, BackfillRequest{Spec: itemsBackfill, Cursor: last.Cursor, Done: last.Rows}, nil)
	if err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM items WHERE n = 1 AND done AND doubled = legacy * 2"); n != itemRows {
		t.Errorf("rows filled once: got %d, want %d", n, itemRows)
	}
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM items WHERE n <> 1"); n != 0 {
		t.Errorf("rows missed or updated twice: got %d, want 0", n)
	}
	if final.Rows > itemRows || final.Rows < itemRows-500 {
		t.Errorf("rows reported: got %d, want %d less at most one unreported batch", final.Rows, itemRows)
	}

	older := reports[1]
	again, err := Backfill(ctx, conn, BackfillRequest{Spec: itemsBackfill, Cursor: older.Cursor, Done: older.Rows}, nil)
	if err != nil {
		t.Fatalf("run from an older cursor: %v", err)
	}
	if again.Rows != older.Rows {
		t.Errorf("run from an older cursor updated %d rows, want 0", again.Rows-older.Rows)
	}
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM items WHERE n <> 1"); n != 0 {
		t.Errorf("after the run from an older cursor, rows with n <> 1: got %d, want 0", n)
	}
}

// TestBackfillQuotesNamesAndFindsTextKey fills a table whose schema, name and key need quoting, with a text
// primary key found from the catalogue.
func TestBackfillQuotesNamesAndFindsTextKey(t *testing.T) {
	ctx, conn, _ := connect(t)
	mustExec(t, ctx, conn, `CREATE SCHEMA "App"; CREATE TABLE "App"."User Accounts" ("Key" text PRIMARY KEY, flag text, verified boolean);
INSERT INTO "App"."User Accounts" SELECT 'k' || g, CASE WHEN g % 3 = 0 THEN 'Y' END FROM generate_series(1, 1000) g`)
	spec := migrate.Backfill{Table: "App.User Accounts", Set: `verified = (flag IS NOT DISTINCT FROM 'Y')`, Where: "verified IS NULL"}
	p, err := Backfill(ctx, conn, BackfillRequest{Spec: spec, InitialBatch: 100, MaxBatch: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != 1000 || p.Batches != 10 || p.Cursor != "k999" {
		t.Errorf("got %d rows in %d batches ending at %q, want 1000 in 10 ending at k999", p.Rows, p.Batches, p.Cursor)
	}
	if n := queryInt(t, ctx, conn, `SELECT count(*) FROM "App"."User Accounts" WHERE verified`); n != 333 {
		t.Errorf("verified rows: got %d, want 333", n)
	}
	if _, err := Backfill(ctx, conn, BackfillRequest{Spec: migrate.Backfill{Table: "App.Missing", Set: "x = 1"}}, nil); err == nil {
		t.Error("missing table: got no error")
	}
}

func TestBackfillLockTimeoutIsTyped(t *testing.T) {
	ctx, conn, dsn := connect(t)
	mustExec(t, ctx, conn, itemsTable)
	openTx(t, ctx, dsn, "SELECT * FROM items WHERE id = 50 FOR UPDATE")
	_, err := Backfill(ctx, conn, BackfillRequest{Spec: itemsBackfill, LockTimeout: 100 * time.Millisecond}, nil)
	var lockErr *LockTimeoutError
	if !errors.As(err, &lockErr) {
		t.Fatalf("got %v, want *LockTimeoutError", err)
	}
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM items WHERE done"); n != 0 {
		t.Errorf("rows filled by the batch that timed out: got %d, want 0", n)
	}
}

func TestBatchSizer(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  BackfillRequest
		took time.Duration
		want int
	}{
		{"defaults start at the initial size", BackfillRequest{}, DefaultTargetBatch, DefaultInitialBatch},
		{"a fast batch at most doubles", BackfillRequest{InitialBatch: 1000}, time.Millisecond, 2000},
		{"a slow batch at most halves", BackfillRequest{InitialBatch: 1000}, 10 * time.Second, 500},
		{"proportional in between", BackfillRequest{InitialBatch: 1000, TargetBatch: 200 * time.Millisecond}, 250 * time.Millisecond, 800},
		{"bounded by the maximum", BackfillRequest{InitialBatch: 1000, MaxBatch: 1200}, time.Millisecond, 1200},
		{"bounded by the minimum", BackfillRequest{InitialBatch: 150, MinBatch: 100}, time.Minute, 100},
		{"initial size clamped", BackfillRequest{InitialBatch: 5, MinBatch: 50}, DefaultTargetBatch, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newBatchSizer(tc.req)
			s.observe(tc.took)
			if s.size != tc.want {
				t.Errorf("got %d, want %d", s.size, tc.want)
			}
		})
	}
}

// TestBackfillSkipsRowFilledWhileItWaited makes a batch wait for a row that another transaction is filling; when
// that transaction commits, the batch re-checks Where on the new row and leaves it alone.
func TestBackfillSkipsRowFilledWhileItWaited(t *testing.T) {
	ctx, conn, dsn := connect(t)
	mustExec(t, ctx, conn, itemsTable)
	tx := openTx(t, ctx, dsn, "UPDATE items SET doubled = legacy * 2, done = true WHERE id = 10")
	observer := dial(t, ctx, dsn)
	committed := make(chan error, 1)
	go func() {
		for i := 0; i < 600; i++ {
			var waiting int64
			err := observer.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE "items" SET%'`).Scan(&waiting)
			if err != nil {
				committed <- err
				return
			}
			if waiting > 0 {
				committed <- tx.Commit(ctx)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		committed <- errors.New("the backfill never waited for row 10")
		_ = tx.Commit(ctx)
	}()
	p, err := Backfill(ctx, conn, BackfillRequest{Spec: itemsBackfill, InitialBatch: 100}, nil)
	if cerr := <-committed; cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != itemRows-1 {
		t.Errorf("rows updated: got %d, want %d", p.Rows, itemRows-1)
	}
	if n := queryInt(t, ctx, conn, "SELECT n FROM items WHERE id = 10"); n != 0 {
		t.Errorf("row 10, filled by the other transaction: backfill updated it %d times, want 0", n)
	}
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM items WHERE NOT done OR n > 1"); n != 0 {
		t.Errorf("rows not filled or updated twice: got %d, want 0", n)
	}
}
