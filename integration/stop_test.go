package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/execrun/exectest"
	"github.com/ferryhq/ferry/workflows"
)

// heldScript is a platform script whose calls a test can hold running. It logs each call as "op env track
// version weight" to calls.log and its start and end, with a timestamp, to times.log. While a file hold-<op>
// exists beside it, the call keeps running; once the file is gone it logs "finished <call>". On SIGTERM it
// takes a second to wind down and logs "terminated <call>".
const heldScript = `#!/bin/sh
dir=$(dirname "$0")
call="$FERRY_OP $FERRY_ENV $FERRY_TRACK $FERRY_VERSION $FERRY_WEIGHT"
stamp() { echo "$(date +%s.%N) $1 $call" >> "$dir/times.log"; }
echo "$call" >> "$dir/calls.log"
echo $$ > "$dir/pid-$FERRY_OP"
stamp start
trap 'sleep 1; echo "terminated $call" >> "$dir/calls.log"; stamp end; exit 143' TERM
if [ -e "$dir/hold-$FERRY_OP" ]; then
	while [ -e "$dir/hold-$FERRY_OP" ]; do sleep 0.1; done
	echo "finished $call" >> "$dir/calls.log"
fi
stamp end
`

// heldSpec runs every platform operation through heldScript, in one environment with the given strategy.
const heldSpec = `service: SERVICE
image: {repository: registry.local/SERVICE}
platform:
  exec:
    deploy: [./held.sh]
    setWeight: [./held.sh]
    promote: [./held.sh]
    rollback: [./held.sh]
    remove: [./held.sh]
    ready: [./held.sh]
environments:
  - name: production
    strategy: STRATEGY
`

const (
	rollingStrategy = `{type: rolling}`
	canaryStrategy  = `{type: canary, steps: [{weight: 10, bake: 10m}, {weight: 100}]}`
)

func newHeldApp(t *testing.T, service, strategy string) *app {
	t.Helper()
	return newApp(t, service, strings.Replace(heldSpec, "STRATEGY", strategy, 1), map[string]string{"held.sh": heldScript})
}

// hold makes the next calls of op keep running until release.
func (a *app) hold(op string) {
	a.t.Helper()
	if err := os.WriteFile(filepath.Join(a.dir, "hold-"+op), nil, 0o644); err != nil {
		a.t.Fatal(err)
	}
}

// release lets the held calls of op finish.
func (a *app) release(op string) {
	a.t.Helper()
	if err := os.Remove(filepath.Join(a.dir, "hold-"+op)); err != nil {
		a.t.Fatal(err)
	}
}

