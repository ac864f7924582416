// Package postgres runs the database side of expand-contract migrations on PostgreSQL: Expand applies an
// expand file once per database, and Backfill fills new columns in small keyset batches. Both take a
// *pgx.Conn, one session, which they configure (lock_timeout) for as long as they run.
//
// Statements come from the service's spec and its SQL files, which are trusted: the SQL of an expand file and
// the SET and WHERE clauses of a backfill run as written. Only table and column names are quoted.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultLockTimeout is the lock_timeout that Expand and Backfill set when their options leave it zero.
const DefaultLockTimeout = 5 * time.Second

// Phases recorded in ferry.migrations: an expand file, a finished backfill, a contract file.
const (
	PhaseExpand   = "expand"
	PhaseBackfill = "backfill"
	PhaseContract = "contract"
)

// migrationLock is the key of the session advisory lock that serialises Ferry's migration runs in a database,
// so that two workers applying the same file do not both run it.
const migrationLock int64 = 0x66657272796d6967 // "ferrymig"

// ExpandRequest is one expand file to apply.
type ExpandRequest struct {
	// Service and Name are the service and the migration's name, the key of its record. An empty Service is the
	// key of the records written before records named their service.
	Service string
	Name    string
	// SQL is the content of the expand file.
	SQL []byte
	// LockTimeout bounds each wait for a lock; zero means DefaultLockTimeout.
	LockTimeout time.Duration
}

// ExpandResult says what Expand did.
type ExpandResult struct {
	// Checksum is the hex SHA-256 of the file.
	Checksum string
	// Applied is false when the migration was already recorded as applied, and Expand ran nothing.
	Applied bool
	// Statements is the number of statements in the file.
	Statements int
}

// statement is one statement of an expand file.
type statement struct {
	sql string
	// concurrently marks CREATE/DROP INDEX CONCURRENTLY, which PostgreSQL refuses inside a transaction.
	concurrently bool
	// index is the quoted name of the index that a concurrent statement creates (create set) or drops.
	index  string
	create bool
}

func qualify(schema, name string) string {
	if schema == "" {
		return pgx.Identifier{name}.Sanitize()
	}
	return pgx.Identifier{schema, name}.Sanitize()
}

// Checksum is the hex SHA-256 of an expand file, as recorded in ferry.migrations.
func Checksum(sql []byte) string {
	sum := sha256.Sum256(sql)
	return hex.EncodeToString(sum[:])
}

// Expand applies an expand file to the database of conn, once: the table ferry.migrations records each
// migration's service, name, phase, checksum and time of application, and a file already recorded for the
// service is not run again (Applied is false). A record written before records named their service counts for
// every service, and stays the record of that migration's phase. Running Expand twice is therefore the same as running it once, which makes it safe for an
// activity that Temporal retries. A recorded file whose checksum differs is a *ChecksumMismatchError.
//
// Runs of Expand on one database take turns: one waits, until ctx ends, for the other to finish.
// Statements run in file order with lock_timeout set. CREATE INDEX CONCURRENTLY and DROP INDEX CONCURRENTLY
// run on their own, outside any transaction; each run of other statements between them runs in one
// transaction together with the update of the record. The record counts the statements done, so that a run
// interrupted between two parts resumes after the last part that committed. So that a crash between an index
// statement and its record does no harm, a CREATE INDEX CONCURRENTLY whose named index exists and is valid is
// skipped, one whose index was left invalid by a failed build is dropped and built again, and a DROP INDEX
// CONCURRENTLY of a missing index is skipped.
//
// A statement that waits longer than the lock timeout is a *LockTimeoutError, which is retryable. Files with
// transaction control (BEGIN, COMMIT) are refused. Splitting the file needs PostgreSQL's parser: in a build
// without cgo, Expand returns migrate.ErrNoParser.
func Expand(ctx context.Context, conn *pgx.Conn, req ExpandRequest) (ExpandResult, error) {
	return apply(ctx, conn, req, PhaseExpand)
}

// Contract applies a contract file to the database of conn, once, exactly as Expand applies an expand file
// (same record, same turns, same handling of concurrent index statements), under the phase "contract". The
// caller decides when it may run: nothing here checks that no older version still reads the old shape.
func Contract(ctx context.Context, conn *pgx.Conn, req ExpandRequest) (ExpandResult, error) {
	return apply(ctx, conn, req, PhaseContract)
}

