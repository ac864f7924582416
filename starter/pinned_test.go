package starter

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/spec"
)

func TestMigrationDigestsPinEachSQLFile(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"db/001_expand.sql":   "ALTER TABLE a ADD COLUMN b int;\n",
		"db/002_expand.sql":   "ALTER TABLE users ADD COLUMN email_verified boolean;\n",
		"db/002_contract.sql": "ALTER TABLE users DROP COLUMN legacy_flag;\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(name string) string {
		s := sha256.Sum256([]byte(files[name]))
		return hex.EncodeToString(s[:])
	}
	s := spec.Spec{Migrations: []spec.Migration{
		{Name: "add-b", Database: "app", Expand: "db/001_expand.sql"},
		{Name: "add-email-verified", Database: "app", Expand: "db/002_expand.sql", Contract: &spec.Contract{SQL: "db/002_contract.sql"}},
	}}
	got, err := MigrationDigests(s, filepath.Join(dir, "ferry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"add-b/expand":                sum("db/001_expand.sql"),
		"add-email-verified/expand":   sum("db/002_expand.sql"),
		"add-email-verified/contract": sum("db/002_contract.sql"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("digests: got %v, want %v", got, want)
	}

	// A file that changes changes its digest, and only its own.
	if err := os.WriteFile(filepath.Join(dir, "db", "002_expand.sql"), []byte("ALTER TABLE users ADD COLUMN x int;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := MigrationDigests(s, filepath.Join(dir, "ferry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if again["add-email-verified/expand"] == want["add-email-verified/expand"] || again["add-b/expand"] != want["add-b/expand"] {
		t.Fatalf("after a change: got %v, was %v", again, want)
	}

	// A missing file fails the start: nothing runs unpinned.
	s.Migrations[0].Expand = "db/missing_expand.sql"
	if _, err := MigrationDigests(s, filepath.Join(dir, "ferry.yaml")); err == nil || !strings.Contains(err.Error(), "missing_expand.sql") {
		t.Fatalf("missing file: got %v, want an error naming it", err)
	}
	// No migrations, no digests.
	if d, err := MigrationDigests(spec.Spec{}, filepath.Join(dir, "ferry.yaml")); err != nil || d != nil {
		t.Fatalf("no migrations: got %v, %v", d, err)
	}
}
