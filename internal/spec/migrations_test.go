package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const migrationSpec = `service: checkout
image: {repository: registry.example.com/checkout}
platform:
  exec: {deploy: [./deploy.sh], rollback: [./rollback.sh], remove: [./remove.sh]}
environments:
  - name: staging
migrations:
  - name: add-email-verified
    database: users
    expand: db/003_expand.sql
    backfill: {table: users, set: "email_verified = (legacy_flag = 'Y')", where: email_verified IS NULL, batchTarget: 100ms}
    contract:
      sql: db/003_contract.sql
      minAge: 168h
      approval: {approvers: [dba]}
requires: [add-email-verified]
completes: [add-email-verified]
`

func writeSpecDir(t *testing.T, expand string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"ferry.yaml":          migrationSpec,
		"db/003_expand.sql":   expand,
		"db/003_contract.sql": "SET lock_timeout = '2s';\nALTER TABLE users DROP COLUMN legacy_flag;\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "ferry.yaml")
}

func TestLoadMigrations(t *testing.T) {
	s, err := Load(writeSpecDir(t, "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN email_verified boolean;\n"))
	if err != nil {
		t.Fatalf("got error:\n%v\nwant none", err)
	}
	m, ok := s.Migration("add-email-verified")
	if !ok || m.Database != "users" || m.Backfill.BatchTarget.D() != 100*time.Millisecond || m.Contract.MinAge.D() != 168*time.Hour ||
		m.Contract.Approval.Quorum != 1 {
		t.Fatalf("got %+v, want the migration with its backfill, minAge and an approval quorum of 1", m)
	}
	if got := s.Required(); len(got) != 1 || got[0].Name != "add-email-verified" {
		t.Errorf("Required: got %+v", got)
	}
}

func TestLoadLintsExpandFile(t *testing.T) {
	_, err := Load(writeSpecDir(t, "ALTER TABLE users DROP COLUMN legacy_flag;\n"))
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want problems", err)
	}
	got := ps.Error()
	for _, want := range []string{"ferry.yaml:10: migrations[0].expand: db/003_expand.sql:1:1: expand/drop-column", "lock"} {
		if !strings.Contains(got, want) {
			t.Errorf("got:\n%s\nwant it to contain %q", got, want)
		}
	}
}
