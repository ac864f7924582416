package postgres

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const usersTable = `CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, legacy_flag text);
INSERT INTO users (email, legacy_flag) SELECT 'u' || g || '@example.com', CASE WHEN g % 2 = 0 THEN 'Y' END FROM generate_series(1, 100) g`

const addVerified = `SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN email_verified boolean;
-- the old version does not know this column
CREATE INDEX CONCURRENTLY users_email_verified_idx ON users (email_verified);
COMMENT ON COLUMN users.email_verified IS 'filled by the backfill';
`

func TestExpandAppliesOnceAndRecordsChecksum(t *testing.T) {
	ctx, conn, _ := connect(t)
	mustExec(t, ctx, conn, usersTable)
	req := ExpandRequest{Name: "add-email-verified", SQL: []byte(addVerified)}

	res, err := Expand(ctx, conn, req)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if !res.Applied || res.Statements != 4 || res.Checksum != Checksum([]byte(addVerified)) {
		t.Errorf("first run: got %+v, want applied, 4 statements, the file's checksum", res)
	}
	var checksum, phase string
	var done int
	var appliedAt *time.Time
	if err := conn.QueryRow(ctx, `SELECT checksum, phase, statements_done, applied_at FROM ferry.migrations WHERE name = $1`,
		req.Name).Scan(&checksum, &phase, &done, &appliedAt); err != nil {
		t.Fatal(err)
	}
	if checksum != res.Checksum || phase != PhaseExpand || done != 4 || appliedAt == nil {
		t.Errorf("record: got checksum %s phase %s done %d applied_at %v, want %s expand 4 set", checksum, phase, done, appliedAt, res.Checksum)
	}
	var valid bool
	if err := conn.QueryRow(ctx, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_verified_idx'::regclass`).Scan(&valid); err != nil {
		t.Fatalf("index built concurrently: %v", err)
	}
	if !valid {
		t.Error("index users_email_verified_idx: got invalid, want valid")
	}

	// The second run changes nothing: ALTER TABLE ADD COLUMN would fail if it ran again.
	res, err = Expand(ctx, conn, req)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if res.Applied {
		t.Error("second run: got Applied, want a no-op")
	}
	if n := queryInt(t, ctx, conn, `SELECT count(*) FROM ferry.migrations`); n != 1 {
		t.Errorf("records: got %d, want 1", n)
	}
	// Expand gives the session its lock_timeout back.
	var lt string
	if err := conn.QueryRow(ctx, "SHOW lock_timeout").Scan(&lt); err != nil {
		t.Fatal(err)
	}
	if lt != "0" {
		t.Errorf("lock_timeout after Expand: got %s, want 0", lt)
	}
}

func TestExpandChangedFileIsChecksumError(t *testing.T) {
	ctx, conn, _ := connect(t)
	mustExec(t, ctx, conn, usersTable)
	if _, err := Expand(ctx, conn, ExpandRequest{Name: "m", SQL: []byte(addVerified)}); err != nil {
		t.Fatal(err)
	}
	changed := []byte(addVerified + "CREATE TABLE audit (id int);\n")
	_, err := Expand(ctx, conn, ExpandRequest{Name: "m", SQL: changed})
	var mismatch *ChecksumMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("got %v, want *ChecksumMismatchError", err)
	}
	if mismatch.Recorded != Checksum([]byte(addVerified)) || mismatch.File != Checksum(changed) {
		t.Errorf("got recorded %s file %s, want %s and %s", mismatch.Recorded, mismatch.File, Checksum([]byte(addVerified)), Checksum(changed))
	}
	if msg := err.Error(); !strings.Contains(msg, mismatch.Recorded) || !strings.Contains(msg, mismatch.File) {
		t.Errorf("message %q does not name both checksums", msg)
	}
	if n := queryInt(t, ctx, conn, `SELECT count(*) FROM pg_class WHERE relname = 'audit'`); n != 0 {
		t.Error("the changed file ran")
	}
}

