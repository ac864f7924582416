package migratetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/pgtest"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(workerEnv); addr != "" {
		// A worker process of TestBackfillSurvivesKilledWorker: it runs until it is killed.
		if err := runWorker(addr, os.Getenv(workerEnv+"_DSN"), os.Getenv(workerEnv+"_ROOT")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	pgtest.Main(m)
}

const queue = "ferry-migrate"

// platform stands in for the platform activities: commands succeed at once, and Current answers the version
// the last deploy of each service's environment started (running is keyed by "service/env").
type platform struct {
	mu      sync.Mutex
	running map[string]string
	// deployed, if set, is called after each deploy with its environment.
	deployed func(env string)
}

func where(v activities.TemplateVars) string { return v.Service + "/" + v.Env }

func (*platform) Admit(context.Context, activities.AdmitRequest) error { return nil }
func (p *platform) Deploy(_ context.Context, in activities.PlatformRequest) (activities.PlatformResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[where(in.Vars)] = in.Vars.Version
	if p.deployed != nil {
		p.deployed(in.Vars.Env)
	}
	return activities.PlatformResult{}, nil
}
func (*platform) SetWeight(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{}, nil
}
func (*platform) Promote(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{}, nil
}
func (p *platform) Rollback(_ context.Context, in activities.PlatformRequest) (activities.PlatformResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in.Vars.StableVersion != "" {
		p.running[where(in.Vars)] = in.Vars.StableVersion
	}
	return activities.PlatformResult{}, nil
}
func (*platform) Remove(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{}, nil
}
func (*platform) WaitReady(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{}, nil
}
func (p *platform) Current(_ context.Context, in activities.PlatformRequest) (activities.CurrentResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return activities.CurrentResult{Known: true, Version: p.running[where(in.Vars)]}, nil
}

// Observe shows the version Current reports serving all traffic.
func (p *platform) Observe(ctx context.Context, in activities.PlatformRequest) (activities.Observation, error) {
	cur, _ := p.Current(ctx, in)
	if cur.Version == "" {
		return activities.Observation{Known: true}, nil
	}
	return activities.Observation{Known: true, Serving: []activities.Share{{Version: cur.Version, Percent: 100}}}, nil
}

func (*platform) ResolveConfig(context.Context, activities.ConfigRequest) (activities.ConfigResult, error) {
	return activities.ConfigResult{Hash: "hmac-sha256:test"}, nil
}

// Engine names one engine, as the worker's platform does for a spec on Docker; these specs are on exec.
func (*platform) Engine(context.Context, activities.PlatformRequest) (activities.EngineResult, error) {
	return activities.EngineResult{ID: "test-engine", Host: "local"}, nil
}

type dsns map[string]string

func (d dsns) DSN(env, name string) (string, error) { return d[name], nil }

