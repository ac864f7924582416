package migratetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"

	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/internal/pgtest"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// fixture is what each test here starts from: a users table of rows rows in a fresh database, the migration
// files below root, and a Temporal server with a client.
type fixture struct {
	db        *pgx.Conn
	dsn, root string
	srv       *devserver.Server
	c         client.Client
	// deployed, if set, is called after each deploy of the platform serve registers, with its environment.
	deployed func(env string)
	// databases, if set, replaces the fixture's one database for every environment.
	databases activities.Databases
}

// newFixture fills users with ids 1..rows and legacyFlag(id) as legacy_flag, and writes files (path below root
// to content). Everything is closed when the test ends.
func newFixture(t *testing.T, ctx context.Context, rows int, legacyFlag string, files map[string]string) *fixture {
	t.Helper()
	f := &fixture{dsn: pgtest.Database(t), root: t.TempDir()}
	db, err := pgx.Connect(ctx, f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	f.db = db
	for _, sql := range []string{
		`CREATE TABLE users (id bigint PRIMARY KEY, legacy_flag text NOT NULL, n int NOT NULL DEFAULT 0)`,
		fmt.Sprintf(`INSERT INTO users (id, legacy_flag) SELECT g, %s FROM generate_series(1, %d) g`, legacyFlag, rows),
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		p := filepath.Join(f.root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := devserver.Start(ctx, devserver.Options{UIPort: -1, Logger: logger})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	f.srv = srv
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	f.c = c
	return f
}

// serve runs a worker in this process until the test ends: Release, EnvLock and Contract workflows, the
// migration activities on the fixture's database, and a platform whose commands succeed at once.
func (f *fixture) serve(t *testing.T) {
	t.Helper()
	// As ferry worker does: a cancellation (a paused backfill) reaches an activity within a second.
	w := worker.New(f.c, queue, worker.Options{MaxHeartbeatThrottleInterval: time.Second})
	w.RegisterWorkflowWithOptions(workflows.Release, workflow.RegisterOptions{Name: workflows.ReleaseWorkflow})
	w.RegisterWorkflowWithOptions(workflows.EnvLock, workflow.RegisterOptions{Name: workflows.EnvLockWorkflow})
	w.RegisterWorkflowWithOptions(workflows.Contract, workflow.RegisterOptions{Name: workflows.ContractWorkflow})
	w.RegisterActivity(&platform{running: map[string]string{}, deployed: f.deployed})
	w.RegisterActivity(&activities.Temporal{Client: f.c})
	var dbs activities.Databases = dsns{"users": f.dsn}
	if f.databases != nil {
		dbs = f.databases
	}
	w.RegisterActivity(&activities.Migrations{Databases: dbs, Exec: &activities.ExecPolicy{Root: f.root}})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

// count runs a query of one bigint.
func (f *fixture) count(t *testing.T, ctx context.Context, sql string) int64 {
	t.Helper()
	var n int64
	if err := f.db.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

const expandSQL = "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN email_verified boolean;\n"

// slowBackfillSpec is a service with one environment whose release requires one migration, whose backfill of
// users takes several seconds: pg_sleep per row slows each batch. n counts the updates of each row.
func slowBackfillSpec() *spec.Spec {
	m := spec.Migration{Name: "add-email-verified", Database: "users", Expand: "db/003_expand.sql",
		Backfill: &spec.Backfill{Table: "users", Where: "email_verified IS NULL",
			Set: "email_verified = (legacy_flag = 'Y'), n = n + 1 + length(pg_sleep(0.0003)::text) * 0", BatchTarget: spec.Duration(100 * time.Millisecond)}}
	s := &spec.Spec{Service: "users-svc", Image: spec.Image{Repository: "registry.local/users-svc"},
		Platform:     spec.Platform{Exec: &spec.ExecPlatform{Deploy: []string{"d"}, Rollback: []string{"rb"}, Remove: []string{"rm"}}},
		Environments: []spec.Environment{{Name: "staging"}}, Migrations: []spec.Migration{m}, Requires: []string{m.Name}}
	spec.ApplyDefaults(s)
	return s
}
