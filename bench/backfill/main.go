// Command backfill compares Ferry's batched backfill (internal/postgres.Backfill) with one UPDATE statement over
// the same table, and measures what each does to a concurrent writer of single rows.
//
//	go run ./bench/backfill                  # 1,000,000 rows in a throwaway cluster
//	go run ./bench/backfill -rows 200000 -dsn postgres://...   # an existing, empty database
//
// Each method gets a fresh table of -rows rows (id bigserial primary key, a legacy column, the new columns to
// fill), vacuumed and analysed. While the method runs, a writer on its own connection updates one random row
// at a time, every -writer-pause, and the benchmark reports the writer's latencies (p50, p99, max) next to the
// method's rows per second. A baseline phase measures the writer alone for -baseline.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferryhq/ferry/internal/migrate"
	"github.com/ferryhq/ferry/internal/pgtest"
	"github.com/ferryhq/ferry/internal/postgres"
)

type options struct {
	dsn         string
	rows        int
	writerPause time.Duration
	baseline    time.Duration
	target      time.Duration
	verbose     bool
}

func main() {
	var o options
	flag.StringVar(&o.dsn, "dsn", "", "database to use (default: start a throwaway cluster with initdb and pg_ctl)")
	flag.IntVar(&o.rows, "rows", 1_000_000, "rows in the table")
	flag.DurationVar(&o.writerPause, "writer-pause", time.Millisecond, "pause between two writes of the concurrent writer")
	flag.DurationVar(&o.baseline, "baseline", 3*time.Second, "how long to measure the writer alone")
	flag.DurationVar(&o.target, "target", postgres.DefaultTargetBatch, "the backfill's target batch duration")
	flag.BoolVar(&o.verbose, "v", false, "print the backfill's progress after each batch")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "backfill:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	dsn := o.dsn
	if dsn == "" {
		c, err := pgtest.Start(ctx)
		if err != nil {
			return err
		}
		defer c.Stop()
		dsn = c.DSN("postgres")
		fmt.Println("cluster: throwaway, fsync=off, synchronous_commit=off")
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return err
	}
	fmt.Printf("PostgreSQL %s, %d rows, writer pause %s\n\n", version, o.rows, o.writerPause)
	fmt.Printf("%-22s %10s %12s %8s %10s %10s %10s\n", "method", "seconds", "rows/s", "writes", "p50", "p99", "max")

	spec := migrate.Backfill{Table: "bench_items", Set: "doubled = legacy * 2, done = true", Where: "NOT done"}
	methods := []struct {
		name string
		run  func(context.Context, *pgx.Conn) (int64, error)
	}{
		{"writer alone", func(ctx context.Context, _ *pgx.Conn) (int64, error) {
			select {
			case <-time.After(o.baseline):
			case <-ctx.Done():
			}
			return 0, ctx.Err()
		}},
		{"one UPDATE", func(ctx context.Context, conn *pgx.Conn) (int64, error) {
			tag, err := conn.Exec(ctx, "UPDATE bench_items SET "+spec.Set+" WHERE "+spec.Where)
			return tag.RowsAffected(), err
		}},
		{"batched Backfill", func(ctx context.Context, conn *pgx.Conn) (int64, error) {
			var report func(postgres.Progress) error
			if o.verbose {
				last := time.Now()
				report = func(p postgres.Progress) error {
					fmt.Printf("  batch %d: cursor %s, %d/%d rows, %.0f rows/s, took %s, next size %d\n",
						p.Batches, p.Cursor, p.Rows, p.Total, p.RowsPerSecond, time.Since(last).Round(time.Millisecond), p.BatchSize)
					last = time.Now()
					return nil
				}
			}
			p, err := postgres.Backfill(ctx, conn, postgres.BackfillRequest{Spec: spec, TargetBatch: o.target}, report)
			return p.Rows, err
		}},
	}
	for _, m := range methods {
		if err := fill(ctx, conn, o.rows); err != nil {
			return err
		}
		writer, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		stop := make(chan struct{})
		var lat []time.Duration
		var werr error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, werr = write(ctx, writer, o, stop)
		}()
		time.Sleep(100 * time.Millisecond) // the writer is warm when the method starts
		start := time.Now()
		rows, err := m.run(ctx, conn)
		took := time.Since(start)
		close(stop)
		wg.Wait()
		writer.Close(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if werr != nil {
			return fmt.Errorf("%s: writer: %w", m.name, werr)
		}
		if rows > 0 {
			var left int64
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM bench_items WHERE NOT done").Scan(&left); err != nil {
				return err
			}
			if left != 0 || rows != int64(o.rows) {
				return fmt.Errorf("%s: updated %d rows and left %d unfilled, want %d and 0", m.name, rows, left, o.rows)
			}
		}
		rate := "-"
		if rows > 0 {
			rate = fmt.Sprintf("%.0f", float64(rows)/took.Seconds())
		}
		slices.Sort(lat)
		fmt.Printf("%-22s %10.2f %12s %8d %10s %10s %10s\n", m.name, took.Seconds(), rate, len(lat),
			pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1))
	}
	return nil
}

// fill makes a fresh table of n rows to backfill.
func fill(ctx context.Context, conn *pgx.Conn, n int) error {
	_, err := conn.Exec(ctx, `DROP TABLE IF EXISTS bench_items;
CREATE TABLE bench_items (id bigserial PRIMARY KEY, legacy int NOT NULL, payload text NOT NULL,
	doubled int, done boolean NOT NULL DEFAULT false, touched int NOT NULL DEFAULT 0)`)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO bench_items (legacy, payload) SELECT g, md5(g::text) FROM generate_series(1, $1::int) g`, n); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "VACUUM ANALYZE bench_items")
	return err
}

// write updates one random row at a time until stop, and returns each write's latency.
func write(ctx context.Context, conn *pgx.Conn, o options, stop <-chan struct{}) ([]time.Duration, error) {
	rng := rand.New(rand.NewPCG(7, 11))
	var lat []time.Duration
	for {
		select {
		case <-stop:
			return lat, nil
		default:
		}
		t := time.Now()
		if _, err := conn.Exec(ctx, "UPDATE bench_items SET touched = touched + 1 WHERE id = $1", 1+rng.IntN(o.rows)); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t))
		time.Sleep(o.writerPause)
	}
}

func pct(sorted []time.Duration, q float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i].Round(10 * time.Microsecond).String()
}
