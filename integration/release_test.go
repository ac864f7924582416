package integration

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/ferryhq/ferry/workflows"
)

// execPlatformSpec is the head of the tests' specs: a service on the exec platform, every operation run by the
// app's platform.sh.
const execPlatformSpec = `service: SERVICE
image: {repository: registry.local/SERVICE}
platform:
  exec:
    deploy: [./platform.sh]
    setWeight: [./platform.sh]
    promote: [./platform.sh]
    rollback: [./platform.sh]
    remove: [./platform.sh]
    ready: [./platform.sh]
`

const canarySpec = execPlatformSpec + `environments:
  - name: staging
    strategy: {type: rolling}
    checks:
      smoke: [{exec: [./pass.sh]}]
  - name: production
    gate: GATE
    strategy:
      type: canary
      steps: [{weight: 10, bake: BAKE}, {weight: 50, bake: BAKE}, {weight: 100}]
      analysis: {interval: 1s, checks: [{name: error-rate, exec: [./ANALYSIS.sh]}]}
`

func canary(gate, bake, analysis string) string {
	return strings.NewReplacer("GATE", gate, "BAKE", bake, "ANALYSIS", analysis).Replace(canarySpec)
}

const approvalGate = `{approval: {approvers: [release-lead, sre-oncall]}}`

// wantRelease is the exact platform log of a successful first release of version v.
func wantRelease(v string) []string {
	return []string{
		"deploy staging stable " + v + " 0",
		"ready staging stable " + v + " 0",
		"deploy production canary " + v + " 0",
		"ready production canary " + v + " 0",
		"set-weight production canary " + v + " 10",
		"set-weight production canary " + v + " 50",
		"set-weight production canary " + v + " 100",
		"promote production canary " + v + " 100",
		"set-weight production canary " + v + " 0",
		"remove production canary " + v + " 0",
	}
}

// startWaiting runs `ferry start --wait` in the background and returns a channel with its result.
func startWaiting(a *app, version string) <-chan result {
	ch := make(chan result, 1)
	go func() { ch <- a.start(version, "--wait") }()
	return ch
}

func waitResult(t *testing.T, ch <-chan result, limit time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(limit):
		t.Fatalf("ferry start --wait did not return within %v", limit)
		return result{}
	}
}

