package pgtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// TestDatabaseIsFreshAndSeparate checks that two tests' databases are empty, distinct, and reachable.
func TestDatabaseIsFreshAndSeparate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := Database(t), Database(t)
	if a == b {
		t.Fatalf("got the same DSN twice: %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("table of database a seen in database b: got %d, want 0", n)
	}
	var fsync string
	if err := cb.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil {
		t.Fatal(err)
	}
	if fsync != "off" {
		t.Errorf("fsync: got %s, want off", fsync)
	}
}

func TestStartWithoutPostgres(t *testing.T) {
	defer func(dirs string) { installDirs = dirs }(installDirs)
	installDirs = filepath.Join(t.TempDir(), "*", "bin")
	t.Setenv("PATH", t.TempDir())
	c, err := Start(context.Background())
	if !errors.Is(err, ErrNotInstalled) {
		if c != nil {
			c.Stop()
		}
		t.Fatalf("got %v, want ErrNotInstalled", err)
	}
}

// TestDatabaseWithoutClusterSkipsOrFailsUnderCI runs a test that asks for a database while the package has no
// cluster, in a child process: it skips, and fails when CI is "true".
func TestDatabaseWithoutClusterSkipsOrFailsUnderCI(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		database(t, nil, ErrNotInstalled)
		return
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		want     string
	}{
		{"", false, "--- SKIP"},
		{"true", true, "--- FAIL"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDatabaseWithoutClusterSkipsOrFailsUnderCI$", "-test.v")
		cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.wantFail {
			t.Errorf("CI=%q: got failed=%v, want %v:\n%s", tc.ci, failed, tc.wantFail, out)
		}
		if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "not installed") {
			t.Errorf("CI=%q: output lacks %q and the reason:\n%s", tc.ci, tc.want, out)
		}
	}
}
