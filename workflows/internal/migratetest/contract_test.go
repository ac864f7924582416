package migratetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// release starts the release of version of s, edited by edit, under its own ID, and waits for its end.
func (f *fixture) release(ctx context.Context, t *testing.T, s *spec.Spec, id, version string, edit func(*workflows.ReleaseInput)) error {
	t.Helper()
	in := workflows.ReleaseInput{Spec: *s, Version: version, GitSHA: "abc1234"}
	if edit != nil {
		edit(&in)
	}
	run, err := f.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.ReleaseWorkflowID(s.Service, id), TaskQueue: queue},
		workflows.ReleaseWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	return run.Get(ctx, nil)
}

// waitContract queries the Contract workflow id until ok holds, for at most a minute, and returns its status.
func (f *fixture) waitContract(ctx context.Context, t *testing.T, id, what string, ok func(workflows.ContractStatus) bool) workflows.ContractStatus {
	t.Helper()
	var st workflows.ContractStatus
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var v interface{ Get(any) error }
		if v, err = f.c.QueryWorkflow(ctx, id, "", workflows.QueryContract); err == nil && v.Get(&st) == nil && ok(st) {
			return st
		}
	}
	t.Fatalf("contract %s: no %s within a minute: last status %+v (%v)", id, what, st, err)
	return st
}

// contractSpec is a service with staging and production whose platform says what runs, and one migration of
// users with a backfill and a contract that a dba approves, minAge after the expand.
func contractSpec(minAge time.Duration) (*spec.Spec, spec.Migration) {
	m := spec.Migration{Name: "add-email-verified", Database: "users", Expand: "db/003_expand.sql",
		Backfill: &spec.Backfill{Table: "users", Set: "email_verified = (legacy_flag = 'Y')", Where: "email_verified IS NULL"},
		Contract: &spec.Contract{SQL: "db/003_contract.sql", MinAge: spec.Duration(minAge),
			Approval: &spec.Approval{Approvers: []string{"dba"}, Quorum: 1}}}
	s := &spec.Spec{Service: "users-svc", Image: spec.Image{Repository: "registry.local/users-svc"},
		Platform:     spec.Platform{Exec: &spec.ExecPlatform{Deploy: []string{"d"}, Rollback: []string{"rb"}, Remove: []string{"rm"}, Current: []string{"c"}}},
		Environments: []spec.Environment{{Name: "staging"}, {Name: "production"}}, Migrations: []spec.Migration{m}}
	spec.ApplyDefaults(s)
	return s, m
}

const contractSQL = "SET lock_timeout = '2s';\nALTER TABLE users DROP COLUMN legacy_flag;\n"

// TestContractWaitsWhileBuild41Serves: build-41 (released without a commit time) requires the migration,
// build-42 completes it, and then production goes back to build-41. Neither tag is a semantic version and
// production's lock records no commit time for build-41: nothing proves build-41 no older than build-42, so
// the contract waits past minAge and says why, and legacy_flag stays. Before the contract proved order, it
// dropped legacy_flag at minAge under build-41.
func TestContractWaitsWhileBuild41Serves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, 1000, "'Y'", map[string]string{"db/003_expand.sql": expandSQL, "db/003_contract.sql": contractSQL})
	f.serve(t)
	s, m := contractSpec(20 * time.Second)
	expanded := time.Now()
	if err := f.release(ctx, t, s, "build-41", "build-41", func(in *workflows.ReleaseInput) { in.Spec.Requires = []string{m.Name} }); err != nil {
		t.Fatalf("release build-41: %v", err)
	}
	id := workflows.ContractWorkflowID(s.Service, m.Database, m.Name)
	if err := approve(ctx, f.c, id, "dba"); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if err := f.release(ctx, t, s, "build-42", "build-42", func(in *workflows.ReleaseInput) {
		in.Spec.Completes, in.CommitTime = []string{m.Name}, time.Now().Add(-time.Hour)
	}); err != nil {
		t.Fatalf("release build-42: %v", err)
	}
	// Production goes back to build-41; nothing is contracted yet, so nothing refuses it.
	if err := f.release(ctx, t, s, "build-41-again", "build-41", func(in *workflows.ReleaseInput) {
		in.AllowDowngrade, in.Spec.Environments = true, in.Spec.Environments[1:]
	}); err != nil {
		t.Fatalf("build-41 back to production: %v", err)
	}
	if left := 20*time.Second - time.Since(expanded); left < 2*time.Second {
		t.Fatalf("the releases took until %s before minAge ended; the test needs a longer minAge", left)
	}
	want := "cannot prove that build-41, which runs in production, is not older than build-42: they are not both " +
		"semantic versions, and the environment lock of production records no commit time for build-41"
	st := f.waitContract(ctx, t, id, "reason", func(st workflows.ContractStatus) bool {
		return st.Reason != "" || st.Phase != workflows.ContractWaiting
	})
	if st.Phase != workflows.ContractWaiting || st.Reason != want || !exists(t, ctx, f.db) {
		t.Fatalf("contract past minAge: got %s (%q), legacy_flag exists %v; want waiting because %q",
			st.Phase, st.Reason, exists(t, ctx, f.db), want)
	}
	if time.Since(expanded) < 20*time.Second {
		t.Errorf("the contract checked what runs %s after the expand, before minAge (20s)", time.Since(expanded))
	}
}