func TestExpandLockTimeoutIsTypedAndRetryable(t *testing.T) {
	ctx, conn, dsn := connect(t)
	mustExec(t, ctx, conn, usersTable)
	// A long transaction of the running version holds a lock that ALTER TABLE waits for.
	tx := openTx(t, ctx, dsn, "SELECT count(*) FROM users")
	req := ExpandRequest{Name: "add-column", SQL: []byte("ALTER TABLE users ADD COLUMN nickname text;"), LockTimeout: 200 * time.Millisecond}
	_, err := Expand(ctx, conn, req)
	var lockErr *LockTimeoutError
	if !errors.As(err, &lockErr) {
		t.Fatalf("got %v, want *LockTimeoutError", err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != SQLStateLockNotAvailable {
		t.Errorf("got %v, want a PgError with SQLSTATE 55P03", err)
	}
	if !lockErr.Retryable() {
		t.Error("lock timeout: got not retryable")
	}
	if n := queryInt(t, ctx, conn, `SELECT count(*) FROM ferry.migrations WHERE applied_at IS NOT NULL`); n != 0 {
		t.Errorf("applied records after a lock timeout: got %d, want 0", n)
	}

	// Once the lock is gone, the retry applies the file.
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := Expand(ctx, conn, req)
	if err != nil || !res.Applied {
		t.Fatalf("retry: got %+v, %v, want applied", res, err)
	}
	if n := queryInt(t, ctx, conn, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname'`); n != 1 {
		t.Errorf("column nickname: got %d, want 1", n)
	}
}

// TestExpandResumesAfterFailedConcurrentIndex fails a unique index build on duplicates, which leaves an invalid
// index behind, and checks that the retry neither repeats the committed part nor trips over the invalid index.
func TestExpandResumesAfterFailedConcurrentIndex(t *testing.T) {
	ctx, conn, _ := connect(t)
	mustExec(t, ctx, conn, usersTable)
	mustExec(t, ctx, conn, "UPDATE users SET email = 'dup@example.com' WHERE id IN (1, 2)")
	sql := []byte(`ALTER TABLE users ADD COLUMN email_lower text;
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);
ALTER TABLE users ADD CONSTRAINT users_email_unique UNIQUE USING INDEX users_email_key;`)
	req := ExpandRequest{Name: "unique-email", SQL: sql}
	if _, err := Expand(ctx, conn, req); err == nil {
		t.Fatal("first run: got no error, want a unique violation")
	}
	if n := queryInt(t, ctx, conn, `SELECT statements_done FROM ferry.migrations WHERE name = 'unique-email' AND applied_at IS NULL`); n != 1 {
		t.Errorf("statements done after the failure: got %d, want 1", n)
	}
	mustExec(t, ctx, conn, "UPDATE users SET email = 'other@example.com' WHERE id = 2")
	res, err := Expand(ctx, conn, req)
	if err != nil || !res.Applied {
		t.Fatalf("retry: got %+v, %v, want applied", res, err)
	}
	if n := queryInt(t, ctx, conn, `SELECT count(*) FROM pg_constraint WHERE conname = 'users_email_unique'`); n != 1 {
		t.Errorf("constraint: got %d, want 1", n)
	}
}

// Statements that can never succeed as Expand runs a file are refused before anything runs, with the
// lint's judgement: transaction control, and what PostgreSQL refuses inside a transaction block.
func TestExpandRefusesTransactionControl(t *testing.T) {
	ctx, conn, _ := connect(t)
	for _, tc := range []struct{ sql, want string }{
		{"BEGIN; CREATE TABLE a (id int); COMMIT;", "transaction control"},
		{"CREATE TABLE a (id int); VACUUM a;", "inside a transaction block"},
	} {
		_, err := Expand(ctx, conn, ExpandRequest{Name: "tx", SQL: []byte(tc.sql)})
		var refused *RefusedStatementError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a refused statement (%s)", tc.sql, err, tc.want)
		}
		if n := queryInt(t, ctx, conn, `SELECT count(*) FROM pg_class WHERE relname = 'a'`); n != 0 {
			t.Errorf("%s: table a was created", tc.sql)
		}
	}
}

func TestExpandDropIndexConcurrently(t *testing.T) {
	ctx, conn, _ := connect(t)
	mustExec(t, ctx, conn, usersTable+";CREATE INDEX users_legacy_idx ON users (legacy_flag)")
	res, err := Expand(ctx, conn, ExpandRequest{Name: "drop-legacy-index", SQL: []byte(
		"SET lock_timeout = '1s';\nDROP INDEX CONCURRENTLY users_legacy_idx;\nALTER TABLE users ADD COLUMN note text;")})
	if err != nil || !res.Applied || res.Statements != 3 {
		t.Fatalf("got %+v, %v, want applied with 3 statements", res, err)
	}
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM pg_class WHERE relname = 'users_legacy_idx'"); n != 0 {
		t.Errorf("index users_legacy_idx: got %d, want dropped", n)
	}
}

// TestExpandTwoRunnersAtOnce runs the same migration from two sessions at once: one applies it, the other
// waits for it and finds it recorded.
func TestExpandTwoRunnersAtOnce(t *testing.T) {
	ctx, conn, dsn := connect(t)
	mustExec(t, ctx, conn, usersTable)
	other := dial(t, ctx, dsn)
	req := ExpandRequest{Name: "add-email-verified", SQL: []byte(addVerified)}
	type outcome struct {
		res ExpandResult
		err error
	}
	results := make(chan outcome, 2)
	for _, c := range []*pgx.Conn{conn, other} {
		go func() {
			res, err := Expand(ctx, c, req)
			results <- outcome{res, err}
		}()
	}
	applied := 0
	for range 2 {
		o := <-results
		if o.err != nil {
			t.Errorf("runner: %v", o.err)
		}
		if o.res.Applied {
			applied++
		}
	}
	if applied != 1 {
		t.Errorf("runners that applied the file: got %d, want 1", applied)
	}
}

func TestExpandSyntaxErrorRunsNothing(t *testing.T) {
	ctx, conn, _ := connect(t)
	_, err := Expand(ctx, conn, ExpandRequest{Name: "bad", SQL: []byte("CREATE TABLE ok (id int);\nCREATE TABEL broken (id int);")})
	if err == nil {
		t.Fatal("got no error for a syntax error")
	}
	if n := queryInt(t, ctx, conn, "SELECT count(*) FROM pg_class WHERE relname IN ('ok', 'migrations')"); n != 0 {
		t.Errorf("relations created despite the syntax error: got %d, want 0", n)
	}
}
