package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/worker"
	"github.com/ferryhq/ferry/workflows"
)

// devServer runs `ferry dev` in-process on free ports, with extra flags such as --no-worker, and returns its
// address once it is ready. Its worker may run `true`, the only program the live tests' specs run. The server
// stops when the test ends.
func devServer(t *testing.T, flags ...string) string {
	t.Helper()
	if !slices.Contains(flags, "--no-worker") {
		flags = append(flags, "--exec-allow", "true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	args := append([]string{"ferry", "dev", "--port", "0", "--ui-port", "-1", "-o", "json"}, flags...)
	go func() {
		done <- run(ctx, args, &out, &errOut)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("ferry dev exited %d: %s", code, errOut.String())
		}
	})
	deadline := time.After(time.Minute)
	for {
		var doc devDoc
		if json.Unmarshal([]byte(out.String()), &doc) == nil && doc.Address != "" {
			if noWorker := slices.Contains(flags, "--no-worker"); noWorker != (doc.TaskQueue == "") {
				t.Errorf("ferry dev %v reports task queue %q", flags, doc.TaskQueue)
			}
			return doc.Address
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("ferry dev exited %d before it was ready: %s", code, errOut.String())
		case <-deadline:
			t.Fatalf("ferry dev not ready after a minute: %s", errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestLiveCLI drives the CLI against `ferry dev`. Without a worker the releases stay at their start, which is
// all the client side needs: idempotent starts, listing, history, and the errors for missing releases.
func TestLiveCLI(t *testing.T) {
	clearEnv(t)
	t.Setenv("TEMPORAL_ADDRESS", devServer(t, "--no-worker"))
	spec := writeFile(t, "ferry.yaml", goodSpec)

	stdout, stderr, code := ferry(t, "list")
	if code != exitOK || stdout != "no releases\n" {
		t.Fatalf("list on an empty server: got %d %q %q", code, stdout, stderr)
	}
	if stdout, _, _ = ferry(t, "list", "-o", "json"); stdout != "[]\n" {
		t.Errorf("list -o json on an empty server: got %q, want []", stdout)
	}

	stdout, stderr, code = ferry(t, "start", "--spec", spec, "--version", "1.0.0", "--git-sha", "abc1234", "--as", "ci-bot")
	started := regexp.MustCompile(`^started hello 1\.0\.0 \(workflow ferry-release/hello/1\.0\.0, run ([0-9a-f-]+)\)\n$`).FindStringSubmatch(stdout)
	if code != exitOK || started == nil {
		t.Fatalf("start: got %d %q %q", code, stdout, stderr)
	}
	stdout, _, code = ferry(t, "start", "--spec", spec, "--version", "1.0.0", "--git-sha", "abc1234")
	if want := "hello 1.0.0 already started (run " + started[1] + ")\n"; code != exitOK || stdout != want {
		t.Errorf("start again: got %d %q, want 0 %q", code, stdout, want)
	}
	stdout, _, _ = ferry(t, "start", "--spec", spec, "--version", "1.0.0", "--git-sha", "abc1234", "--ui-url", "http://ui.test", "-o", "json")
	var doc startDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || !doc.Existed || doc.RunID != started[1] ||
		doc.UIURL != "http://ui.test/namespaces/default/workflows/ferry-release%2Fhello%2F1.0.0/"+started[1]+"/history" {
		t.Errorf("start -o json: got %+v (%v) from %q", doc, err, stdout)
	}

	eventually(t, func() error {
		stdout, _, _ := ferry(t, "list", "--service", "hello", "--state", "running")
		if !regexp.MustCompile(`(?m)^hello +1\.0\.0 +running +- +build `).MatchString(stdout) {
			return errors.New("list --service hello: got " + stdout)
		}
		return nil
	})

	// A list cut short by --limit says so, and how to see more; JSON keeps stdout to the array.
	if _, stderr, code := ferry(t, "start", "--spec", spec, "--version", "1.0.2", "--git-sha", "abc1235"); code != exitOK {
		t.Fatalf("start 1.0.2: got %d %q", code, stderr)
	}
	const more = "showing the first 1 release; more match: pass --limit 2 (or --service, --state) to see more\n"
	eventually(t, func() error {
		stdout, _, _ := ferry(t, "list", "--service", "hello", "--limit", "1")
		if !strings.HasSuffix(stdout, more) {
			return errors.New("list --limit 1: got " + stdout)
		}
		return nil
	})
	stdout, stderr, _ = ferry(t, "list", "--service", "hello", "--limit", "1", "-o", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) != 1 || rows[0]["startedAt"] == nil || stderr != more {
		t.Errorf("list --limit 1 -o json: got %q (%v) and stderr %q, want one row with startedAt, and the note on stderr", stdout, err, stderr)
	}
	if stdout, _, _ := ferry(t, "list", "--service", "hello", "--limit", "2"); strings.Contains(stdout, "more match") {
		t.Errorf("list of all: got %q, want no note", stdout)
	}

	stdout, _, code = ferry(t, "history", "hello", "--version", "1.0.0")
	if code != exitOK || !strings.Contains(stdout, "  release hello 1.0.0 started by ci-bot, git sha abc1234\n") {
		t.Errorf("history: got %d %q", code, stdout)
	}

	// Nothing answers a query without a worker; the CLI says so instead of waiting forever, after waiting as long
	// as it says.
	asked := time.Now()
	_, stderr, code = ferry(t, "status", "hello")
	waited := time.Since(asked)
	if code != exitUnreachable || !strings.HasPrefix(stderr, "ferry: no worker answered the status query within 10s\nhint: run `ferry worker`") {
		t.Errorf("status without a worker: got %d %q", code, stderr)
	}
	if waited < 10*time.Second {
		t.Errorf("status without a worker gave up after %v, want the 10s its message names", waited.Round(time.Millisecond))
	}

	for _, tt := range []struct {
		args    []string
		message string
	}{
		{[]string{"approve", "nosuch", "--env", "production"}, "no running release of nosuch"},
		{[]string{"status", "hello", "--version", "9.9.9"}, "no release hello 9.9.9"},
		{[]string{"history", "nosuch"}, "no release of nosuch"},
		{[]string{"abort", "hello", "--version", "9.9.9", "--reason", "test"}, "no release hello 9.9.9"},
	} {
		_, stderr, code := ferry(t, tt.args...)
		if code != exitRejected || !strings.HasPrefix(stderr, "ferry: "+tt.message+"\nhint: ") {
			t.Errorf("%v: got %d %q, want %d %q", tt.args, code, stderr, exitRejected, tt.message)
		}
	}
}

// eventually retries f until it succeeds: visibility follows workflows asynchronously.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gatedSpec releases to one environment behind an approval by alice; its platform commands do nothing.
const gatedSpec = `service: gated
image: {repository: registry.example.com/gated}
platform:
  exec:
    deploy: ["true"]
    rollback: ["true"]
    remove: ["true"]
environments:
  - name: production
    gate:
      approval: {approvers: [alice], quorum: 1}
`

// atGate waits until the release of version waits for approval.
func atGate(t *testing.T, version string) {
	t.Helper()
	eventually(t, func() error {
		stdout, stderr, _ := ferry(t, "status", "gated", "--version", version, "-o", "json")
		if !strings.Contains(stdout, `"waiting": "approval`) {
			return errors.New("not at the gate yet: " + stdout + stderr)
		}
		return nil
	})
}

// TestLiveRelease runs releases through the real worker and workflow, steered by the CLI: a refused and an
// accepted approval, start --wait and status --watch exit codes, an abort, and the history of it all.
func TestLiveRelease(t *testing.T) {
	clearEnv(t)
	t.Setenv("TEMPORAL_ADDRESS", devServer(t))
	spec := writeFile(t, "ferry.yaml", gatedSpec)

	type result struct {
		stdout, stderr string
		code           int
	}
	waited := make(chan result, 1)
	go func() {
		stdout, stderr, code := ferry(t, "start", "--spec", spec, "--version", "1.0.0", "--git-sha", "abc1234", "--as", "ci", "--wait")
		waited <- result{stdout, stderr, code}
	}()
	atGate(t, "1.0.0")

	_, stderr, code := ferry(t, "approve", "gated", "--env", "production", "--as", "mallory")
	if want := "ferry: mallory may not approve gated 1.0.0 in production: approvers are alice\n"; code != exitRejected || !strings.HasPrefix(stderr, want) {
		t.Errorf("approve by mallory: got %d %q, want %d %q", code, stderr, exitRejected, want)
	}
	stdout, stderr, code := ferry(t, "approve", "gated", "--env", "production", "--as", "alice", "--reason", "ship it")
	if code != exitOK || stdout != "approved gated 1.0.0 in production (1/1)\n" {
		t.Errorf("approve by alice: got %d %q %q", code, stdout, stderr)
	}
	select {
	case r := <-waited:
		if r.code != exitOK || !strings.HasSuffix(r.stdout, "gated 1.0.0 succeeded\n") {
			t.Errorf("start --wait: got %d %q %q, want 0 and success", r.code, r.stdout, r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("start --wait did not return after the approval")
	}
	if stdout, _, code := ferry(t, "status", "gated", "--watch"); code != exitOK || stdout != "gated 1.0.0: succeeded\n" {
		t.Errorf("status --watch of a finished release: got %d %q", code, stdout)
	}
	stdout, _, _ = ferry(t, "history", "gated")
	for _, want := range []string{"release gated 1.0.0 started by ci, git sha abc1234", `approve production by alice: "ship it"`, "release succeeded"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "mallory") {
		t.Errorf("history shows the refused approval:\n%s", stdout)
	}

	// An aborted release: the watch and a retried start --wait exit 6.
	if _, stderr, code := ferry(t, "start", "--spec", spec, "--version", "1.0.1", "--git-sha", "def5678"); code != exitOK {
		t.Fatalf("start 1.0.1: got %d %q", code, stderr)
	}
	atGate(t, "1.0.1")
	var watchOut, watchErr syncBuffer
	watched := make(chan int, 1)
	go func() {
		watched <- run(context.Background(), []string{"ferry", "status", "gated", "--watch"}, &watchOut, &watchErr)
	}()
	eventually(t, func() error {
		if !strings.Contains(watchOut.String(), "waiting for approval") {
			return errors.New("status --watch shows no gate: " + watchOut.String() + watchErr.String())
		}
		return nil
	})
	if stdout, stderr, code := ferry(t, "abort", "gated", "--reason", "bad build", "--as", "bob"); code != exitOK || !strings.HasPrefix(stdout, "aborting gated 1.0.1") {
		t.Errorf("abort: got %d %q %q", code, stdout, stderr)
	}
	first, last := "gated 1.0.1: production, waiting for approval by alice (0/1)\n", "\ngated 1.0.1: aborted: aborted by bob: bad build\n"
	if code := <-watched; code != exitAborted || !strings.HasPrefix(watchOut.String(), first) || !strings.HasSuffix(watchOut.String(), last) ||
		!strings.HasPrefix(watchErr.String(), "ferry: gated 1.0.1 aborted: aborted by bob: bad build\n") {
		t.Errorf("status --watch of an aborted release: got %d %q %q, want %d from %q to %q", code, watchOut.String(), watchErr.String(), exitAborted, first, last)
	}
	stdout, stderr, code = ferry(t, "start", "--spec", spec, "--version", "1.0.1", "--git-sha", "def5678", "--wait")
	if code != exitAborted || !strings.HasPrefix(stdout, "gated 1.0.1 already started") {
		t.Errorf("start --wait of the aborted release: got %d %q %q", code, stdout, stderr)
	}
	if _, stderr, code := ferry(t, "abort", "gated", "--reason", "again"); code != exitRejected || !strings.HasPrefix(stderr, "ferry: no running release of gated\n") {
		t.Errorf("abort with none running: got %d %q", code, stderr)
	}
}

// TestDemo runs `ferry demo` to the end where no Docker engine answers, so that it falls back to the exec
// platform: the release must succeed, with the demo's own approval, in time.
func TestDemo(t *testing.T) {
	clearEnv(t)
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
	start := time.Now()
	stdout, stderr, code := ferry(t, "demo", "--port", "0", "--ui-port", "-1", "--exit", "--approve-after", "1s", "--as", "tester")
	if code != exitOK {
		t.Fatalf("ferry demo exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"platform: exec (no Docker platform: docker engine: ",
		"; --platform docker insists)\n",
		"staging: succeeded\n",
		"production waits for approval; the demo approves it as demo-bot in 1s (yourself: ferry approve demo-shop --env production)\n",
		"demo-bot approved production\n",
		"demo-shop 1.0.0: production canary, step 2/3, weight 50%, bake ",
		"demo-shop 1.0.0 succeeded\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("the demo took %s, want under a minute", d)
	}
}

// targetSpec releases the service %s through %s; its platform commands do nothing, and each canary step bakes
// long enough for a test to act on it.
const targetSpec = `service: %s
image: {repository: registry.example.com/%[1]s}
platform:
  exec:
    deploy: ["true"]
    ready: ["true"]
    setWeight: ["true"]
    promote: ["true"]
    rollback: ["true"]
    remove: ["true"]
environments:
%s`

// Environments of targetSpec.
const (
	canaryEnv = `  - name: %s
    strategy:
      type: canary
      steps: [{weight: 10, bake: 10m}, {weight: 50, bake: 10m}, {weight: 100}]
`
	rollingEnv = `  - name: %s
    strategy: {type: rolling}
`
	gatedCanaryEnv = `  - name: %s
    gate:
      approval: {approvers: [alice], quorum: 1}
    strategy:
      type: canary
      steps: [{weight: 10, bake: 10m}, {weight: 100}]
`
)

// statusOf returns the status of one release of service, by `ferry status --version -o json`.
func statusOf(t *testing.T, service, version string) workflows.Status {
	t.Helper()
	stdout, stderr, code := ferry(t, "status", service, "--version", version, "-o", "json")
	var st workflows.Status
	if err := json.Unmarshal([]byte(stdout), &st); code != exitOK || err != nil {
		t.Fatalf("status %s --version %s: got %d %q %q (%v)", service, version, code, stdout, stderr, err)
	}
	return st
}

// waitFor waits until the release of service at version is in env at stage, with its bake running when stage is
// the canary: the state a decision acts on.
func waitFor(t *testing.T, service, version, env, stage string) {
	t.Helper()
	eventually(t, func() error {
		st := statusOf(t, service, version)
		if st.Env != env || st.Stage != stage || (stage == workflows.StageCanary && st.BakeUntil.IsZero()) {
			return fmt.Errorf("%s %s: got %s %s (bake until %v), want %s %s", service, version, st.Env, st.Stage, st.BakeUntil, env, stage)
		}
		return nil
	})
}

// TestLiveDecisionTarget proves that a decision without --version goes to the release the user means, with two
// releases of one service running: abort, pause, resume and promote to the one that deploys, approve to the one
// waiting at the gate, and a refusal (exit 2) listing each release where several could be meant or none.
func TestLiveDecisionTarget(t *testing.T) {
	clearEnv(t)
	t.Setenv("TEMPORAL_ADDRESS", devServer(t))
	start := func(service, version, envs string) {
		t.Helper()
		spec := writeFile(t, "ferry.yaml", fmt.Sprintf(targetSpec, service, envs))
		if _, stderr, code := ferry(t, "start", "--spec", spec, "--version", version, "--git-sha", "abc1234"); code != exitOK {
			t.Fatalf("start %s %s: got %d %q", service, version, code, stderr)
		}
	}
	expect := func(args []string, code int, stdout string) {
		t.Helper()
		gotOut, gotErr, gotCode := ferry(t, args...)
		if gotCode != code || gotOut != stdout {
			t.Errorf("%v: got %d %q %q, want %d %q", args, gotCode, gotOut, gotErr, code, stdout)
		}
	}

	// 1.6.0 bakes its production canary; 1.7.0 waits for the production lock.
	start("pair", "1.6.0", fmt.Sprintf(canaryEnv, "production"))
	waitFor(t, "pair", "1.6.0", "production", workflows.StageCanary)
	start("pair", "1.7.0", fmt.Sprintf(canaryEnv, "production"))
	waitFor(t, "pair", "1.7.0", "production", workflows.StageLock)

	// status shows both, the deploying one first.
	stdout, stderr, code := ferry(t, "status", "pair", "-o", "json")
	var doc statusDoc
	if err := json.Unmarshal([]byte(stdout), &doc); code != exitOK || err != nil || doc.Version != "1.6.0" ||
		len(doc.AlsoRunning) != 1 || doc.AlsoRunning[0].Version != "1.7.0" || doc.AlsoRunning[0].Stage != workflows.StageLock {
		t.Errorf("status pair -o json: got %d %q %q (%v), want 1.6.0 with 1.7.0 also running", code, stdout, stderr, err)
	}
	stdout, _, code = ferry(t, "status", "pair")
	if first, second := "pair 1.6.0: production canary, step 1/3, weight 10%, bake ", "\n\npair 1.7.0: production, waiting for the production lock\n"; code != exitOK ||
		!strings.HasPrefix(stdout, first) || !strings.Contains(stdout, second) {
		t.Errorf("status pair: got %d %q, want %q first and %q after it", code, stdout, first, second)
	}

	// Neither waits at the production gate: approve names both and sends nothing.
	_, stderr, code = ferry(t, "approve", "pair", "--env", "production", "--as", "alice")
	if want := "  pair 1.6.0: production canary, step 1/3, weight 10%, bake "; code != exitRejected || !strings.HasPrefix(stderr, want) ||
		!strings.HasSuffix(stderr, "\n  pair 1.7.0: production, waiting for the production lock\n"+
			"ferry: approve: none of the 2 running releases of pair is waiting for approval in production\n"+
			"hint: pass --version to choose one of the releases above\n") {
		t.Errorf("approve with none at the gate: got %d %q, want %d and both releases listed", code, stderr, exitRejected)
	}

	expect([]string{"pause", "pair", "--reason", "look closer", "--as", "bob"}, exitOK, "paused pair 1.6.0 at 10% in production\n")
	expect([]string{"resume", "pair", "--as", "bob"}, exitOK, "resumed pair 1.6.0 at 10% in production\n")
	expect([]string{"promote", "pair", "--as", "bob"}, exitOK, "promoting pair 1.6.0 in production to the next step\n")
	stdout, stderr, code = ferry(t, "abort", "pair", "--reason", "canary looks bad", "--as", "bob")
	if code != exitOK || !strings.HasPrefix(stdout, "aborting pair 1.6.0: ") {
		t.Errorf("abort pair: got %d %q %q, want 1.6.0 aborted", code, stdout, stderr)
	}
	eventually(t, func() error {
		if st := statusOf(t, "pair", "1.6.0"); st.State != workflows.StateAborted || !strings.HasPrefix(st.Reason, "aborted by bob: canary looks bad") {
			return fmt.Errorf("1.6.0 after the abort: got %s %q, want aborted by bob", st.State, st.Reason)
		}
		return nil
	})
	// 1.7.0 was never touched: it takes the lock and deploys.
	waitFor(t, "pair", "1.7.0", "production", workflows.StageCanary)
	if st := statusOf(t, "pair", "1.7.0"); len(st.Decisions) != 0 {
		t.Errorf("1.7.0 got decisions meant for 1.6.0: %+v", st.Decisions)
	}

	// duo 1.6.0 waits for approval in production while the newer 1.7.0 bakes a canary in staging.
	start("duo", "1.6.0", fmt.Sprintf(rollingEnv, "staging")+fmt.Sprintf(gatedCanaryEnv, "production"))
	waitFor(t, "duo", "1.6.0", "production", workflows.StageGate)
	start("duo", "1.7.0", fmt.Sprintf(canaryEnv, "staging")+fmt.Sprintf(gatedCanaryEnv, "production"))
	waitFor(t, "duo", "1.7.0", "staging", workflows.StageCanary)
	expect([]string{"approve", "duo", "--env", "production", "--as", "alice"}, exitOK, "approved duo 1.6.0 in production (1/1)\n")

	// Now both deploy, each in its environment: abort and pause could mean either, so they refuse.
	waitFor(t, "duo", "1.6.0", "production", workflows.StageCanary)
	for _, args := range [][]string{{"abort", "duo", "--reason", "canary looks bad"}, {"pause", "duo"}} {
		_, stderr, code := ferry(t, args...)
		if code != exitRejected || !strings.Contains(stderr, "  duo 1.7.0: staging canary, step 1/3, weight 10%, bake ") ||
			!strings.Contains(stderr, "  duo 1.6.0: production canary, step 1/2, weight 10%, bake ") ||
			!strings.HasSuffix(stderr, "ferry: "+args[0]+": 2 running releases of duo are deploying\nhint: pass --version to choose one of the releases above\n") {
			t.Errorf("%v with two releases deploying: got %d %q, want %d and both listed", args, code, stderr, exitRejected)
		}
	}
	for _, v := range []string{"1.6.0", "1.7.0"} {
		if st := statusOf(t, "duo", v); st.Paused || len(st.Decisions) > 1 {
			t.Errorf("duo %s took a refused decision: %+v", v, st.Decisions)
		}
	}
}

// TestLiveAdopt seeds the stable version of an environment that no release holds, and is refused for one that a
// release holds.
func TestLiveAdopt(t *testing.T) {
	clearEnv(t)
	address := devServer(t)
	t.Setenv("TEMPORAL_ADDRESS", address)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := worker.Dial(ctx, worker.DialOptions{HostPort: address, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lockState := func(service, env string) (workflows.LockState, error) {
		var st workflows.LockState
		v, err := c.QueryWorkflow(ctx, workflows.EnvLockWorkflowID(service, env), "", workflows.QueryLock)
		if err == nil {
			err = v.Get(&st)
		}
		return st, err
	}

	// An image by tag is refused: a rollback would deploy whatever the tag names by then.
	_, stderr, code := ferry(t, "adopt", "legacy", "--env", "production", "--version", "0.9.0", "--image", "registry.example.com/legacy:0.9.0")
	if want := "ferry: adopt needs the image by digest (REPOSITORY@sha256:DIGEST), so that a rollback deploys exactly what serves now"; code != exitRejected || !strings.HasPrefix(stderr, want) {
		t.Errorf("adopt by tag: got %d %q, want %d %q", code, stderr, exitRejected, want)
	}
	if _, err := c.DescribeWorkflowExecution(ctx, workflows.EnvLockWorkflowID("legacy", "production"), ""); err == nil {
		t.Errorf("a refused adopt started the lock")
	}

	// No lock runs yet: adopt starts it with the stable version.
	image0 := "registry.example.com/legacy@sha256:" + strings.Repeat("0a", 32)
	stdout, stderr, code := ferry(t, "adopt", "legacy", "--env", "production", "--version", "0.9.0",
		"--image", image0, "--reason", "ran before ferry", "--as", "alice", "-o", "json")
	var doc adoptDoc
	if err := json.Unmarshal([]byte(stdout), &doc); code != exitOK || err != nil || doc.WorkflowID != "ferry-env/legacy/production" ||
		doc.RunID == "" || doc.Version != "0.9.0" || doc.Identity != "alice" ||
		doc.Message != "adopted legacy 0.9.0 ("+image0+") as the stable version of production" {
		t.Fatalf("adopt -o json: got %d %q %q (%v)", code, stdout, stderr, err)
	}
	want := workflows.Artifact{Version: "0.9.0", Image: image0}
	eventually(t, func() error {
		st, err := lockState("legacy", "production")
		if err != nil || st.Stable == nil || *st.Stable != want {
			return fmt.Errorf("lock after adopt: got %+v (%v), want stable %+v", st.Stable, err, want)
		}
		return nil
	})
	// A running lock takes a second adopt: it corrects the first.
	image1 := "registry.example.com/legacy@sha256:" + strings.Repeat("1b", 32)
	if stdout, stderr, code := ferry(t, "adopt", "legacy", "--env", "production", "--version", "0.9.1", "--image", image1); code != exitOK ||
		stdout != "adopted legacy 0.9.1 ("+image1+") as the stable version of production\n" {
		t.Errorf("adopt again: got %d %q %q", code, stdout, stderr)
	}
	eventually(t, func() error {
		st, err := lockState("legacy", "production")
		if err != nil || st.Stable == nil || st.Stable.Version != "0.9.1" {
			return fmt.Errorf("lock after the second adopt: got %+v (%v), want stable 0.9.1", st.Stable, err)
		}
		return nil
	})

	// A release holds the production lock of pair: adopt refuses and leaves the lock alone.
	spec := writeFile(t, "ferry.yaml", fmt.Sprintf(targetSpec, "pair", fmt.Sprintf(canaryEnv, "production")))
	if _, stderr, code := ferry(t, "start", "--spec", spec, "--version", "1.6.0", "--git-sha", "abc1234"); code != exitOK {
		t.Fatalf("start: got %d %q", code, stderr)
	}
	waitFor(t, "pair", "1.6.0", "production", workflows.StageCanary)
	_, stderr, code = ferry(t, "adopt", "pair", "--env", "production", "--version", "1.5.0", "--image", image1)
	if want := "ferry: pair 1.6.0 holds the production lock and records the stable version when it finishes: adopt once no release holds it\n"; code != exitRejected || !strings.HasPrefix(stderr, want) {
		t.Errorf("adopt while a release holds the lock: got %d %q, want %d %q", code, stderr, exitRejected, want)
	}
	if st, err := lockState("pair", "production"); err != nil || st.Stable != nil {
		t.Errorf("lock after a refused adopt: got stable %+v (%v), want none", st.Stable, err)
	}
}