// TestContractRefusedAfterAbortedBackfill: 1.0.0's backfill is stopped by an abort part-way, 1.1.0 completes
// the migration, and the contract refuses, naming the backfill and the key it stopped at, which
// ferry.migrations records; legacy_flag stays, since rows above that key were never copied. The abort itself
// ends 1.0.0 failed, promoted, not aborted.
func TestContractRefusedAfterAbortedBackfill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const rows = 20000
	f := newFixture(t, ctx, rows, "'Y'", map[string]string{"db/003_expand.sql": expandSQL, "db/003_contract.sql": contractSQL})
	f.serve(t)
	s := slowBackfillSpec()
	m := &s.Migrations[0]
	m.Contract = &spec.Contract{SQL: "db/003_contract.sql", MinAge: spec.Duration(time.Second)}
	s.Requires = nil
	s.Platform.Exec.Current = []string{"c"}
	wr, err := f.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.ReleaseWorkflowID(s.Service, "1.0.0"), TaskQueue: queue},
		workflows.ReleaseWorkflow, workflows.ReleaseInput{Spec: withRequires(*s, m.Name), Version: "1.0.0", GitSHA: "abc1234"})
	if err != nil {
		t.Fatal(err)
	}
	run := starter.ReleaseRun(s.Service, "1.0.0")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if st, err := starter.StatusOf(ctx, f.c, run); err == nil && st.Backfill != nil && st.Backfill.Progress.Rows > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backfill filled nothing within a minute")
		}
	}
	h, err := f.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: wr.GetID(), UpdateName: workflows.UpdateAbort,
		Args: []any{workflows.AbortInput{Identity: "sre", Reason: "database load"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil || h.Get(ctx, nil) != nil {
		t.Fatalf("abort: %v", err)
	}
	err = wr.Get(ctx, nil)
	var cursor string
	if err := f.db.QueryRow(ctx, "SELECT backfill_cursor FROM ferry.migrations WHERE phase = 'backfill' AND applied_at IS NULL").Scan(&cursor); err != nil {
		t.Fatalf("the record of the stopped backfill: %v", err)
	}
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != workflows.ErrTypeFailed ||
		!strings.Contains(err.Error(), "staging: promoted; backfill of add-email-verified stopped at key "+cursor+" (") {
		t.Errorf("1.0.0 after the abort: got %v, want failed: promoted, backfill stopped at key %s", err, cursor)
	}

	if err := f.release(ctx, t, s, "1.1.0", "1.1.0", func(in *workflows.ReleaseInput) { in.Spec.Completes = []string{m.Name} }); err != nil {
		t.Fatalf("release 1.1.0: %v", err)
	}
	id := workflows.ContractWorkflowID(s.Service, m.Database, m.Name)
	want := "contract add-email-verified refused: its backfill add-email-verified (table users) did not finish in staging (stopped at key " + cursor + ")"
	st := f.waitContract(ctx, t, id, "reason", func(st workflows.ContractStatus) bool {
		return st.Reason != "" || st.Phase != workflows.ContractWaiting
	})
	if st.Phase != workflows.ContractWaiting || !strings.HasPrefix(st.Reason, want) || !exists(t, ctx, f.db) {
		t.Fatalf("contract: got %s (%q), legacy_flag exists %v; want refused: %q", st.Phase, st.Reason, exists(t, ctx, f.db), want)
	}
	if left := f.count(t, ctx, "SELECT count(*) FROM users WHERE email_verified IS NULL"); left == 0 {
		t.Error("no row is left to fill: the abort came too late to test anything")
	}
}

func withRequires(s spec.Spec, names ...string) spec.Spec {
	s.Requires = names
	return s
}

// TestTwoServicesKeepTheirContracts: users-svc and orders-svc each have a migration add-email-verified of the
// database users, on their own tables. orders-svc completes its migration and its contract runs; users-svc's
// contract still waits for a release of users-svc, and users.legacy_flag stays. Before contract IDs, signals
// and ferry.migrations named the service, orders-svc's expand was a checksum mismatch with users-svc's, and
// one contract served both.
func TestTwoServicesKeepTheirContracts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, 1000, "'Y'", map[string]string{
		"db/003_expand.sql": expandSQL, "db/003_contract.sql": contractSQL,
		"db/orders_expand.sql":   "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN email_verified boolean;\n",
		"db/orders_contract.sql": "SET lock_timeout = '2s';\nALTER TABLE orders DROP COLUMN legacy_flag;\n",
	})
	if _, err := f.db.Exec(ctx, `CREATE TABLE orders (id bigint PRIMARY KEY, legacy_flag text NOT NULL);
		INSERT INTO orders SELECT g, 'Y' FROM generate_series(1, 100) g`); err != nil {
		t.Fatal(err)
	}
	f.serve(t)
	users, m := contractSpec(time.Second)
	users.Environments = users.Environments[:1]
	orders := *users
	orders.Service = "orders-svc"
	om := m
	om.Expand, om.Backfill = "db/orders_expand.sql", &spec.Backfill{Table: "orders", Set: m.Backfill.Set, Where: m.Backfill.Where}
	om.Contract = &spec.Contract{SQL: "db/orders_contract.sql", MinAge: m.Contract.MinAge, Approval: m.Contract.Approval}
	orders.Migrations = []spec.Migration{om}
	requires := func(in *workflows.ReleaseInput) { in.Spec.Requires = []string{m.Name} }
	completes := func(in *workflows.ReleaseInput) { in.Spec.Completes = []string{m.Name} }

	usersID := workflows.ContractWorkflowID(users.Service, "users", m.Name)
	ordersID := workflows.ContractWorkflowID(orders.Service, "users", m.Name)
	for _, r := range []struct {
		s  *spec.Spec
		id string
	}{{users, usersID}, {&orders, ordersID}} {
		if err := f.release(ctx, t, r.s, "1.0.0", "1.0.0", requires); err != nil {
			t.Fatalf("release 1.0.0 of %s: %v", r.s.Service, err)
		}
		if err := approve(ctx, f.c, r.id, "dba"); err != nil {
			t.Fatalf("approve the contract of %s: %v", r.s.Service, err)
		}
	}
	if err := f.release(ctx, t, &orders, "1.1.0", "1.1.0", completes); err != nil {
		t.Fatalf("release 1.1.0 of orders-svc: %v", err)
	}
	if err := f.c.GetWorkflow(ctx, ordersID, "").Get(ctx, nil); err != nil {
		t.Fatalf("the contract of orders-svc: %v", err)
	}
	time.Sleep(2 * time.Second) // long enough for a contract that was told to run
	v, err := f.c.QueryWorkflow(ctx, usersID, "", workflows.QueryContract)
	var st workflows.ContractStatus
	if err != nil || v.Get(&st) != nil {
		t.Fatalf("the contract of users-svc: %v", err)
	}
	if st.Phase != workflows.ContractWaiting || st.State.CompletedBy != "" || !exists(t, ctx, f.db) {
		t.Errorf("the contract of users-svc: got %s completed by %q, users.legacy_flag exists %v; want waiting for a release of users-svc",
			st.Phase, st.State.CompletedBy, exists(t, ctx, f.db))
	}
	var n int
	if err := f.db.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'legacy_flag'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("orders.legacy_flag: got %d columns (%v), want dropped by the contract of orders-svc", n, err)
	}
}
