package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Record is one row of ferry.migrations: a phase of a migration of a service, applied or under way.
type Record struct {
	// Service is the service whose release ran the phase. It is empty on rows written before the table had the
	// column: those count for every service that asks for the migration's name (see Records).
	Service  string `json:"service,omitempty"`
	Name     string `json:"name"`
	Phase    string `json:"phase"`
	Checksum string `json:"checksum,omitempty"`
	// AppliedAt is when the phase completed; zero while it is under way.
	AppliedAt time.Time `json:"appliedAt,omitzero"`
	// Cursor is, for a backfill, the key its last recorded batch ended at: where it stopped, when AppliedAt is
	// zero. Empty when no batch was recorded.
	Cursor string `json:"cursor,omitempty"`
}

// recordsDDL creates the table. A table created before it had the service and backfill_cursor columns is
// upgraded by upgradeRecords.
const recordsDDL = `CREATE SCHEMA IF NOT EXISTS ferry;
CREATE TABLE IF NOT EXISTS ferry.migrations (
	service text NOT NULL DEFAULT '',
	name text NOT NULL,
	phase text NOT NULL,
	checksum text NOT NULL,
	statements_done integer NOT NULL,
	applied_at timestamptz,
	backfill_cursor text,
	PRIMARY KEY (service, name, phase)
);
COMMENT ON COLUMN ferry.migrations.applied_at IS 'NULL while only statements_done statements of the file ran'`

// upgradeRecords adds the service and backfill_cursor columns to a table created before them, and makes the
// service part of the key. Rows written before keep an empty service. One ALTER does it all, so a table has
// either both columns and the new key, or neither; two sessions that upgrade at once take turns, and the
// second repeats harmlessly what the first did.
func upgradeRecords(ctx context.Context, conn *pgx.Conn) error {
	upgraded, err := hasCursorColumn(ctx, conn)
	if err != nil || upgraded {
		return err
	}
	const alter = `ALTER TABLE ferry.migrations
		ADD COLUMN IF NOT EXISTS service text NOT NULL DEFAULT '',
		ADD COLUMN IF NOT EXISTS backfill_cursor text,
		DROP CONSTRAINT IF EXISTS migrations_pkey,
		ADD CONSTRAINT migrations_pkey PRIMARY KEY (service, name, phase)`
	if _, err := conn.Exec(ctx, alter); err != nil {
		return fmt.Errorf("add the service to ferry.migrations: %w", classify(alter, err))
	}
	return nil
}

// hasCursorColumn reports whether ferry.migrations has its backfill_cursor column, the last one added.
func hasCursorColumn(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
		WHERE attrelid = to_regclass('ferry.migrations') AND attname = 'backfill_cursor' AND NOT attisdropped)`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read ferry.migrations: %w", err)
	}
	return ok, nil
}

// MarkBackfilled records that the backfill of service's migration name finished, so that later releases skip
// it and its contract may run. cursor is the key its last batch ended at. It is idempotent: the first
// finished record stays.
func MarkBackfilled(ctx context.Context, conn *pgx.Conn, service, name, cursor string) error {
	return recordBackfill(ctx, conn, service, name, cursor, true)
}

// RecordBackfillProgress records that the backfill of service's migration name has done the keys up to
// cursor, so that a backfill that stops can say where. A backfill recorded finished stays finished.
// Idempotent.
func RecordBackfillProgress(ctx context.Context, conn *pgx.Conn, service, name, cursor string) error {
	return recordBackfill(ctx, conn, service, name, cursor, false)
}

func recordBackfill(ctx context.Context, conn *pgx.Conn, service, name, cursor string, done bool) error {
	// A backfill records its progress every second: touch the catalogue only when the table needs it.
	upgraded, err := hasCursorColumn(ctx, conn)
	if err != nil {
		return err
	}
	if !upgraded {
		if err := ensureRecordTable(ctx, conn); err != nil {
			return err
		}
	}
	_, err = conn.Exec(ctx, `INSERT INTO ferry.migrations (service, name, phase, checksum, statements_done, applied_at, backfill_cursor)
		VALUES ($1, $2, $3, '', 0, CASE WHEN $4 THEN now() END, nullif($5, ''))
		ON CONFLICT (service, name, phase) DO UPDATE
		SET applied_at = EXCLUDED.applied_at, backfill_cursor = coalesce(EXCLUDED.backfill_cursor, ferry.migrations.backfill_cursor)
		WHERE ferry.migrations.applied_at IS NULL`, service, name, PhaseBackfill, done, cursor)
	if err != nil {
		return fmt.Errorf("record the backfill of %s: %w", name, err)
	}
	return nil
}

// Records returns the rows of ferry.migrations for the migration name, or for every migration when name is
// empty, ordered by name, phase and service; a row without a service (written before rows had one) comes
// before the service's own. A database without the table has none. Read-only: a table not yet upgraded is
// read as it is.
func Records(ctx context.Context, conn *pgx.Conn, name string) ([]Record, error) {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('ferry.migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, fmt.Errorf("read ferry.migrations: %w", err)
	}
	if !exists {
		return nil, nil
	}
	upgraded, err := hasCursorColumn(ctx, conn)
	if err != nil {
		return nil, err
	}
	cols := "service, name, phase, checksum, applied_at, backfill_cursor"
	if !upgraded {
		cols = "''::text, name, phase, checksum, applied_at, NULL::text"
	}
	rows, err := conn.Query(ctx, `SELECT `+cols+` FROM ferry.migrations
		WHERE $1 = '' OR name = $1 ORDER BY name, phase, 1`, name)
	if err != nil {
		return nil, fmt.Errorf("read ferry.migrations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		var at *time.Time
		var cursor *string
		if err := row.Scan(&r.Service, &r.Name, &r.Phase, &r.Checksum, &at, &cursor); err != nil {
			return r, err
		}
		if at != nil {
			r.AppliedAt = at.UTC()
		}
		if cursor != nil {
			r.Cursor = *cursor
		}
		return r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read ferry.migrations: %w", err)
	}
	return out, nil
}

// RecordOf returns the record of service's phase among recs: the service's own, else one written before records
// had a service, which counts for every service. ok is false when there is neither.
func RecordOf(recs []Record, service, phase string) (Record, bool) {
	var legacy *Record
	for i, r := range recs {
		switch {
		case r.Phase != phase:
		case r.Service == service:
			return r, true
		case r.Service == "" && legacy == nil:
			legacy = &recs[i]
		}
	}
	if legacy != nil {
		return *legacy, true
	}
	return Record{}, false
}