func TestExpandContractAcrossTwoReleases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, 5000, "CASE WHEN g % 2 = 0 THEN 'Y' ELSE 'N' END", map[string]string{
		"db/003_expand.sql":   expandSQL,
		"db/003_contract.sql": "SET lock_timeout = '2s';\nALTER TABLE users DROP COLUMN legacy_flag;\n",
	})
	db, c := f.db, f.c
	f.serve(t)

	m := spec.Migration{Name: "add-email-verified", Database: "users", Expand: "db/003_expand.sql",
		Backfill: &spec.Backfill{Table: "users", Set: "email_verified = (legacy_flag = 'Y'), n = n + 1", Where: "email_verified IS NULL"},
		Contract: &spec.Contract{SQL: "db/003_contract.sql", MinAge: spec.Duration(3 * time.Second),
			Approval: &spec.Approval{Approvers: []string{"dba"}, Quorum: 1}}}
	s := &spec.Spec{
		Service:      "users-svc",
		Image:        spec.Image{Repository: "registry.local/users-svc"},
		Platform:     spec.Platform{Exec: &spec.ExecPlatform{Deploy: []string{"d"}, Rollback: []string{"rb"}, Remove: []string{"rm"}, Current: []string{"c"}}},
		Environments: []spec.Environment{{Name: "staging"}, {Name: "production"}},
		Migrations:   []spec.Migration{m},
	}
	spec.ApplyDefaults(s)
	release := func(version string, edit func(*workflows.ReleaseInput)) error {
		in := workflows.ReleaseInput{Spec: *s, Version: version, GitSHA: "abc1234"}
		edit(&in)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.ReleaseWorkflowID(s.Service, version), TaskQueue: queue},
			workflows.ReleaseWorkflow, in)
		if err != nil {
			t.Fatal(err)
		}
		return run.Get(ctx, nil)
	}

	// 1-3: 1.0.0 writes both shapes: it requires the expand, and the backfill runs once it serves 100 %.
	if err := release("1.0.0", func(in *workflows.ReleaseInput) { in.Spec.Requires = []string{m.Name} }); err != nil {
		t.Fatalf("release 1.0.0: %v", err)
	}
	var left, twice int64
	if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE email_verified IS NULL), count(*) FILTER (WHERE n > 1) FROM users`).Scan(&left, &twice); err != nil {
		t.Fatal(err)
	}
	if left != 0 || twice != 0 {
		t.Fatalf("after the backfill: %d rows unfilled and %d updated twice, want 0 and 0", left, twice)
	}
	contractID := workflows.ContractWorkflowID(s.Service, "users", m.Name)
	if err := approve(ctx, c, contractID, "intern"); err == nil || !strings.Contains(err.Error(), "approvers are dba") {
		t.Errorf("approval by a stranger: got %v, want refused", err)
	}
	if err := approve(ctx, c, contractID, "dba"); err != nil {
		t.Fatalf("approve: %v", err)
	}
	// The contract must not run before a release completes the migration, whatever else holds.
	time.Sleep(4 * time.Second)
	if exists(t, ctx, db) == false {
		t.Fatal("legacy_flag dropped before any release completed the migration")
	}

	// 4: 1.1.0 reads only the new shape and completes the migration.
	if err := release("1.1.0", func(in *workflows.ReleaseInput) { in.Spec.Completes = []string{m.Name} }); err != nil {
		t.Fatalf("release 1.1.0: %v", err)
	}
	// 5: the contract runs: 1.1.0 serves everywhere, minAge passed, dba approved.
	var done activities.ContractDone
	if err := c.GetWorkflow(ctx, contractID, "").Get(ctx, &done); err != nil {
		t.Fatalf("contract: %v", err)
	}
	if exists(t, ctx, db) || done.CompletedBy != "1.1.0" || strings.Join(done.Dropped, ",") != "column users.legacy_flag" {
		t.Fatalf("contract: got %+v, legacy_flag exists %v; want dropped, completed by 1.1.0", done, exists(t, ctx, db))
	}

	// A rollback to 1.0.0, which reads legacy_flag, is refused once the listing shows the contract.
	deadline := time.Now().Add(30 * time.Second)
	for {
		statuses, err := starter.MigrationStatuses(ctx, c)
		if err == nil && len(statuses) == 1 && statuses[0].Phase == workflows.ContractContracted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("migration status: got %+v (%v), want contracted", statuses, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	err := release("1.0.0-rollback", func(in *workflows.ReleaseInput) {
		in.Version, in.AllowDowngrade = "1.0.0", true
	})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !strings.Contains(err.Error(), "1.0.0 needs users.legacy_flag, dropped by contract add-email-verified at ") {
		t.Fatalf("rollback to 1.0.0: got %v, want refused as needing users.legacy_flag", err)
	}
}

func approve(ctx context.Context, c client.Client, id, who string) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: workflows.UpdateApproveContract,
		Args: []any{workflows.ContractApproveInput{Identity: who}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	return err
}

func exists(t *testing.T, ctx context.Context, db *pgx.Conn) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'legacy_flag'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}
