package migratetest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/internal/pgtest"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// envDSNs gives each environment its own database, keyed by environment.
type envDSNs map[string]string

func (d envDSNs) DSN(env, _ string) (string, error) { return d[env], nil }

// TestProductionRefusesExpandChangedAfterStart: the release pins the expand file's SHA-256 when it starts;
// the file changes on the worker once staging has deployed, and production's expand refuses it before it
// touches production's database, so nothing deploys there.
func TestProductionRefusesExpandChangedAfterStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, 10, "'N'", map[string]string{"db/003_expand.sql": expandSQL})
	prodDSN := pgtest.Database(t)
	prod, err := pgx.Connect(ctx, prodDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(context.Background())
	if _, err := prod.Exec(ctx, `CREATE TABLE users (id bigint PRIMARY KEY, legacy_flag text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	f.databases = envDSNs{"staging": f.dsn, "production": prodDSN}
	changed := "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN changed_after_start int;\n"
	var mu sync.Mutex
	var deployed []string
	f.deployed = func(env string) {
		mu.Lock()
		deployed = append(deployed, env)
		mu.Unlock()
		if env == "staging" {
			if err := os.WriteFile(filepath.Join(f.root, "db", "003_expand.sql"), []byte(changed), 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	f.serve(t)

	m := spec.Migration{Name: "add-email-verified", Database: "users", Expand: "db/003_expand.sql"}
	s := &spec.Spec{Service: "users-svc", Image: spec.Image{Repository: "registry.local/users-svc"},
		Platform:     spec.Platform{Exec: &spec.ExecPlatform{Deploy: []string{"d"}, Rollback: []string{"rb"}, Remove: []string{"rm"}, Current: []string{"c"}}},
		Environments: []spec.Environment{{Name: "staging"}, {Name: "production"}},
		Migrations:   []spec.Migration{m}, Requires: []string{m.Name}}
	spec.ApplyDefaults(s)
	// As `ferry start` does, with the spec file beside the migration files.
	digests, err := starter.MigrationDigests(*s, filepath.Join(f.root, "ferry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	in := workflows.ReleaseInput{Spec: *s, Version: "1.0.0", GitSHA: "abc1234", MigrationDigests: digests}
	run, err := f.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.ReleaseWorkflowID(s.Service, "1.0.0"), TaskQueue: queue},
		workflows.ReleaseWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "expand add-email-verified in production") ||
		!strings.Contains(err.Error(), digests["add-email-verified/expand"]) || !strings.Contains(err.Error(), "release again") {
		t.Fatalf("release: got %v, want production's expand refused as changed since the release pinned it", err)
	}
	column := func(db *pgx.Conn, name string) int64 {
		t.Helper()
		var n int64
		if err := db.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if column(f.db, "email_verified") != 1 {
		t.Error("staging did not run the pinned expand")
	}
	if column(prod, "changed_after_start") != 0 || column(prod, "email_verified") != 0 {
		t.Error("production's database was changed by a refused expand")
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Contains(deployed, "production") {
		t.Errorf("deployed to %v, want staging only", deployed)
	}
}
