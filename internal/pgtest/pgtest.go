// Package pgtest starts a throwaway PostgreSQL cluster for tests, with initdb and pg_ctl from the host's
// PostgreSQL installation (Debian's postgresql package), and hands each test a fresh database in it.
//
// A test package starts one cluster in TestMain with Main, and each test calls Database:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) { dsn := pgtest.Database(t); ... }
//
// The cluster lives in a temporary directory, listens on a free loopback port and on a unix socket in that
// directory, trusts every connection (it accepts only loopback ones), and runs with fsync off: it is fast and
// loses its data on a crash, which a test does not mind. When PostgreSQL is not installed, Database skips the
// test with the reason, or fails it when the environment variable CI is "true".
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled is returned by Start when no initdb and pg_ctl are found.
var ErrNotInstalled = errors.New("PostgreSQL is not installed: no initdb and pg_ctl in /usr/lib/postgresql/*/bin or on PATH (apt-get install postgresql)")

// Cluster is a running throwaway cluster. Its superuser is postgres, with no password.
type Cluster struct {
	dir  string
	bin  string
	port int
	// cred runs the server as the postgres user when the tests run as root, which PostgreSQL refuses.
	cred *syscall.Credential
	dbs  atomic.Int64
}

// installDirs is where Debian installs each major version's server binaries.
var installDirs = "/usr/lib/postgresql/*/bin"

// findBin returns the directory holding initdb and pg_ctl: the newest /usr/lib/postgresql/N/bin (Debian
// installs them there, off PATH), else the directory of pg_ctl on PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob(installDirs)
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start creates and starts a cluster. The caller stops it with Stop.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ferry-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		if err := c.dropRoot(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := c.run(ctx, "initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--no-locale", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// The free port may be taken between finding it and the server binding it; try a few.
	for attempt := 0; ; attempt++ {
		c.port, err = freePort()
		if err == nil {
			err = c.run(ctx, "pg_ctl", "start", "-D", c.data(), "-w", "-t", "120", "-l", filepath.Join(dir, "server.log"),
				"-o", fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s "+
					"-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50", c.port, dir))
		}
		if err == nil {
			return c, nil
		}
		if attempt == 2 || ctx.Err() != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%w\nserver log:\n%s", err, log)
		}
	}
}

// dropRoot makes the cluster's processes run as the postgres user, which owns the directory.
func (c *Cluster) dropRoot() error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, PostgreSQL needs an unprivileged user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(c.dir, uid, gid); err != nil {
		return err
	}
	c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return nil
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DSN is the URL of database db in the cluster, over loopback TCP.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// Stop stops the server and removes its directory.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := c.run(ctx, "pg_ctl", "stop", "-D", c.data(), "-m", "immediate", "-w")
	if rmErr := os.RemoveAll(c.dir); err == nil {
		err = rmErr
	}
	return err
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates an empty database for t, named after the test, and returns its DSN. The database is
// dropped when t ends.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	name := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("t%d_%s", c.dbs.Add(1), name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatalf("connect to the test cluster: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err != nil {
			t.Errorf("connect to drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return c.DSN(name)
}

// shared is the cluster Main started for the test package, or why there is none.
var shared struct {
	c   *Cluster
	err error
}

// Main is the body of a test package's TestMain: it starts one cluster for the package, runs the tests and
// stops the cluster. A cluster that fails to start is reported by each Database call, so that a package
// without PostgreSQL still runs its other tests.
func Main(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	shared.c, shared.err = Start(ctx)
	cancel()
	code := m.Run()
	if shared.c != nil {
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop cluster:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// Database returns the DSN of a fresh database in the package's cluster (see Main), dropped when t ends. Without
// a cluster it skips t with the reason, or fails t when CI is "true".
func Database(t testing.TB) string {
	t.Helper()
	return database(t, shared.c, shared.err)
}

func database(t testing.TB, c *Cluster, err error) string {
	t.Helper()
	if c == nil {
		if err == nil {
			err = errors.New("pgtest.Main did not run: call it from TestMain")
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI: %v", err)
		}
		t.Skipf("no PostgreSQL cluster (under CI this fails instead): %v", err)
	}
	return c.NewDatabase(t)
}
