package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/pgtest"
	"github.com/ferryhq/ferry/internal/postgres"
	"github.com/ferryhq/ferry/internal/spec"
)

// These tests run the migration activities against a real PostgreSQL cluster (pgtest, started by TestMain).

type dsns map[string]string

func (d dsns) DSN(env, name string) (string, error) {
	if dsn, ok := d[env+"/"+name]; ok {
		return dsn, nil
	}
	return "", fmt.Errorf("no database %s", name)
}

const expandSQL = `SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN email_verified boolean;
`

const contractSQL = `SET lock_timeout = '2s';
ALTER TABLE users DROP COLUMN legacy_flag;
`

// migrationFixture is a database with a users table of n rows, a spec root holding the migration's files, and
// the activities pointed at both.
func migrationFixture(t *testing.T, rows int) (context.Context, *pgx.Conn, *activities.Migrations, spec.Migration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	dsn := pgtest.Database(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	// n counts the updates of each row that matter: the backfill's SET increments it.
	if _, err := conn.Exec(ctx, `CREATE TABLE users (id bigint PRIMARY KEY, legacy_flag text NOT NULL, n int NOT NULL DEFAULT 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO users (id, legacy_flag) SELECT g, CASE WHEN g % 3 = 0 THEN 'Y' ELSE 'N' END FROM generate_series(1, $1) g`, rows); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for name, body := range map[string]string{"db/003_expand.sql": expandSQL, "db/003_contract.sql": contractSQL, "db/bad_expand.sql": contractSQL} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	acts := &activities.Migrations{Databases: dsns{"staging/users": dsn}, Exec: &activities.ExecPolicy{Root: root}}
	m := spec.Migration{Name: "add-email-verified", Database: "users", Expand: "db/003_expand.sql",
		Backfill: &spec.Backfill{Table: "users", Set: "email_verified = (legacy_flag = 'Y'), n = n + 1", Where: "email_verified IS NULL",
			BatchTarget: spec.Duration(20 * time.Millisecond)},
		Contract: &spec.Contract{SQL: "db/003_contract.sql"}}
	return ctx, conn, acts, m
}

func activityEnv(acts *activities.Migrations) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return env
}

