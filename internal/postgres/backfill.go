package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferryhq/ferry/internal/migrate"
)

// Batch sizes and the batch duration that Backfill aims for, when its request leaves them zero.
const (
	DefaultTargetBatch  = 200 * time.Millisecond
	DefaultMinBatch     = 100
	DefaultMaxBatch     = 20000
	DefaultInitialBatch = 1000
)

// exactCountBelow is the table size, as PostgreSQL estimates it, under which Backfill counts the rows left
// exactly instead of reporting the estimate.
const exactCountBelow = 100_000

// BackfillRequest is one backfill to run, or to resume.
type BackfillRequest struct {
	// Spec is the backfill from the migration. Its Set and Where come from the service's spec, which is trusted,
	// and run as SQL as written; Table and Key are quoted. An empty Key means the table's one-column primary key.
	// Where must become false for a filled row: the UPDATE repeats it, so that a row that a concurrent writer
	// filled meanwhile, or that an earlier run filled, is not updated twice.
	Spec migrate.Backfill
	// Cursor resumes after this key, in its text form (Progress.Cursor of an earlier run). Empty starts from the
	// lowest key.
	Cursor string
	// Done is the number of rows earlier runs updated, carried into Progress.Rows.
	Done int64
	// TargetBatch is the duration each batch aims for; the batch size adapts to it between MinBatch and MaxBatch,
	// starting at InitialBatch.
	TargetBatch                      time.Duration
	MinBatch, MaxBatch, InitialBatch int
	// Pause is a wait between batches, which leaves room to the application's own queries.
	Pause time.Duration
	// LockTimeout bounds each wait for a lock; zero means DefaultLockTimeout.
	LockTimeout time.Duration
}

// Progress is where a backfill stands after a batch.
type Progress struct {
	// Cursor is the highest key of the batches done so far: resuming from it skips nothing that was still to do.
	Cursor string `json:"cursor"`
	// Rows is the number of rows updated, including BackfillRequest.Done.
	Rows int64 `json:"rows"`
	// Total estimates the number of rows to update in all. For a table that PostgreSQL estimates at under
	// 100,000 rows when the run starts, it is BackfillRequest.Done plus the rows left then, counted exactly;
	// for a bigger one, the table's estimated size (pg_class.reltuples). It grows to Rows if Rows passes it.
	Total int64 `json:"total"`
	// RowsPerSecond is this run's rate.
	RowsPerSecond float64 `json:"rowsPerSecond"`
	// BatchSize is the size of the next batch.
	BatchSize int `json:"batchSize"`
	// Batches is the number of batches this run did.
	Batches int `json:"batches"`
}

