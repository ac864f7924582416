package postgres

import (
	"errors"
	"testing"
)

// TestRecordsKeyedByService: two services that name a migration alike in one database each apply their own
// file. Before records named their service, the second service's file was a checksum mismatch with the first's.
func TestRecordsKeyedByService(t *testing.T) {
	ctx, conn, _ := connect(t)
	mustExec(t, ctx, conn, usersTable+`; CREATE TABLE orders (id bigint PRIMARY KEY)`)
	users := ExpandRequest{Service: "users-svc", Name: "add-verified", SQL: []byte("ALTER TABLE users ADD COLUMN verified boolean;\n")}
	orders := ExpandRequest{Service: "orders-svc", Name: "add-verified", SQL: []byte("ALTER TABLE orders ADD COLUMN verified boolean;\n")}
	for _, req := range []ExpandRequest{users, orders, users} {
		res, err := Expand(ctx, conn, req)
		if err != nil {
			t.Fatalf("expand of %s: %v", req.Service, err)
		}
		t.Logf("%s: applied %v", req.Service, res.Applied)
	}
	n := queryInt(t, ctx, conn, `SELECT count(*) FROM information_schema.columns WHERE column_name = 'verified'`)
	if n != 2 {
		t.Errorf("got %d tables with the new column, want 2 (each service's expand ran)", n)
	}
	recs, err := Records(ctx, conn, "add-verified")
	if err != nil || len(recs) != 2 || recs[0].Service != "orders-svc" || recs[1].Service != "users-svc" {
		t.Errorf("records: got %+v (%v), want one per service", recs, err)
	}
}

// TestRecordsUpgradeKeepsOlderRows: a table written before records named their service gains the column, and
// its rows count for any service: the expand they record does not run again.
func TestRecordsUpgradeKeepsOlderRows(t *testing.T) {
	ctx, conn, _ := connect(t)
	mustExec(t, ctx, conn, usersTable)
	file := []byte("ALTER TABLE users ADD COLUMN verified boolean;\n")
	mustExec(t, ctx, conn, `CREATE SCHEMA ferry;
CREATE TABLE ferry.migrations (name text NOT NULL, phase text NOT NULL, checksum text NOT NULL,
	statements_done integer NOT NULL, applied_at timestamptz, PRIMARY KEY (name, phase));
ALTER TABLE users ADD COLUMN verified boolean`)
	mustExec(t, ctx, conn, `INSERT INTO ferry.migrations VALUES ('add-verified', 'expand', $1, 1, now()), ('add-verified', 'backfill', '', 0, now())`, Checksum(file))

	recs, err := Records(ctx, conn, "")
	if err != nil || len(recs) != 2 || recs[0].Service != "" {
		t.Fatalf("records of the old table: got %+v (%v), want its two rows", recs, err)
	}
	res, err := Expand(ctx, conn, ExpandRequest{Service: "users-svc", Name: "add-verified", SQL: file})
	if err != nil || res.Applied {
		t.Fatalf("expand recorded by the old table: got %+v, %v, want a no-op", res, err)
	}
	if r, ok := RecordOf(recs, "users-svc", PhaseBackfill); !ok || r.AppliedAt.IsZero() {
		t.Errorf("backfill of users-svc: got %+v, %v, want the older row, done", r, ok)
	}
	_, err = Expand(ctx, conn, ExpandRequest{Service: "users-svc", Name: "add-verified", SQL: []byte("SELECT 1;\n")})
	var mismatch *ChecksumMismatchError
	if !errors.As(err, &mismatch) {
		t.Errorf("a different file under the older row: got %v, want a checksum mismatch", err)
	}
	if n := queryInt(t, ctx, conn, `SELECT count(*) FROM ferry.migrations WHERE service = ''`); n != 2 {
		t.Errorf("got %d older rows after the upgrade, want 2", n)
	}
}

// TestBackfillRecordsWhereItStopped: progress records the cursor without finishing; the finish sets the time
// once; progress after the finish changes nothing.
func TestBackfillRecordsWhereItStopped(t *testing.T) {
	ctx, conn, _ := connect(t)
	const svc, name = "users-svc", "add-verified"
	if err := RecordBackfillProgress(ctx, conn, svc, name, "500"); err != nil {
		t.Fatal(err)
	}
	recs, err := Records(ctx, conn, name)
	r, ok := RecordOf(recs, svc, PhaseBackfill)
	if err != nil || !ok || r.Cursor != "500" || !r.AppliedAt.IsZero() {
		t.Fatalf("after progress: got %+v (%v), want stopped at 500, not finished", r, err)
	}
	if _, ok := RecordOf(recs, "orders-svc", PhaseBackfill); ok {
		t.Error("another service sees users-svc's backfill")
	}
	if err := MarkBackfilled(ctx, conn, svc, name, "1000"); err != nil {
		t.Fatal(err)
	}
	recs, _ = Records(ctx, conn, name)
	done, _ := RecordOf(recs, svc, PhaseBackfill)
	if done.AppliedAt.IsZero() || done.Cursor != "1000" {
		t.Fatalf("after the finish: got %+v, want finished at 1000", done)
	}
	for _, f := range []func() error{
		func() error { return MarkBackfilled(ctx, conn, svc, name, "2000") },
		func() error { return RecordBackfillProgress(ctx, conn, svc, name, "3000") },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ = Records(ctx, conn, name)
	if again, _ := RecordOf(recs, svc, PhaseBackfill); !again.AppliedAt.Equal(done.AppliedAt) || again.Cursor != "1000" {
		t.Errorf("after a second finish and late progress: got %+v, want %+v unchanged", again, done)
	}
}