func count(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestMigrationActivitiesExpandBackfillContract runs the database half of the expand-contract sequence: expand
// (twice: the second run applies nothing), a backfill with writers of the new version running beside it, and
// the contract; ferry.migrations records every phase.
func TestMigrationActivitiesExpandBackfillContract(t *testing.T) {
	ctx, conn, acts, m := migrationFixture(t, 20000)
	env := activityEnv(acts)
	req := activities.MigrationRequest{Env: "staging", Migration: m}
	for i, wantApplied := range []bool{true, false} {
		v, err := env.ExecuteActivity(acts.Expand, req)
		if err != nil {
			t.Fatalf("expand %d: %v", i+1, err)
		}
		var res activities.ExpandResult
		if err := v.Get(&res); err != nil || res.Applied != wantApplied {
			t.Fatalf("expand %d: got applied %v (%v), want %v", i+1, res.Applied, err, wantApplied)
		}
	}

	// Writers of the version that writes both shapes: new rows come filled, and existing rows get their
	// legacy flag and the new column changed together, as that version does.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var written atomic.Int64
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc, err := pgx.Connect(ctx, acts.Databases.(dsns)["staging/users"])
			if err != nil {
				t.Error(err)
				return
			}
			defer wc.Close(context.Background())
			for i := 0; i < 2000 && !stop.Load(); i++ {
				id := int64(1_000_000 + w*10_000 + i)
				if _, err := wc.Exec(ctx, `INSERT INTO users (id, legacy_flag, email_verified) VALUES ($1, 'Y', true)`, id); err != nil {
					t.Error(err)
					return
				}
				if _, err := wc.Exec(ctx, `UPDATE users SET legacy_flag = 'Y', email_verified = true WHERE id = $1`, int64(i*7%20000+1)); err != nil {
					t.Error(err)
					return
				}
				written.Add(1)
			}
		}()
	}
	v, err := env.ExecuteActivity(acts.Backfill, activities.BackfillRequest{Env: "staging", Migration: m})
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("backfill: %v", err)
	}
	var p activities.BackfillProgress
	if err := v.Get(&p); err != nil || !p.Done {
		t.Fatalf("backfill: got %+v (%v), want done", p, err)
	}
	if written.Load() == 0 {
		t.Fatal("the concurrent writers wrote nothing")
	}
	if n := count(t, ctx, conn, `SELECT count(*) FROM users WHERE email_verified IS NULL`); n != 0 {
		t.Errorf("got %d rows left unfilled, want 0", n)
	}
	if n := count(t, ctx, conn, `SELECT count(*) FROM users WHERE n > 1`); n != 0 {
		t.Errorf("got %d rows updated more than once, want 0", n)
	}
	if n := count(t, ctx, conn, `SELECT count(*) FROM users WHERE email_verified <> (legacy_flag = 'Y')`); n != 0 {
		t.Errorf("got %d rows whose new column disagrees with the old one, want 0", n)
	}
	// A second release's backfill finds it recorded and skips it.
	v, err = env.ExecuteActivity(acts.Backfill, activities.BackfillRequest{Env: "staging", Migration: m})
	if err != nil || v.Get(&p) != nil || !p.Skipped {
		t.Errorf("second backfill: got %+v (%v), want skipped", p, err)
	}

	v, err = env.ExecuteActivity(acts.Contract, req)
	if err != nil {
		t.Fatalf("contract: %v", err)
	}
	var cr activities.ContractResult
	if err := v.Get(&cr); err != nil || !cr.Applied || !cr.Irreversible || strings.Join(cr.Dropped, ",") != "column users.legacy_flag" {
		t.Fatalf("contract: got %+v (%v), want applied, irreversible, dropping column users.legacy_flag", cr, err)
	}
	if n := count(t, ctx, conn, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'legacy_flag'`); n != 0 {
		t.Errorf("legacy_flag still exists after the contract")
	}
	v, err = env.ExecuteActivity(acts.Records, activities.RecordsRequest{Env: "staging", Database: "users"})
	var recs []postgres.Record
	if err != nil || v.Get(&recs) != nil {
		t.Fatalf("records: %v", err)
	}
	var phases []string
	for _, r := range recs {
		if r.AppliedAt.IsZero() {
			t.Errorf("record %s %s is not applied", r.Name, r.Phase)
		}
		phases = append(phases, r.Phase)
	}
	if got := strings.Join(phases, ","); got != "backfill,contract,expand" {
		t.Errorf("recorded phases: got %s, want backfill,contract,expand", got)
	}
}

// TestBackfillResumesFromCursor runs a backfill that a first run left half done, starting from the progress
// that run last heartbeated: nothing is missed and nothing is updated twice.
func TestBackfillResumesFromCursor(t *testing.T) {
	ctx, conn, acts, m := migrationFixture(t, 30000)
	env := activityEnv(acts)
	if _, err := env.ExecuteActivity(acts.Expand, activities.MigrationRequest{Env: "staging", Migration: m}); err != nil {
		t.Fatal(err)
	}
	// The first run: a real backfill of the lower half, stopped there as a crash would stop it, with the
	// cursor a heartbeat would have carried.
	half, err := postgres.Backfill(ctx, conn, postgres.BackfillRequest{Spec: m.Backfill.MigrateBackfill(), MaxBatch: 1000, InitialBatch: 1000},
		func(p postgres.Progress) error {
			if p.Rows >= 15000 {
				return errors.New("killed")
			}
			return nil
		})
	if half.Rows < 15000 || half.Rows >= 30000 {
		t.Fatalf("first run: got %d rows, want a partial run", half.Rows)
	}
	env.SetHeartbeatDetails(activities.BackfillProgress{Cursor: half.Cursor, Rows: half.Rows, Total: half.Total})
	v, err := env.ExecuteActivity(acts.Backfill, activities.BackfillRequest{Env: "staging", Migration: m})
	if err != nil {
		t.Fatalf("resumed backfill: %v", err)
	}
	var p activities.BackfillProgress
	if err := v.Get(&p); err != nil || !p.Done || p.Rows != 30000 {
		t.Fatalf("resumed backfill: got %+v (%v), want done with 30000 rows in all", p, err)
	}
	if n := count(t, ctx, conn, `SELECT count(*) FROM users WHERE n <> 1`); n != 0 {
		t.Errorf("got %d rows updated other than exactly once, want 0", n)
	}
}

func TestMigrationActivitiesRefuse(t *testing.T) {
	ctx, conn, acts, m := migrationFixture(t, 10)
	env := activityEnv(acts)
	nonRetryable := func(name string, err error, wantType, wantText string) {
		t.Helper()
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != wantType || !app.NonRetryable() || !strings.Contains(err.Error(), wantText) {
			t.Errorf("%s: got %v, want a non-retryable %s saying %q", name, err, wantType, wantText)
		}
	}
	escape := m
	escape.Expand = "../outside_expand.sql"
	_, err := env.ExecuteActivity(acts.Expand, activities.MigrationRequest{Env: "staging", Migration: escape})
	nonRetryable("path outside the root", err, activities.ErrTypeInvalidSpec, "leaves the worker's exec root")

	bad := m
	bad.Expand = "db/bad_expand.sql"
	_, err = env.ExecuteActivity(acts.Expand, activities.MigrationRequest{Env: "staging", Migration: bad})
	nonRetryable("a destructive expand", err, activities.ErrTypeLint, "expand/drop-column")

	unknown := m
	unknown.Database = "orders"
	_, err = env.ExecuteActivity(acts.Expand, activities.MigrationRequest{Env: "staging", Migration: unknown})
	nonRetryable("an unknown database", err, activities.ErrTypeInvalidSpec, "no database orders")

	// A long transaction of the running version holds the table: the expand times out and may retry.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "LOCK TABLE users IN ACCESS SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	_, err = env.ExecuteActivity(acts.Expand, activities.MigrationRequest{Env: "staging", Migration: m})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeLockTimeout || app.NonRetryable() {
		t.Errorf("expand under a lock: got %v, want a retryable %s", err, activities.ErrTypeLockTimeout)
	}
}

// TestBackfillThatFailsRecordsWhereItStopped: a backfill that fails part-way leaves in ferry.migrations the key
// its last batch reached, and Backfilled says it did not finish; another service's backfill of a migration of
// the same name is not this one. Once a run finishes, Backfilled says so.
func TestBackfillThatFailsRecordsWhereItStopped(t *testing.T) {
	_, conn, acts, m := migrationFixture(t, 3000)
	env := activityEnv(acts)
	if _, err := env.ExecuteActivity(acts.Expand, activities.MigrationRequest{Env: "staging", Migration: m, Service: "users-svc"}); err != nil {
		t.Fatal(err)
	}
	failing := m
	b := *m.Backfill
	b.Set = "email_verified = (1 / (2000 - id) >= 0), n = n + 1" // division by zero at id 2000
	b.BatchTarget = spec.Duration(time.Second)                   // batches of 1000 keys
	failing.Backfill = &b
	_, err := env.ExecuteActivity(acts.Backfill, activities.BackfillRequest{Env: "staging", Migration: failing, Service: "users-svc"})
	if err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("backfill: got %v, want division by zero", err)
	}
	backfilled := func(service string) activities.BackfillRecord {
		t.Helper()
		v, err := env.ExecuteActivity(acts.Backfilled, activities.RecordsRequest{Env: "staging", Database: "users", Migration: m.Name, Service: service})
		var r activities.BackfillRecord
		if err != nil || v.Get(&r) != nil {
			t.Fatalf("backfilled: %v", err)
		}
		return r
	}
	if r := backfilled("users-svc"); r.Done || r.Cursor != "1000" {
		t.Errorf("after the failure: got %+v, want not done, stopped at key 1000", r)
	}
	if r := backfilled("orders-svc"); r.Done || r.Cursor != "" {
		t.Errorf("another service: got %+v, want no record", r)
	}
	if _, err := env.ExecuteActivity(acts.Backfill, activities.BackfillRequest{Env: "staging", Migration: m, Service: "users-svc"}); err != nil {
		t.Fatalf("second backfill: %v", err)
	}
	if r := backfilled("users-svc"); !r.Done || r.Cursor != "3000" {
		t.Errorf("after the second backfill: got %+v, want done at key 3000", r)
	}
	if n := count(t, context.Background(), conn, `SELECT count(*) FROM users WHERE email_verified IS NULL`); n != 0 {
		t.Errorf("got %d rows left, want 0", n)
	}
}

// TestMigrationActivitiesRefuseSQLChangedSincePinned: a request that pins the SHA-256 `ferry start` read runs
// the file while its bytes match, and refuses it, non-retryably and before touching the database, once they
// differ; the contract likewise. A request without a pinned digest runs whatever the file holds.
func TestMigrationActivitiesRefuseSQLChangedSincePinned(t *testing.T) {
	ctx, conn, acts, m := migrationFixture(t, 10)
	env := activityEnv(acts)
	digest := func(body string) string {
		sum := sha256.Sum256([]byte(body))
		return hex.EncodeToString(sum[:])
	}
	changed := "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN changed_after_start int;\n"
	if err := os.WriteFile(filepath.Join(acts.Exec.Root, "db", "003_expand.sql"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := env.ExecuteActivity(acts.Expand, activities.MigrationRequest{Env: "staging", Migration: m, Digest: digest(expandSQL)})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeChecksumMismatch || !app.NonRetryable() ||
		!strings.Contains(err.Error(), "db/003_expand.sql") || !strings.Contains(err.Error(), digest(expandSQL)) ||
		!strings.Contains(err.Error(), digest(changed)) || !strings.Contains(err.Error(), "release again") {
		t.Fatalf("changed expand: got %v, want a non-retryable %s naming the file, both digests and the remedy", err, activities.ErrTypeChecksumMismatch)
	}
	if n := count(t, ctx, conn, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'changed_after_start'`); n != 0 {
		t.Fatalf("the refused expand ran: %d column", n)
	}
	if n := count(t, ctx, conn, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ferry' AND table_name = 'migrations'`); n != 0 {
		t.Fatalf("the refused expand reached the database: ferry.migrations exists")
	}

	// The file as pinned runs.
	if err := os.WriteFile(filepath.Join(acts.Exec.Root, "db", "003_expand.sql"), []byte(expandSQL), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ExecuteActivity(acts.Expand, activities.MigrationRequest{Env: "staging", Migration: m, Digest: digest(expandSQL)}); err != nil {
		t.Fatalf("unchanged expand: %v", err)
	}

	// The contract is pinned as well.
	_, err = env.ExecuteActivity(acts.Contract, activities.MigrationRequest{Env: "staging", Migration: m, Digest: digest("DROP TABLE users;\n")})
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeChecksumMismatch || !app.NonRetryable() ||
		!strings.Contains(err.Error(), "db/003_contract.sql") || !strings.Contains(err.Error(), "ship the change as a new migration") {
		t.Fatalf("changed contract: got %v, want %s", err, activities.ErrTypeChecksumMismatch)
	}
	if n := count(t, ctx, conn, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'legacy_flag'`); n != 1 {
		t.Fatalf("the refused contract ran")
	}
	// No pinned digest: the file runs as it is, as for releases started before digests were pinned.
	if _, err := env.ExecuteActivity(acts.Contract, activities.MigrationRequest{Env: "staging", Migration: m}); err != nil {
		t.Fatalf("contract without a digest: %v", err)
	}
}