// apply runs the file of req once under phase (see Expand).
func apply(ctx context.Context, conn *pgx.Conn, req ExpandRequest, phase string) (ExpandResult, error) {
	res := ExpandResult{Checksum: Checksum(req.SQL)}
	fail := func(format string, args ...any) (ExpandResult, error) {
		return res, fmt.Errorf("%s %s: "+format, append([]any{phase, req.Name}, args...)...)
	}
	stmts, err := split(string(req.SQL))
	if err != nil {
		return fail("%w", err)
	}
	res.Statements = len(stmts)
	if err := setLockTimeout(ctx, conn, req.LockTimeout); err != nil {
		return fail("%w", err)
	}
	defer resetLockTimeout(conn)
	if err := lockMigrations(ctx, conn); err != nil {
		return fail("%w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", migrationLock)
	}()
	if err := ensureRecordTable(ctx, conn); err != nil {
		return fail("%w", err)
	}

	// The service's own record, else one written before records had a service: that one stays the record.
	var (
		owner    = req.Service
		recorded string
		done     int
		applied  *time.Time
	)
	err = conn.QueryRow(ctx, `SELECT service, checksum, statements_done, applied_at FROM ferry.migrations
		WHERE name = $1 AND phase = $2 AND service IN ($3, '') ORDER BY service = '' LIMIT 1`,
		req.Name, phase, req.Service).Scan(&owner, &recorded, &done, &applied)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fail("read record: %w", err)
	case recorded != res.Checksum:
		return res, &ChecksumMismatchError{Name: req.Name, Phase: phase, Recorded: recorded, File: res.Checksum}
	case applied != nil:
		return res, nil
	}
	if done > len(stmts) {
		return fail("record says %d statements done, the file has %d", done, len(stmts))
	}

	for i := done; i < len(stmts) || i == 0; {
		if i < len(stmts) && stmts[i].concurrently {
			if err := runConcurrently(ctx, conn, stmts[i]); err != nil {
				return fail("statement %d: %w", i+1, err)
			}
			i++
			if err := record(ctx, conn, owner, req.Name, phase, res.Checksum, i, i == len(stmts)); err != nil {
				return fail("%w", err)
			}
			continue
		}
		j := i
		for j < len(stmts) && !stmts[j].concurrently {
			j++
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for k := i; k < j; k++ {
				if _, err := tx.Exec(ctx, stmts[k].sql); err != nil {
					return fmt.Errorf("statement %d: %w", k+1, classify(stmts[k].sql, err))
				}
			}
			return record(ctx, tx, owner, req.Name, phase, res.Checksum, j, j == len(stmts))
		})
		if err != nil {
			return fail("%w", err)
		}
		if j == 0 {
			break // an empty file: recorded as applied
		}
		i = j
	}
	res.Applied = true
	return res, nil
}

// lockMigrations takes the session advisory lock that serialises migration runs, waiting until ctx ends. It
// polls instead of waiting in pg_advisory_lock: a session waiting there is in a transaction, which a CREATE
// INDEX CONCURRENTLY of the session holding the lock would wait for in turn, a deadlock.
func lockMigrations(ctx context.Context, conn *pgx.Conn) error {
	for {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", migrationLock).Scan(&ok); err != nil {
			return fmt.Errorf("lock migrations: %w", err)
		}
		if ok {
			return nil
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for another migration run in this database: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// runConcurrently runs a CREATE/DROP INDEX CONCURRENTLY outside a transaction, skipping it when a previous run
// already did it.
func runConcurrently(ctx context.Context, conn *pgx.Conn, s statement) error {
	if s.index != "" {
		var valid *bool
		err := conn.QueryRow(ctx, `SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)`, s.index).Scan(&valid)
		exists := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("look up index %s: %w", s.index, err)
		}
		switch {
		case !s.create && !exists:
			return nil
		case s.create && exists && valid != nil && *valid:
			return nil
		case s.create && exists:
			drop := "DROP INDEX CONCURRENTLY " + s.index
			if _, err := conn.Exec(ctx, drop); err != nil {
				return fmt.Errorf("drop invalid index %s left by a failed build: %w", s.index, classify(drop, err))
			}
		}
	}
	if _, err := conn.Exec(ctx, s.sql); err != nil {
		return classify(s.sql, err)
	}
	return nil
}

// execer is a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// ensureRecordTable creates ferry.migrations, or upgrades one created before it recorded services.
func ensureRecordTable(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, recordsDDL); err != nil {
		return fmt.Errorf("create ferry.migrations: %w", classify("CREATE TABLE ferry.migrations", err))
	}
	return upgradeRecords(ctx, conn)
}

// record upserts the migration's record: done statements ran, and the whole file when complete.
func record(ctx context.Context, db execer, service, name, phase, checksum string, done int, complete bool) error {
	_, err := db.Exec(ctx, `INSERT INTO ferry.migrations (service, name, phase, checksum, statements_done, applied_at)
		VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END)
		ON CONFLICT (service, name, phase) DO UPDATE SET statements_done = EXCLUDED.statements_done, applied_at = EXCLUDED.applied_at`,
		service, name, phase, checksum, done, complete)
	if err != nil {
		return fmt.Errorf("record progress: %w", err)
	}
	return nil
}

func setLockTimeout(ctx context.Context, conn *pgx.Conn, d time.Duration) error {
	if d <= 0 {
		d = DefaultLockTimeout
	}
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	if _, err := conn.Exec(ctx, "SELECT set_config('lock_timeout', $1, false)", fmt.Sprintf("%dms", ms)); err != nil {
		return fmt.Errorf("set lock_timeout: %w", err)
	}
	return nil
}

// resetLockTimeout gives the session back its own lock_timeout.
func resetLockTimeout(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = conn.Exec(ctx, "RESET lock_timeout")
}