// Backfill runs UPDATE Table SET Set WHERE Where in batches over ranges of the key, lowest key first: each batch
// covers the next keys after the cursor (as many as the batch size), updates the rows among them that match
// Where, and commits on its own, so that it holds its row locks briefly. After each committed batch it calls
// progress, if not nil, with the cursor to resume from; an error from progress stops the backfill with that
// error. It returns when no key is left above the cursor. Rows that concurrent writers insert with keys above
// the cursor are included.
//
// Backfill is idempotent as long as Where excludes filled rows: a run resumed from any earlier cursor, or from
// the start, updates only the rows still to do. The batch size adapts so that a batch takes about TargetBatch.
// A cancelled ctx stops it between or during batches; a batch interrupted mid-way rolls back. A batch that waits
// longer than the lock timeout is a *LockTimeoutError, which is retryable.
//
// The backfill activity heartbeats each Progress and resumes from the last one's Cursor and Rows.
func Backfill(ctx context.Context, conn *pgx.Conn, req BackfillRequest, progress func(Progress) error) (Progress, error) {
	p := Progress{Cursor: req.Cursor, Rows: req.Done}
	fail := func(format string, args ...any) (Progress, error) {
		return p, fmt.Errorf("backfill %s: "+format, append([]any{req.Spec.Table}, args...)...)
	}
	b := req.Spec
	if strings.TrimSpace(b.Set) == "" {
		return fail("the SET list is empty")
	}
	table := pgx.Identifier(strings.Split(b.Table, ".")).Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
		return fail("%w", err)
	}
	if !exists {
		return fail("no such table")
	}
	key := b.Key
	if key == "" {
		var err error
		if key, err = primaryKey(ctx, conn, table); err != nil {
			return fail("%w", err)
		}
	}
	var keyType string
	err := conn.QueryRow(ctx, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped`, table, key).Scan(&keyType)
	if errors.Is(err, pgx.ErrNoRows) {
		return fail("no column %s", key)
	}
	if err != nil {
		return fail("%w", err)
	}
	where := "true"
	if strings.TrimSpace(b.Where) != "" {
		where = "(" + b.Where + ")"
	}
	col := pgx.Identifier{key}.Sanitize()
	// A batch is a range of keys: (cursor, bound], where bound is the size-th key after the cursor, or the
	// highest key when fewer are left. Finding the bound reads the key's index only; the UPDATE then reads the
	// range through the index, in key order, and touches each row once, which costs about what one UPDATE over
	// the whole table costs per row. keyType comes from the catalogue, and is safe to write into the query.
	after := func(cursor bool) string {
		if cursor {
			return " WHERE " + col + " > $2::text::" + keyType
		}
		return ""
	}
	boundSQL := func(cursor bool) string {
		return "SELECT coalesce((SELECT " + col + " FROM " + table + after(cursor) + " ORDER BY " + col + " OFFSET $1 - 1 LIMIT 1)," +
			" (SELECT " + col + " FROM " + table + after(cursor) + " ORDER BY " + col + " DESC LIMIT 1))::text"
	}
	updateSQL := func(cursor bool) string {
		lower := ""
		if cursor {
			lower = col + " > $2::text::" + keyType + " AND "
		}
		return "UPDATE " + table + " SET " + b.Set + " WHERE " + lower + col + " <= $1::text::" + keyType + " AND " + where
	}
	bounds := [2]string{boundSQL(false), boundSQL(true)}
	updates := [2]string{updateSQL(false), updateSQL(true)}

	left, exact, err := estimate(ctx, conn, table, col, keyType, where, req.Cursor)
	if err != nil {
		return fail("%w", err)
	}
	p.Total = left
	if exact {
		p.Total += req.Done
	}

	if err := setLockTimeout(ctx, conn, req.LockTimeout); err != nil {
		return fail("%w", err)
	}
	defer resetLockTimeout(conn)

	sizer := newBatchSizer(req)
	start := time.Now()
	var rowsThisRun int64
	for {
		p.BatchSize = sizer.size
		batchStart := time.Now()
		// Unnamed statements get a plan for this cursor and size. A prepared statement would switch to a generic
		// plan, which may scan the whole table for each batch once statistics change mid-run.
		i, args := 0, []any{pgx.QueryExecModeExec, sizer.size}
		if p.Cursor != "" {
			i, args = 1, append(args, p.Cursor)
		}
		var bound *string
		if err := conn.QueryRow(ctx, bounds[i], args...).Scan(&bound); err != nil {
			return fail("batch after %q: %w", p.Cursor, classify(bounds[i], err))
		}
		if bound == nil {
			return p, nil // no key above the cursor
		}
		args[1] = *bound
		tag, err := conn.Exec(ctx, updates[i], args...)
		if err != nil {
			return fail("batch after %q: %w", p.Cursor, classify(updates[i], err))
		}
		updated := tag.RowsAffected()
		sizer.observe(time.Since(batchStart))
		p.Cursor = *bound
		p.Rows += updated
		p.Batches++
		rowsThisRun += updated
		if p.Rows > p.Total {
			p.Total = p.Rows
		}
		if secs := time.Since(start).Seconds(); secs > 0 {
			p.RowsPerSecond = float64(rowsThisRun) / secs
		}
		p.BatchSize = sizer.size
		if progress != nil {
			if err := progress(p); err != nil {
				return p, err
			}
		}
		if req.Pause > 0 {
			t := time.NewTimer(req.Pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return fail("%w", ctx.Err())
			case <-t.C:
			}
		}
	}
}

// primaryKey returns the column of table's primary key, which must have exactly one.
func primaryKey(ctx context.Context, conn *pgx.Conn, table string) (string, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, table)
	if err != nil {
		return "", err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	if len(cols) != 1 {
		return "", fmt.Errorf("the table has a primary key of %d columns: name the key column", len(cols))
	}
	return cols[0], nil
}

// estimate returns the number of rows left to update (exact), or the table's estimated size for a big table.
func estimate(ctx context.Context, conn *pgx.Conn, table, col, keyType, where, cursor string) (n int64, exact bool, err error) {
	var reltuples float64
	if err := conn.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)", table).Scan(&reltuples); err != nil {
		return 0, false, fmt.Errorf("estimate rows: %w", err)
	}
	if reltuples >= exactCountBelow {
		return int64(reltuples), false, nil
	}
	// reltuples is -1 for a table never vacuumed nor analysed: count it too.
	q := "SELECT count(*) FROM " + table + " WHERE " + where
	args := []any{}
	if cursor != "" {
		q += " AND " + col + " > $1::text::" + keyType
		args = append(args, cursor)
	}
	if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, false, fmt.Errorf("count rows: %w", err)
	}
	return n, true, nil
}

// batchSizer adapts the batch size to the target duration, at most doubling or halving it at a time.
type batchSizer struct {
	size, min, max int
	target         time.Duration
}

func newBatchSizer(req BackfillRequest) *batchSizer {
	s := &batchSizer{min: req.MinBatch, max: req.MaxBatch, size: req.InitialBatch, target: req.TargetBatch}
	if s.min <= 0 {
		s.min = DefaultMinBatch
	}
	if s.max <= 0 {
		s.max = DefaultMaxBatch
	}
	if s.max < s.min {
		s.max = s.min
	}
	if s.size <= 0 {
		s.size = DefaultInitialBatch
	}
	if s.target <= 0 {
		s.target = DefaultTargetBatch
	}
	s.size = clamp(s.size, s.min, s.max)
	return s
}

func (s *batchSizer) observe(took time.Duration) {
	next := 2 * s.size
	if took > 0 {
		next = clamp(int(float64(s.size)*float64(s.target)/float64(took)), s.size/2, 2*s.size)
	}
	s.size = clamp(next, s.min, s.max)
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}
