package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/workflows"
)

// ownServer is a `ferry dev` with its in-process worker, of the test's own: on a fixed port with its state in
// a SQLite file, so that the test can kill it and start it again where it was without disturbing the shared
// stack.
type ownServer struct {
	t       *testing.T
	port    int
	db      string
	address string
	cmd     *exec.Cmd
	starts  int
	logFile string
}

func newOwnServer(t *testing.T) *ownServer {
	t.Helper()
	port := freePort()
	s := &ownServer{t: t, port: port, db: filepath.Join(t.TempDir(), "ferry.db"), address: fmt.Sprintf("127.0.0.1:%d", port)}
	s.start()
	t.Cleanup(s.kill)
	// The port opens before the namespace and search attributes are ready.
	deadline := time.Now().Add(time.Minute)
	for s.ferry("list").code != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("ferry dev --db-file not ready after a minute (log in %s)", s.logFile)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s
}

// start runs the server and waits until it accepts connections.
func (s *ownServer) start() {
	s.t.Helper()
	s.starts++
	name := fmt.Sprintf("%s-dev-%d", strings.ReplaceAll(s.t.Name(), "/", "-"), s.starts)
	s.logFile = filepath.Join(stack.logDir, name+".log")
	// Its in-process worker runs the apps from the exec root that every app of these tests lives in.
	s.cmd = background(name, "dev", "--port", fmt.Sprint(s.port), "--ui-port", "-1", "--db-file", s.db, "--exec-root", stack.execRoot)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	if err := waitPort(s.address, time.Minute); err != nil {
		s.t.Fatalf("ferry dev --db-file: %v (log in %s)", err, stack.logDir)
	}
}

// kill kills the server and its worker's commands outright (SIGKILL to its process group), as a crash would.
func (s *ownServer) kill() {
	if s.cmd == nil || s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
}

// ferry runs a ferry command against this server.
func (s *ownServer) ferry(args ...string) result {
	s.t.Helper()
	return ferry(s.t, append(args, "--address", s.address)...)
}

// follow runs a following command against this server in the background and returns a channel with its
// result.
func (s *ownServer) follow(args ...string) <-chan result {
	ch := make(chan result, 1)
	go func() { ch <- s.ferry(args...) }()
	return ch
}

// awaitStatus polls the status of service at version until ok holds.
func (s *ownServer) awaitStatus(service, version string, limit time.Duration, ok func(workflows.Status) bool) {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	var st workflows.Status
	var r result
	for time.Now().Before(deadline) {
		r = s.ferry("status", service, "--version", version, "--output", "json")
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &st) == nil && ok(st) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, _ := os.ReadFile(s.logFile)
	s.t.Fatalf("%s %s: condition not reached in %v; last status %+v\nexit %d, stderr %s\nserver log:\n%s", service, version, limit, st, r.code, r.stderr, log)
}

// The Temporal server is killed (SIGKILL) mid-release and started again a few seconds later on the same port
// and SQLite file: `start --wait` and `status --watch` say that they reconnect, ride out the outage and exit
// with the release's real outcome.
func TestFollowSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	s := newOwnServer(t)
	a := newApp(t, "pricing", canary("auto", "8s", "pass"), nil)
	waiting := s.follow("start", "--spec", a.spec(), "--version", "13.0.0", "--git-sha", "0a1b2c3", "--wait")
	s.awaitStatus("pricing", "13.0.0", 2*time.Minute, func(st workflows.Status) bool {
		return st.Env == "production" && st.Weight == 10 && !st.BakeUntil.IsZero()
	})
	watching := s.follow("status", "pricing", "--version", "13.0.0", "--watch")
	time.Sleep(2 * time.Second) // the watch has seen the release
	s.kill()
	time.Sleep(5 * time.Second)
	s.start()

	for name, ch := range map[string]<-chan result{"start --wait": waiting, "status --watch": watching} {
		r := waitResult(t, ch, 3*time.Minute)
		if r.code != 0 {
			t.Errorf("%s: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", name, r.code, r.stdout, r.stderr)
			continue
		}
		for _, want := range []string{"lost Temporal (", "; reconnecting in ", "reconnected to Temporal after "} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s: stdout does not say %q:\n%s", name, want, r.stdout)
			}
		}
		if strings.Contains(r.stderr, "unexpected") {
			t.Errorf("%s: stderr %q", name, r.stderr)
		}
		t.Logf("%s:\n%s", name, r.stdout)
	}
	if st := s.ferry("status", "pricing", "--version", "13.0.0"); !strings.HasPrefix(st.stdout, "pricing 13.0.0: succeeded\n") {
		t.Errorf("status after the outage: got %q", st.stdout)
	}
	a.wantCalls(wantRelease("13.0.0")...)
}

