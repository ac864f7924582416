package main

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// devServer runs `ferry dev` in-process on free ports, with extra flags such as --no-worker, and returns its
// address once it is ready. The server stops when the test ends.
func devServer(t *testing.T, flags ...string) string {
	t.Helper()
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

	// Nothing answers a query without a worker; the CLI says so instead of waiting forever.
	_, stderr, code = ferry(t, "status", "hello")
	if code != exitUnreachable || !strings.HasPrefix(stderr, "ferry: no worker answered the status query within 10s\nhint: run `ferry worker`") {
		t.Errorf("status without a worker: got %d %q", code, stderr)
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

// TestDemo runs `ferry demo` to the end: the release must succeed, with the demo's own approval, in time.
func TestDemo(t *testing.T) {
	clearEnv(t)
	start := time.Now()
	stdout, stderr, code := ferry(t, "demo", "--port", "0", "--ui-port", "-1", "--exit", "--approve-after", "1s", "--as", "tester")
	if code != exitOK {
		t.Fatalf("ferry demo exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
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