// awaitCalls waits until the platform log holds n calls equal to call.
func (a *app) awaitCalls(call string, n int, limit time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := 0
		for _, c := range a.calls() {
			if c == call {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("got %d calls %q after %v, want %d; calls:\n%s", got, call, limit, n, strings.Join(a.calls(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pid returns the process of the latest call of op.
func (a *app) pid(op string) int {
	a.t.Helper()
	return exectest.WaitForPid(a.t, filepath.Join(a.dir, "pid-"+op))
}

// stamp returns when the first call matching "start <call>" or "end <call>" (event and call) was logged.
func (a *app) stamp(event, call string) (time.Time, bool) {
	data, err := os.ReadFile(filepath.Join(a.dir, "times.log"))
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		at, rest, ok := strings.Cut(line, " ")
		if !ok || rest != event+" "+call {
			continue
		}
		secs, err := strconv.ParseFloat(at, 64)
		if err != nil {
			a.t.Fatalf("times.log: %q: %v", line, err)
		}
		return time.Unix(0, int64(secs*float64(time.Second))), true
	}
	return time.Time{}, false
}

// signalWorker sends sig to the worker process.
func signalWorker(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := stack.worker.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// stoppingWorker is for a test that stops the current worker: the channel is closed once that worker has
// exited. However the test ends, a worker runs after it.
func stoppingWorker(t *testing.T) <-chan struct{} {
	w := stack.worker
	exit := make(chan struct{})
	go func() {
		_ = w.Wait()
		close(exit)
	}()
	t.Cleanup(func() {
		if stack.worker != w {
			return // the test started the next worker
		}
		_ = w.Process.Signal(syscall.SIGKILL)
		<-exit
		if err := startWorker(); err != nil {
			t.Error(err)
		}
	})
	return exit
}

// An abort while the deploy command runs: the command gets SIGTERM and time to wind down, and the rollback's
// first command starts only after it has exited.
func TestAbortWaitsForCancelledCommand(t *testing.T) {
	a := newHeldApp(t, "cart", canaryStrategy)
	a.hold("deploy")
	done := startWaiting(a, "9.0.0")
	deploy := "deploy production canary 9.0.0 0"
	a.awaitCalls(deploy, 1, time.Minute)
	pid := a.pid("deploy")
	time.Sleep(6 * time.Second) // past the command's first heartbeat
	aborted := time.Now()
	mustFerry(t, "abort", "cart", "--version", "9.0.0", "--reason", "wrong build")

	// How long the cancelled command runs on after the abort, however it ends.
	exited := make(chan time.Time, 1)
	go func() {
		for exectest.Alive(pid) {
			time.Sleep(20 * time.Millisecond)
		}
		exited <- time.Now()
	}()
	if r := waitResult(t, done, 2*time.Minute); r.code != 6 {
		t.Fatalf("start --wait: exit %d, want 6 (aborted)\n%s", r.code, r.stderr)
	}
	select {
	case at := <-exited:
		t.Logf("the cancelled deploy exited %v after the abort", at.Sub(aborted).Round(time.Millisecond))
	case <-time.After(time.Minute):
		t.Errorf("the cancelled deploy still runs a minute after the abort")
	}
	if at, ok := a.stamp("start", "set-weight production canary 9.0.0 0"); ok {
		t.Logf("the rollback's first command started %v after the abort", at.Sub(aborted).Round(time.Millisecond))
	}
	a.wantCalls(
		deploy,
		"terminated "+deploy, // SIGTERM, and time to wind down, before the rollback starts
		"set-weight production canary 9.0.0 0",
		"remove production canary 9.0.0 0",
	)
}

// SIGTERM to the worker while a platform command runs: the worker waits for the command to finish, exits,
// and the next worker carries on without running the command again.
func TestWorkerStopLetsCommandFinish(t *testing.T) {
	a, done, deploy, exit := stopDuringDeploy(t, "profile", "10.0.0")
	select {
	case <-exit:
		t.Fatalf("the worker exited while its command ran; calls:\n%s", strings.Join(a.calls(), "\n"))
	case <-time.After(3 * time.Second):
	}
	a.release("deploy")
	select {
	case <-exit:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker still runs 30s after its command could finish")
	}
	a.wantCalls(deploy, "finished "+deploy)

	if err := startWorker(); err != nil {
		t.Fatal(err)
	}
	if r := waitResult(t, done, 2*time.Minute); r.code != 0 {
		t.Fatalf("start --wait: exit %d\n%s", r.code, r.stderr)
	}
	a.wantCalls(deploy, "finished "+deploy, "ready production stable 10.0.0 0")
}

// A second SIGTERM stops the running command (SIGTERM first, so it winds down) and the worker exits; the
// next worker runs the command again.
func TestWorkerSecondSignalStopsCommand(t *testing.T) {
	a, done, deploy, exit := stopDuringDeploy(t, "avatar", "12.0.0")
	time.Sleep(time.Second)
	signalWorker(t, syscall.SIGTERM)
	select {
	case <-exit:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker still runs 30s after the second SIGTERM")
	}
	a.wantCalls(deploy, "terminated "+deploy)

	a.release("deploy")
	if err := startWorker(); err != nil {
		t.Fatal(err)
	}
	if r := waitResult(t, done, 2*time.Minute); r.code != 0 {
		t.Fatalf("start --wait: exit %d\n%s", r.code, r.stderr)
	}
	a.wantCalls(deploy, "terminated "+deploy, deploy, "ready production stable 12.0.0 0")
}

// A worker killed with SIGKILL while a rollback's command runs: the command dies with it, and the next worker
// completes the rollback exactly once.
func TestWorkerKilledDuringRollback(t *testing.T) {
	a := newHeldApp(t, "shipping", canaryStrategy)
	done := startWaiting(a, "11.0.0")
	awaitStatus(t, "shipping", "11.0.0", time.Minute, func(s workflows.Status) bool { return !s.BakeUntil.IsZero() })
	a.hold("remove")
	mustFerry(t, "abort", "shipping", "--version", "11.0.0", "--reason", "bad canary")
	remove := "remove production canary 11.0.0 0"
	a.awaitCalls(remove, 1, time.Minute)
	killWorker()
	time.Sleep(2 * time.Second)
	if err := startWorker(); err != nil {
		t.Fatal(err)
	}
	// The retry runs once the server has missed the killed attempt's heartbeats; an orphan of the killed
	// worker, had it survived, would now finish beside it.
	a.awaitCalls(remove, 2, 2*time.Minute)
	a.release("remove")
	if r := waitResult(t, done, 2*time.Minute); r.code != 6 {
		t.Fatalf("start --wait: exit %d, want 6 (aborted)\n%s", r.code, r.stderr)
	}
	a.wantCalls(
		"deploy production canary 11.0.0 0",
		"ready production canary 11.0.0 0",
		"set-weight production canary 11.0.0 10",
		"set-weight production canary 11.0.0 0",
		remove, // killed with the worker
		remove,
		"finished "+remove,
	)
	if s := status(t, "shipping", "11.0.0"); s.State != workflows.StateAborted || s.Environments[0].State != workflows.StateRolledBack {
		t.Errorf("got state %s, production %s; want aborted, rolled back", s.State, s.Environments[0].State)
	}
}

// stopDuringDeploy starts a rolling release of version whose deploy command is held, and sends the worker
// SIGTERM once that command runs. It returns the app, the release's result, the deploy's call line and the
// worker's exit.
func stopDuringDeploy(t *testing.T, service, version string) (*app, <-chan result, string, <-chan struct{}) {
	t.Helper()
	a := newHeldApp(t, service, rollingStrategy)
	a.hold("deploy")
	done := startWaiting(a, version)
	deploy := "deploy production stable " + version + " 0"
	a.awaitCalls(deploy, 1, time.Minute)
	exit := stoppingWorker(t)
	signalWorker(t, syscall.SIGTERM)
	return a, done, deploy, exit
}