// The server stays down past --reconnect-timeout: both followers give up with exit 3 (unreachable) and say
// that the release goes on.
func TestFollowGivesUpPastReconnectTimeout(t *testing.T) {
	t.Parallel()
	s := newOwnServer(t)
	a := newApp(t, "tax", canary("auto", "10m", "pass"), nil)
	waiting := s.follow("start", "--spec", a.spec(), "--version", "14.0.0", "--git-sha", "0a1b2c3", "--wait", "--reconnect-timeout", "4s")
	s.awaitStatus("tax", "14.0.0", 2*time.Minute, func(st workflows.Status) bool {
		return st.Env == "production" && !st.BakeUntil.IsZero()
	})
	watching := s.follow("status", "tax", "--version", "14.0.0", "--watch", "--reconnect-timeout", "4s", "--output", "json")
	time.Sleep(2 * time.Second)
	killed := time.Now()
	s.kill()

	for name, ch := range map[string]<-chan result{"start --wait": waiting, "status --watch -o json": watching} {
		r := waitResult(t, ch, 2*time.Minute)
		t.Logf("%s: exit %d after %v\nstdout:\n%s\nstderr:\n%s", name, r.code, time.Since(killed).Round(time.Second), r.stdout, r.stderr)
		if r.code != 3 {
			t.Errorf("%s: exit %d, want 3", name, r.code)
		}
		want := "ferry: lost Temporal for "
		if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, " while following tax 14.0.0 (") ||
			!strings.Contains(r.stderr, "hint: the release goes on without this command") {
			t.Errorf("%s: stderr does not say %q and the hint", name, want)
		}
		if !strings.Contains(r.stdout+r.stderr, "reconnecting in ") {
			t.Errorf("%s: says nothing of reconnecting", name)
		}
	}
}

// --timeout stops following, not the release: exit 8 with where the release is, and the release goes on and
// can be followed again.
func TestFollowTimeoutLeavesReleaseRunning(t *testing.T) {
	t.Parallel()
	a := newApp(t, "reviews", canary("auto", "6s", "pass"), nil)
	r := a.start("15.0.0", "--wait", "--timeout", "3s")
	if r.code != 8 || !strings.Contains(r.stderr, "ferry: reviews 15.0.0 still running after --timeout 3s (") ||
		!strings.Contains(r.stderr, "hint: the release goes on: `ferry status reviews --version 15.0.0 --watch` follows it") {
		t.Fatalf("start --wait --timeout 3s: exit %d, want 8\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if s := status(t, "reviews", "15.0.0"); s.State != workflows.StateRunning {
		t.Errorf("after --timeout: got state %s, want running", s.State)
	}
	r = ferry(t, "status", "reviews", "--version", "15.0.0", "--watch", "--timeout", "1s")
	if r.code != 8 {
		t.Errorf("status --watch --timeout 1s: exit %d, want 8\n%s", r.code, r.stderr)
	}
	r = ferry(t, "status", "reviews", "--version", "15.0.0", "--watch")
	if r.code != 0 || !strings.HasSuffix(r.stdout, "reviews 15.0.0: succeeded\n") {
		t.Errorf("status --watch: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	a.wantCalls(wantRelease("15.0.0")...)
}

// outageSpec is a short one-environment canary: E2E decides the outcome (pass: succeeded, fail: rolled back).
const outageSpec = execPlatformSpec + `environments:
  - name: production
    strategy:
      type: canary
      steps: [{weight: 50, bake: 3s}, {weight: 100}]
    checks:
      e2e: [{exec: [./E2E.sh]}]
`

// The server is killed for 8 s while `ferry start --wait` follows a release, 20 times in a row, each release
// ending another way (succeeded, rolled back): the follower's exit code is the release's outcome every time,
// never an error the outage or the restart caused (as "no poller seen" right after a restart once was).
func TestFollowerExitIsTheOutcomeAcrossOutages(t *testing.T) {
	t.Parallel()
	const rounds = 20
	s := newOwnServer(t)
	wantCode := map[string]int{workflows.StateSucceeded: 0, workflows.StateRolledBack: 5}
	for i := range rounds {
		e2e := []string{"pass", "fail"}[i%2]
		a := newApp(t, fmt.Sprintf("outage%d", i), strings.ReplaceAll(outageSpec, "E2E", e2e), nil)
		version := fmt.Sprintf("1.0.%d", i)
		waiting := s.follow("start", "--spec", a.spec(), "--version", version, "--git-sha", "0a1b2c3", "--wait")
		s.awaitStatus(a.service, version, time.Minute, func(st workflows.Status) bool {
			return st.Weight == 50 && !st.BakeUntil.IsZero()
		})
		s.kill()
		time.Sleep(8 * time.Second) // the outage itself
		s.start()
		r := waitResult(t, waiting, 2*time.Minute)
		var st workflows.Status
		s.awaitStatus(a.service, version, time.Minute, func(got workflows.Status) bool {
			st = got
			return got.State != workflows.StateRunning
		})
		want, ok := wantCode[st.State]
		if !ok || r.code != want {
			t.Fatalf("round %d (%s): follower exit %d, release %s (want exit %d)\nstdout:\n%s\nstderr:\n%s", i, e2e, r.code, st.State, want, r.stdout, r.stderr)
		}
		if wantState := map[string]string{"pass": workflows.StateSucceeded, "fail": workflows.StateRolledBack}[e2e]; st.State != wantState {
			t.Fatalf("round %d: release %s, want %s", i, st.State, wantState)
		}
	}
}
