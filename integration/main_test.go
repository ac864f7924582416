// Package integration drives the real ferry binary against an embedded Temporal server (`ferry dev
// --no-worker`) and a separate `ferry worker` process, with the exec platform running shell scripts that
// log every call. Tests assert exactly which platform commands ran.
package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/vaulttest"
	"github.com/ferryhq/ferry/workflows"
)

// stack is the shared server for the package: one `ferry dev`, one `ferry worker`.
var stack struct {
	bin     string
	address string
	uiURL   string
	dev     *exec.Cmd
	worker  *exec.Cmd
	logDir  string
	// execRoot is the worker's --exec-root: each app's scripts live in a directory of it named after the
	// service, which the app's spec names as platform.exec.dir.
	execRoot string
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "ferry-it-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	stack.logDir = dir
	stack.execRoot = filepath.Join(dir, "apps")
	if err := os.Mkdir(stack.execRoot, 0o755); err != nil {
		return 1, err
	}
	stack.bin = filepath.Join(dir, "ferry")
	build := exec.Command("go", "build", "-o", stack.bin, "../cmd/ferry")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return 1, fmt.Errorf("build ferry: %v\n%s", err, out)
	}
	port, uiPort := freePort(), freePort()
	stack.address = fmt.Sprintf("127.0.0.1:%d", port)
	stack.uiURL = fmt.Sprintf("http://127.0.0.1:%d", uiPort)
	stack.dev = background("dev", "dev", "--port", fmt.Sprint(port), "--ui-port", fmt.Sprint(uiPort), "--no-worker")
	if err := stack.dev.Start(); err != nil {
		return 1, err
	}
	defer stop(stack.dev)
	defer vaulttest.Stop()
	if err := waitServing(time.Minute); err != nil {
		return 1, fmt.Errorf("ferry dev: %w (log in %s)", err, dir)
	}
	if err := startWorker(); err != nil {
		return 1, err
	}
	defer func() { stop(stack.worker) }()
	return m.Run(), nil
}

// background prepares a long-running ferry process whose output goes to a log file named after it.
func background(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(stack.bin, args...)
	cmd.Env = ferryEnv()
	logFile, _ := os.OpenFile(filepath.Join(stack.logDir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// startWorker starts the worker with the apps' directory as its exec root; it runs every program below it.
func startWorker() error {
	stack.worker = background("worker", "worker", "--exec-root", stack.execRoot, "--exec-allow", stack.execRoot+"/**")
	return stack.worker.Start()
}

// killWorker kills the worker process outright (SIGKILL), as a crash would.
func killWorker() {
	_ = stack.worker.Process.Signal(syscall.SIGKILL)
	_ = stack.worker.Wait()
}

func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
	}
}

func ferryEnv() []string {
	return append(os.Environ(), "TEMPORAL_ADDRESS="+stack.address, "FERRY_IDENTITY=ci-bot", "FERRY_LOG_LEVEL=warn")
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitServing waits until the server answers a listing. An open port is not enough: ferry dev holds its ports
// while it starts, and releases them just before the server binds them.
func waitServing(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		cmd := exec.Command(stack.bin, "list", "--output", "json")
		cmd.Env = ferryEnv()
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s never served a listing: %v\n%s", stack.address, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitPort(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New(addr + " never accepted connections")
}

// result of one ferry command.
type result struct {
	code   int
	stdout string
	stderr string
}

// ferry runs the binary and returns its exit code and output.
func ferry(t *testing.T, args ...string) result {
	t.Helper()
	return ferryEnvArgs(t, ferryEnv(), args...)
}

// mustFerry runs a command that must succeed.
func mustFerry(t *testing.T, args ...string) result {
	t.Helper()
	r := ferry(t, args...)
	if r.code != 0 {
		t.Fatalf("ferry %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// status reads a release's status through `ferry status --output json`.
func status(t *testing.T, service, version string) workflows.Status {
	t.Helper()
	r := mustFerry(t, "status", service, "--version", version, "--output", "json")
	var s workflows.Status
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("status json: %v\n%s", err, r.stdout)
	}
	return s
}

// awaitStatus polls the status until ok holds.
func awaitStatus(t *testing.T, service, version string, limit time.Duration, ok func(workflows.Status) bool) workflows.Status {
	t.Helper()
	deadline := time.Now().Add(limit)
	var s workflows.Status
	for time.Now().Before(deadline) {
		r := ferry(t, "status", service, "--version", version, "--output", "json")
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &s) == nil && ok(s) {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s %s: condition not reached in %v; last status %+v", service, version, limit, s)
	return s
}

// app is one service under test: platform scripts in the directory <exec root>/<service>, the log of their
// calls, and a spec beside that directory that names it as platform.exec.dir.
type app struct {
	t       *testing.T
	dir     string
	service string
}

// platformScript logs "op env track version weight" for every call. ready answers at once.
const platformScript = `#!/bin/sh
echo "$FERRY_OP $FERRY_ENV $FERRY_TRACK $FERRY_VERSION $FERRY_WEIGHT" >> "$(dirname "$0")/calls.log"
`

func newApp(t *testing.T, service, specYAML string, scripts map[string]string) *app {
	t.Helper()
	a := &app{t: t, dir: filepath.Join(stack.execRoot, service), service: service}
	if err := os.Mkdir(a.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(a.dir); os.Remove(a.spec()) })
	files := map[string]string{"platform.sh": platformScript, "pass.sh": "#!/bin/sh\nexit 0\n", "fail.sh": "#!/bin/sh\necho 'error rate 7%'\nexit 1\n"}
	for name, body := range scripts {
		files[name] = body
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(a.dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a.writeSpec(specYAML)
	return a
}

// writeSpec writes the app's spec: specYAML with SERVICE replaced and the app's directory as platform.exec.dir.
func (a *app) writeSpec(specYAML string) {
	a.t.Helper()
	specYAML = strings.Replace(specYAML, "\n  exec:\n", "\n  exec:\n    dir: SERVICE\n", 1)
	if err := os.WriteFile(a.spec(), []byte(strings.ReplaceAll(specYAML, "SERVICE", a.service)), 0o644); err != nil {
		a.t.Fatal(err)
	}
}

func (a *app) spec() string { return filepath.Join(stack.execRoot, a.service+".yaml") }

// calls returns the platform calls so far, one per line.
func (a *app) calls() []string {
	data, err := os.ReadFile(filepath.Join(a.dir, "calls.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		a.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func (a *app) wantCalls(want ...string) {
	a.t.Helper()
	if got, w := strings.Join(a.calls(), "\n"), strings.Join(want, "\n"); got != w {
		a.t.Errorf("platform calls:\ngot:\n%s\n\nwant:\n%s", got, w)
	}
}

func (a *app) start(version string, extra ...string) result {
	a.t.Helper()
	args := append([]string{"start", "--spec", a.spec(), "--version", version, "--git-sha", "0a1b2c3"}, extra...)
	return ferry(a.t, args...)
}
