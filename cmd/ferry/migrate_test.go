package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/ferryhq/ferry/internal/migrate"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

const (
	goodExpand = "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN email_verified boolean;\n"
	badExpand  = "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN email_verified boolean;\n\n  ALTER TABLE users DROP COLUMN legacy_flag;\nCREATE INDEX users_email_idx ON users (email);\n"
	contract   = "SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN legacy_flag;\n"
)

// writeMigrations writes name → content into one fresh directory and returns the paths in the order given.
func writeMigrations(t *testing.T, files ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i := 0; i < len(files); i += 2 {
		path := filepath.Join(dir, files[i])
		if err := os.WriteFile(path, []byte(files[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

func TestMigrateLintClean(t *testing.T) {
	clearEnv(t)
	p := writeMigrations(t, "003_expand.sql", goodExpand, "003_contract.sql", contract)
	stdout, stderr, code := ferry(t, "migrate", "lint", p[0], p[1])
	want := p[1] + ":2:1: contract/irreversible: drops column users.legacy_flag (" + hintOf(migrate.RuleIrreversible) + ")\n" +
		p[0] + ": ok (expand)\n" + p[1] + ": ok (contract, irreversible)\n"
	if code != exitOK || stdout != want || stderr != "" {
		t.Errorf("got code %d stdout:\n%s\nstderr %q\nwant 0, no stderr and stdout:\n%s", code, stdout, stderr, want)
	}
}

func TestMigrateLintErrors(t *testing.T) {
	clearEnv(t)
	p := writeMigrations(t, "004_expand.sql", badExpand, "003_expand.sql", goodExpand)
	stdout, stderr, code := ferry(t, "migrate", "lint", p[0], p[1])
	if code != exitRejected {
		t.Errorf("got code %d, want %d", code, exitRejected)
	}
	if want := p[1] + ": ok (expand)\n"; stdout != want {
		t.Errorf("got stdout %q, want %q", stdout, want)
	}
	want := p[0] + ":4:3: expand/drop-column: drops column users.legacy_flag (" + hintOf(migrate.RuleDropColumn) + ")\n" +
		p[0] + ":5:1: lock/index-concurrently: creates index users_email_idx on users without CONCURRENTLY (" + hintOf(migrate.RuleIndexConcurrently) + ")\n" +
		"ferry: 2 lint errors in 1 file\nhint: "
	if !strings.HasPrefix(stderr, want) {
		t.Errorf("got stderr:\n%s\nwant it to start:\n%s", stderr, want)
	}
}

func TestMigrateLintPhaseFlag(t *testing.T) {
	clearEnv(t)
	// The contract file linted as expand: its DROP COLUMN is now an error. The flag may follow the file.
	p := writeMigrations(t, "003_contract.sql", contract, "cleanup.sql", goodExpand)
	_, stderr, code := ferry(t, "migrate", "lint", p[0], "--phase", "expand")
	if code != exitRejected || !strings.HasPrefix(stderr, p[0]+":2:1: expand/drop-column: ") {
		t.Errorf("--phase expand: got code %d stderr %q, want 2 and expand/drop-column", code, stderr)
	}
	t.Setenv("FERRY_MIGRATE_PHASE", "contract")
	if stdout, _, code := ferry(t, "migrate", "lint", p[1]); code != exitOK || stdout != p[1]+": ok (contract)\n" {
		t.Errorf("FERRY_MIGRATE_PHASE=contract: got code %d stdout %q, want 0 and ok (contract)", code, stdout)
	}
}

func TestMigrateLintJSON(t *testing.T) {
	clearEnv(t)
	p := writeMigrations(t, "004_expand.sql", badExpand, "003_contract.sql", contract)
	stdout, _, code := ferry(t, "-o", "json", "migrate", "lint", p[0], p[1])
	if code != exitRejected {
		t.Errorf("got code %d, want %d", code, exitRejected)
	}
	var doc lintDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
	}
	want := []migrate.Finding{
		{File: p[0], Line: 4, Col: 3, Rule: migrate.RuleDropColumn, Severity: migrate.SeverityError, Message: "drops column users.legacy_flag", Hint: hintOf(migrate.RuleDropColumn)},
		{File: p[0], Line: 5, Col: 1, Rule: migrate.RuleIndexConcurrently, Severity: migrate.SeverityError, Message: "creates index users_email_idx on users without CONCURRENTLY", Hint: hintOf(migrate.RuleIndexConcurrently)},
		{File: p[1], Line: 2, Col: 1, Rule: migrate.RuleIrreversible, Severity: migrate.SeverityNote, Message: "drops column users.legacy_flag", Hint: hintOf(migrate.RuleIrreversible)},
	}
	if doc.OK || len(doc.Findings) != len(want) {
		t.Fatalf("got %+v, want not ok with %d findings", doc, len(want))
	}
	for i := range want {
		if doc.Findings[i] != want[i] {
			t.Errorf("finding %d: got %+v, want %+v", i, doc.Findings[i], want[i])
		}
	}
	wantFiles := []lintFileDoc{{File: p[0], Phase: migrate.PhaseExpand, Errors: 2}, {File: p[1], Phase: migrate.PhaseContract, Irreversible: true}}
	if len(doc.Files) != 2 || doc.Files[0] != wantFiles[0] || doc.Files[1] != wantFiles[1] {
		t.Errorf("got files %+v, want %+v", doc.Files, wantFiles)
	}
	// A clean run is ok, with an empty list rather than null.
	stdout, _, code = ferry(t, "migrate", "lint", "-o", "json", writeMigrations(t, "005_expand.sql", goodExpand)[0])
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != exitOK || !doc.OK || doc.Findings == nil || len(doc.Findings) != 0 {
		t.Errorf("clean: got code %d doc %+v (%v), want ok and no findings", code, doc, err)
	}
	if !strings.Contains(stdout, `"findings": []`) {
		t.Errorf("clean: got %s, want an empty findings list", stdout)
	}
}

func TestMigrateLintSyntaxError(t *testing.T) {
	clearEnv(t)
	p := writeMigrations(t, "006_expand.sql", "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN note text DEFAUL '';\n")
	_, stderr, code := ferry(t, "migrate", "lint", p[0])
	want := p[0] + `:2:40: syntax: syntax error at or near "DEFAUL" (` + hintOf(migrate.RuleSyntax) + ")\nferry: 1 lint error in 1 file\n"
	if code != exitRejected || !strings.HasPrefix(stderr, want) {
		t.Errorf("got code %d stderr:\n%s\nwant 2 and:\n%s", code, stderr, want)
	}
}

func TestMigrateLintUsage(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		message string
	}{
		{"no file", []string{"migrate", "lint"}, "ferry: missing FILE\n"},
		{"unknown phase", []string{"migrate", "lint", "a_expand.sql", "--phase", "both"}, `ferry: --phase is "both", want expand or contract` + "\n"},
		{"no phase", []string{"migrate", "lint", "003.sql"}, "ferry: cannot tell the phase of 003.sql: name it *_expand.sql or *_contract.sql, or pass --phase\n"},
		{"missing file", []string{"migrate", "lint", filepath.Join(dir, "003_expand.sql")}, "ferry: " + filepath.Join(dir, "003_expand.sql") + ": no such file\n"},
		{"unknown flag", []string{"migrate", "lint", "--bogus", "a_expand.sql"}, "ferry: flag provided but not defined: -bogus\n"},
		{"unknown command", []string{"migrate", "frobnicate"}, `ferry: unknown migrate command "frobnicate", want lint, status, approve-contract, pause-backfill, resume-backfill or resize-backfill` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := ferry(t, tt.args...)
			if code != exitRejected || !strings.HasPrefix(stderr, tt.message) || !strings.Contains(stderr, "\nhint: ") || stdout != "" {
				t.Errorf("got code %d stdout %q stderr %q, want %d and %q with a hint", code, stdout, stderr, exitRejected, tt.message)
			}
		})
	}
}

func TestMigrateHelpListsRules(t *testing.T) {
	clearEnv(t)
	stdout, _, code := ferry(t, "migrate", "lint", "--help")
	if code != exitOK {
		t.Fatalf("got code %d, want 0", code)
	}
	for _, r := range migrate.Rules() {
		if !strings.Contains(stdout, r.ID+" ") {
			t.Errorf("help lacks rule %s:\n%s", r.ID, stdout)
		}
	}
	if !strings.Contains(stdout, "$FERRY_MIGRATE_PHASE") {
		t.Errorf("help does not show FERRY_MIGRATE_PHASE:\n%s", stdout)
	}
}

func hintOf(rule string) string {
	for _, r := range migrate.Rules() {
		if r.ID == rule {
			return r.Hint
		}
	}
	return ""
}

// A build without cgo has no parser: lint says so and how to get one, with exit 1.
func TestMigrateNoParserError(t *testing.T) {
	r := describe(&commandError{err: migrate.ErrNoParser})
	if r.code != exitError || !strings.Contains(r.message, "no PostgreSQL parser") || !strings.Contains(r.hint, "cgo") {
		t.Errorf("got %+v, want exit 1 naming the missing parser, with a hint about cgo", r)
	}
}

// TestMigrateStatusAndApproveContract drives `ferry migrate status` and `approve-contract` against `ferry dev`
// and a Contract workflow started as a release's first expand starts it.
func TestMigrateStatusAndApproveContract(t *testing.T) {
	clearEnv(t)
	address := devServer(t)
	t.Setenv("TEMPORAL_ADDRESS", address)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.Dial(client.Options{HostPort: address, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := spec.Migration{Name: "add-email-verified", Database: "users", Expand: "db/003_expand.sql",
		Contract: &spec.Contract{SQL: "db/003_contract.sql", MinAge: spec.Duration(168 * time.Hour),
			Approval: &spec.Approval{Approvers: []string{"dba"}, Quorum: 1}}}
	in := workflows.ContractInput{Service: "checkout", Migration: m, Environments: []string{"staging"},
		Platform: spec.Platform{Exec: &spec.ExecPlatform{Deploy: []string{"true"}}}, ExpandedAt: time.Now()}
	if _, err := c.SignalWithStartWorkflow(ctx, workflows.ContractWorkflowID("checkout", "users", m.Name), workflows.SignalContractExpanded,
		workflows.ContractSignal{Version: "1.4.0"}, client.StartWorkflowOptions{TaskQueue: "ferry"}, workflows.ContractWorkflow, in); err != nil {
		t.Fatal(err)
	}

	var statuses []workflows.ContractStatus
	for i := 0; i < 100; i++ {
		stdout, stderr, code := ferry(t, "migrate", "status", "-o", "json")
		if code != exitOK {
			t.Fatalf("migrate status: code %d: %s", code, stderr)
		}
		if err := json.Unmarshal([]byte(stdout), &statuses); err != nil {
			t.Fatalf("migrate status: %v in %q", err, stdout)
		}
		if len(statuses) == 1 && statuses[0].Phase == workflows.ContractWaiting {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(statuses) != 1 || statuses[0].Migration != m.Name || statuses[0].Database != "users" || statuses[0].Phase != workflows.ContractWaiting {
		t.Fatalf("migrate status: got %+v, want add-email-verified waiting", statuses)
	}

	for _, tt := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"unknown migration", []string{"migrate", "approve-contract", "drop-everything", "--as", "dba"}, exitRejected, "no migration drop-everything"},
		{"not an approver", []string{"migrate", "approve-contract", m.Name, "--as", "intern"}, exitRejected, "approvers are dba"},
		{"approver", []string{"migrate", "approve-contract", m.Name, "--as", "dba"}, exitOK, "approved contract add-email-verified (1/1)"},
		{"twice", []string{"migrate", "approve-contract", m.Name, "--as", "dba"}, exitRejected, "already approved"},
		{"no name", []string{"migrate", "approve-contract"}, exitRejected, "missing NAME"},
	} {
		stdout, stderr, code := ferry(t, tt.args...)
		if code != tt.code || !strings.Contains(stdout+stderr, tt.out) {
			t.Errorf("%s: got code %d stdout %q stderr %q, want %d and %q", tt.name, code, stdout, stderr, tt.code, tt.out)
		}
	}
	stdout, _, _ := ferry(t, "migrate", "status")
	if !strings.Contains(stdout, "users/add-email-verified: waiting; waiting for a release that completes add-email-verified") ||
		strings.Contains(stdout, "approval (") {
		t.Errorf("migrate status after the approval: got %q, want waiting for a completing release and no approval", stdout)
	}
}

// TestMigrateBackfillCommands checks the arguments of pause-backfill, resume-backfill and resize-backfill, and that
// each goes to a running release of the service, with nothing sent when there is none. The commands against a
// running backfill are exercised in workflows/internal/migratetest (TestBackfillCommands).
func TestMigrateBackfillCommands(t *testing.T) {
	clearEnv(t)
	for _, tt := range []struct {
		name string
		args []string
		out  string
	}{
		{"no service", []string{"migrate", "pause-backfill"}, "missing SERVICE"},
		{"resize without a target", []string{"migrate", "resize-backfill", "checkout"}, "--batch-target must be a positive duration"},
		{"negative target", []string{"migrate", "resize-backfill", "checkout", "--batch-target", "-1s"}, "--batch-target must be a positive duration"},
		{"target on pause", []string{"migrate", "pause-backfill", "checkout", "--batch-target", "1s"}, "--batch-target goes with resize-backfill only"},
	} {
		stdout, stderr, code := ferry(t, tt.args...)
		if code != exitRejected || !strings.Contains(stdout+stderr, tt.out) {
			t.Errorf("%s: got code %d stdout %q stderr %q, want %d and %q", tt.name, code, stdout, stderr, exitRejected, tt.out)
		}
	}

	t.Setenv("TEMPORAL_ADDRESS", devServer(t, "--no-worker"))
	for _, act := range []string{"pause", "resume"} {
		stdout, stderr, code := ferry(t, "migrate", act+"-backfill", "checkout")
		if code != exitRejected || !strings.Contains(stderr, "checkout") {
			t.Errorf("%s-backfill without a running release: got code %d stdout %q stderr %q, want %d naming checkout", act, code, stdout, stderr, exitRejected)
		}
	}
	stdout, stderr, code := ferry(t, "migrate", "resize-backfill", "checkout", "--batch-target", "500ms", "-o", "json")
	if code != exitRejected || !strings.Contains(stdout, `"error"`) {
		t.Errorf("resize-backfill without a running release, as JSON: got code %d stdout %q stderr %q, want %d and a JSON error", code, stdout, stderr, exitRejected)
	}
}