func TestCanaryReleaseWithApproval(t *testing.T) {
	t.Parallel()
	a := newApp(t, "checkout", canary(approvalGate, "3s", "pass"), nil)
	done := startWaiting(a, "1.0.0")
	awaitStatus(t, "checkout", "1.0.0", time.Minute, func(s workflows.Status) bool {
		return s.Env == "production" && s.Stage == workflows.StageGate && s.Waiting != ""
	})

	// Wrong-state decisions at the gate: rejected with a reason, exit 2, nothing changes.
	r := ferry(t, "promote", "checkout", "--version", "1.0.0")
	if r.code != 2 || !strings.Contains(r.stderr, "checkout 1.0.0 has no step to promote: it is waiting for approval by release-lead or sre-oncall (0/1) in production") {
		t.Errorf("promote at the gate: exit %d, stderr %q", r.code, r.stderr)
	}
	r = ferry(t, "approve", "checkout", "--env", "production", "--version", "1.0.0", "--as", "mallory")
	if r.code != 2 || !strings.Contains(r.stderr, "mallory may not approve checkout 1.0.0 in production") {
		t.Errorf("approve by a stranger: exit %d, stderr %q", r.code, r.stderr)
	}
	if s := status(t, "checkout", "1.0.0"); s.Stage != workflows.StageGate || len(s.Approvals) != 0 || len(s.Decisions) != 0 {
		t.Errorf("rejected decisions changed the release: %+v", s)
	}

	mustFerry(t, "approve", "checkout", "--env", "production", "--version", "1.0.0", "--as", "release-lead", "--reason", "ship it")
	awaitStatus(t, "checkout", "1.0.0", time.Minute, func(s workflows.Status) bool { return !s.BakeUntil.IsZero() })
	r = ferry(t, "approve", "checkout", "--env", "production", "--version", "1.0.0", "--as", "sre-oncall")
	if r.code != 2 || !strings.Contains(r.stderr, "checkout 1.0.0 is not waiting for approval in production: it is baking the") {
		t.Errorf("approve while baking: exit %d, stderr %q", r.code, r.stderr)
	}

	if r := waitResult(t, done, 2*time.Minute); r.code != 0 {
		t.Fatalf("start --wait: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	a.wantCalls(wantRelease("1.0.0")...)

	h := mustFerry(t, "history", "checkout", "--version", "1.0.0")
	for _, want := range []string{"release-lead", "ship it", "approve"} {
		if !strings.Contains(h.stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, h.stdout)
		}
	}
	l := mustFerry(t, "list", "--service", "checkout", "--output", "json")
	if !strings.Contains(l.stdout, `"1.0.0"`) || !strings.Contains(l.stdout, workflows.StateSucceeded) {
		t.Errorf("list: %s", l.stdout)
	}
}

func TestCanaryAnalysisFailureRollsBack(t *testing.T) {
	t.Parallel()
	a := newApp(t, "payments", canary("auto", "3s", "fail"), nil)
	r := a.start("2.0.0", "--wait")
	if r.code != 5 {
		t.Fatalf("start --wait: exit %d, want 5 (rolled back)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	a.wantCalls(
		"deploy staging stable 2.0.0 0",
		"ready staging stable 2.0.0 0",
		"deploy production canary 2.0.0 0",
		"ready production canary 2.0.0 0",
		"set-weight production canary 2.0.0 10",
		"set-weight production canary 2.0.0 0", // traffic back at 100 % stable
		"remove production canary 2.0.0 0",
	)
	s := status(t, "payments", "2.0.0")
	if s.State != workflows.StateRolledBack || !strings.Contains(s.Reason, "error rate 7%") {
		t.Errorf("got state %q reason %q, want rolled_back naming the analysis output", s.State, s.Reason)
	}
}

func TestAbortDuringBakeRollsBack(t *testing.T) {
	t.Parallel()
	a := newApp(t, "search", canary("auto", "30s", "pass"), nil)
	done := startWaiting(a, "3.0.0")
	awaitStatus(t, "search", "3.0.0", time.Minute, func(s workflows.Status) bool { return !s.BakeUntil.IsZero() })
	if r := ferry(t, "abort", "search", "--version", "3.0.0"); r.code != 2 {
		t.Errorf("abort without a reason: exit %d, want 2", r.code)
	}
	mustFerry(t, "abort", "search", "--version", "3.0.0", "--reason", "wrong build")
	if r := waitResult(t, done, time.Minute); r.code != 6 {
		t.Fatalf("start --wait: exit %d, want 6 (aborted)\n%s", r.code, r.stderr)
	}
	calls := a.calls()
	if n := len(calls); n < 2 || calls[n-2] != "set-weight production canary 3.0.0 0" || calls[n-1] != "remove production canary 3.0.0 0" {
		t.Errorf("got calls %q, want a rollback at the end", calls)
	}
	if r := ferry(t, "abort", "search", "--version", "3.0.0", "--reason", "again"); r.code != 2 {
		t.Errorf("abort of a finished release: exit %d, want 2", r.code)
	}
}

// A worker killed with SIGKILL mid-bake: the restarted worker finishes the release with the same result
// and no platform command runs twice.
func TestWorkerKilledDuringBake(t *testing.T) {
	a := newApp(t, "inventory", canary("auto", "6s", "pass"), nil)
	done := startWaiting(a, "4.0.0")
	awaitStatus(t, "inventory", "4.0.0", time.Minute, func(s workflows.Status) bool {
		return s.Weight == 10 && !s.BakeUntil.IsZero()
	})
	killWorker()
	time.Sleep(2 * time.Second)
	if err := startWorker(); err != nil {
		t.Fatal(err)
	}
	if r := waitResult(t, done, 2*time.Minute); r.code != 0 {
		t.Fatalf("start --wait after the worker restart: exit %d\n%s", r.code, r.stderr)
	}
	a.wantCalls(wantRelease("4.0.0")...)
}

func TestStartIsIdempotent(t *testing.T) {
	t.Parallel()
	a := newApp(t, "catalog", canary("auto", "1s", "pass"), nil)
	first := a.start("5.0.0", "--output", "json")
	second := a.start("5.0.0", "--output", "json")
	if first.code != 0 || second.code != 0 {
		t.Fatalf("exit codes %d and %d, want 0 and 0\n%s\n%s", first.code, second.code, first.stderr, second.stderr)
	}
	var one, two struct {
		RunID   string `json:"runId"`
		Existed bool   `json:"existed"`
	}
	if err := json.Unmarshal([]byte(first.stdout), &one); err != nil {
		t.Fatalf("%v: %s", err, first.stdout)
	}
	if err := json.Unmarshal([]byte(second.stdout), &two); err != nil {
		t.Fatalf("%v: %s", err, second.stdout)
	}
	if one.RunID == "" || one.RunID != two.RunID || one.Existed || !two.Existed {
		t.Errorf("got %+v then %+v, want the same run, the second marked existed", one, two)
	}
	l := mustFerry(t, "list", "--service", "catalog", "--output", "json")
	if n := strings.Count(l.stdout, `"5.0.0"`); n != 1 {
		t.Errorf("list shows 5.0.0 %d times, want once:\n%s", n, l.stdout)
	}
}

func TestValidateAndBadInput(t *testing.T) {
	t.Parallel()
	a := newApp(t, "billing", canary("auto", "1s", "pass"), nil)
	if r := ferry(t, "validate", a.spec()); r.code != 0 {
		t.Errorf("validate a good spec: exit %d\n%s", r.code, r.stderr)
	}
	bad := strings.Replace(canary("auto", "1s", "pass"), "weight: 50", "weight: 150", 1)
	if err := os.WriteFile(a.spec(), []byte(strings.ReplaceAll(bad, "SERVICE", "billing")), 0o644); err != nil {
		t.Fatal(err)
	}
	r := ferry(t, "validate", a.spec())
	if r.code != 2 || !strings.Contains(r.stdout+r.stderr, "environments[1].strategy.steps[1].weight: must be 1..100, got 150") {
		t.Errorf("validate a bad spec: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := a.start("6.0.0"); r.code != 2 {
		t.Errorf("start with a bad spec: exit %d, want 2", r.code)
	}
	if r := ferry(t, "status", "billing", "--version", "6.0.0"); r.code != 2 {
		t.Errorf("status of a release that was never started: exit %d, want 2\n%s", r.code, r.stderr)
	}
}

func TestTemporalUnreachable(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(stack.bin, "list")
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS=127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(string(out), "hint:") {
		t.Errorf("got %v\n%s\nwant exit 3 with a hint", err, out)
	}
}

// A newer release reaching the production gate supersedes the older one waiting there; the older one
// never deploys to production, and the newer one does once approved.
func TestNewerReleaseSupersedesOneWaitingAtGate(t *testing.T) {
	t.Parallel()
	a := newApp(t, "orders", canary(approvalGate, "1s", "pass"), nil)
	older := startWaiting(a, "7.0.0")
	awaitStatus(t, "orders", "7.0.0", time.Minute, func(s workflows.Status) bool {
		return s.Env == "production" && s.Stage == workflows.StageGate && s.Waiting != ""
	})
	newer := startWaiting(a, "7.0.1")
	if r := waitResult(t, older, time.Minute); r.code != 7 {
		t.Fatalf("older release: exit %d, want 7 (superseded)\n%s", r.code, r.stderr)
	}
	if s := status(t, "orders", "7.0.0"); s.State != workflows.StateSuperseded || s.Reason != "superseded by 7.0.1" {
		t.Errorf("older release: got %s %q, want superseded by 7.0.1", s.State, s.Reason)
	}
	awaitStatus(t, "orders", "7.0.1", time.Minute, func(s workflows.Status) bool {
		return s.Env == "production" && s.Stage == workflows.StageGate && s.Waiting != ""
	})
	mustFerry(t, "approve", "orders", "--env", "production", "--as", "sre-oncall") // no --version: the running one
	if r := waitResult(t, newer, time.Minute); r.code != 0 {
		t.Fatalf("newer release: exit %d\n%s", r.code, r.stderr)
	}
	want := []string{"deploy staging stable 7.0.0 0", "ready staging stable 7.0.0 0"}
	a.wantCalls(append(want, wantRelease("7.0.1")...)...)
}

// A release terminated while it holds the production lock never gives it back; the EnvLock notices within
// its liveness interval (a minute) and lets the next release deploy.
func TestTerminatedHolderFreesTheLock(t *testing.T) {
	t.Parallel()
	a := newApp(t, "ledger", canary("auto", "5m", "pass"), nil)
	a.start("8.0.0")
	awaitStatus(t, "ledger", "8.0.0", time.Minute, func(s workflows.Status) bool { return !s.BakeUntil.IsZero() })
	a.writeSpec(canary("auto", "1s", "pass"))
	next := startWaiting(a, "8.0.1")
	awaitStatus(t, "ledger", "8.0.1", time.Minute, func(s workflows.Status) bool {
		return s.Env == "production" && s.Stage == workflows.StageLock
	})
	c, err := client.Dial(client.Options{HostPort: stack.address, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.TerminateWorkflow(context.Background(), workflows.ReleaseWorkflowID("ledger", "8.0.0"), "", "stuck"); err != nil {
		t.Fatal(err)
	}
	if r := waitResult(t, next, 3*time.Minute); r.code != 0 {
		t.Fatalf("release after the terminated holder: exit %d\n%s", r.code, r.stderr)
	}
	calls := a.calls()
	if last := calls[len(calls)-1]; last != "remove production canary 8.0.1 0" {
		t.Errorf("got last call %q, want 8.0.1 promoted in production", last)
	}
}
