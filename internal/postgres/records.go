package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Record is one row of ferry.migrations: a phase of a migration, applied or under way.
type Record struct {
	Name     string `json:"name"`
	Phase    string `json:"phase"`
	Checksum string `json:"checksum,omitempty"`
	// AppliedAt is when the phase completed; zero while it is under way.
	AppliedAt time.Time `json:"appliedAt,omitzero"`
}

// MarkBackfilled records that the backfill of migration name finished, so that later releases skip it. It is
// idempotent: the first record stays.
func MarkBackfilled(ctx context.Context, conn *pgx.Conn, name string) error {
	if err := ensureRecordTable(ctx, conn); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, `INSERT INTO ferry.migrations (name, phase, checksum, statements_done, applied_at)
		VALUES ($1, $2, '', 0, now()) ON CONFLICT (name, phase) DO NOTHING`, name, PhaseBackfill)
	if err != nil {
		return fmt.Errorf("record the backfill of %s: %w", name, err)
	}
	return nil
}

// Records returns the rows of ferry.migrations for the migration name, or for every migration when name is
// empty, ordered by name and phase. A database without the table has none. Read-only.
func Records(ctx context.Context, conn *pgx.Conn, name string) ([]Record, error) {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('ferry.migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, fmt.Errorf("read ferry.migrations: %w", err)
	}
	if !exists {
		return nil, nil
	}
	rows, err := conn.Query(ctx, `SELECT name, phase, checksum, applied_at FROM ferry.migrations
		WHERE $1 = '' OR name = $1 ORDER BY name, phase`, name)
	if err != nil {
		return nil, fmt.Errorf("read ferry.migrations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		var at *time.Time
		if err := row.Scan(&r.Name, &r.Phase, &r.Checksum, &at); err != nil {
			return r, err
		}
		if at != nil {
			r.AppliedAt = at.UTC()
		}
		return r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read ferry.migrations: %w", err)
	}
	return out, nil
}
