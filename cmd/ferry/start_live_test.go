package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/workflows"
)

// edgeSpec releases the service %s to staging (no gate) and then to production behind an approval by alice;
// its platform commands do nothing. %s is extra staging config, to make a different spec.
const edgeSpec = `service: %s
image: {repository: registry.example.com/%[1]s}
platform:
  exec:
    deploy: ["true"]
    ready: ["true"]
    rollback: ["true"]
    remove: ["true"]
environments:
  - name: staging
    strategy: {type: rolling}
    config: {LOG_LEVEL: %s}
  - name: production
    gate:
      approval: {approvers: [alice], quorum: 1}
    strategy: {type: rolling}
`

// TestLiveStartInputs drives `ferry start` through the real worker and workflow: a retry with the same inputs
// is idempotent (with --wait too), one with another git sha, image or spec is refused with exit 2 naming it,
// an older version is refused as a downgrade unless --allow-downgrade is given, and a release committed
// earlier never supersedes one committed later that waits at the production gate.
func TestLiveStartInputs(t *testing.T) {
	clearEnv(t)
	t.Setenv("TEMPORAL_ADDRESS", devServer(t))
	spec := writeFile(t, "ferry.yaml", fmt.Sprintf(edgeSpec, "edge", "info"))
	otherSpec := writeFile(t, "ferry.yaml", fmt.Sprintf(edgeSpec, "edge", "debug"))
	const (
		t1 = "2026-11-20T10:00:00Z"
		t2 = "2026-11-21T10:00:00Z"
	)
	expect := func(name string, args []string, code int, stdout, stderr string) {
		t.Helper()
		gotOut, gotErr, gotCode := ferryWithin(t, 2*time.Minute, args...)
		if gotCode != code || !strings.Contains(gotOut, stdout) || !strings.HasPrefix(gotErr, stderr) {
			t.Errorf("%s: got %d %q %q, want %d, stdout with %q, stderr from %q", name, gotCode, gotOut, gotErr, code, stdout, stderr)
		}
	}
	start := func(version, sha string, extra ...string) []string {
		return append([]string{"start", "--spec", spec, "--version", version, "--git-sha", sha}, extra...)
	}

	// 1.4.4 passes staging and waits for approval in production.
	expect("start 1.4.4", start("1.4.4", "aaa4444", "--commit-time", t2), exitOK, "started edge 1.4.4", "")
	waitFor(t, "edge", "1.4.4", "production", workflows.StageGate)

	// The same inputs again: idempotent.
	expect("start 1.4.4 again", start("1.4.4", "aaa4444", "--commit-time", t2), exitOK, "edge 1.4.4 already started (run ", "")
	// Other inputs: refused, naming what differs, with or without --wait, and nothing changes.
	expect("start 1.4.4 with another sha", start("1.4.4", "bbb4444", "--wait"), exitRejected, "",
		"ferry: edge 1.4.4 was already started with a different git sha: it has git sha aaa4444, not bbb4444\n"+
			"hint: a version is released once, with one set of inputs: release the change as a new version, or retry with the same --git-sha, --image and spec\n")
	expect("start 1.4.4 with another image", start("1.4.4", "aaa4444", "--image", "registry.example.com/edge:other"), exitRejected, "",
		"ferry: edge 1.4.4 was already started with a different image: it has image registry.example.com/edge:1.4.4, not registry.example.com/edge:other\n")
	other := []string{"start", "--spec", otherSpec, "--version", "1.4.4", "--git-sha", "aaa4444", "--wait"}
	expect("start 1.4.4 with another spec", other, exitRejected, "", "ferry: edge 1.4.4 was already started with a different spec: it has spec sha256:")
	_, stderr, _ := ferryWithin(t, 2*time.Minute, other...)
	if !strings.Contains(stderr, ", not sha256:") || strings.Contains(stderr, "succeeded") {
		t.Errorf("start with another spec: got %q, want both digests and no outcome", stderr)
	}

	// A re-run of an old CI job: 1.4.1 is older than 1.4.4, which staging runs, so staging refuses it before
	// anything runs there, and 1.4.4 still waits at the production gate.
	expect("start 1.4.1", start("1.4.1", "aaa1111", "--commit-time", t1, "--wait"), exitFailed, "",
		"ferry: edge 1.4.1 failed: staging runs 1.4.4, newer than 1.4.1 (by semantic version): refused as a downgrade; "+
			"start the release with --allow-downgrade to deploy an older version\n")
	if st := statusOf(t, "edge", "1.4.1"); st.Environments[0].State != workflows.StateFailed || st.Environments[1].State != "pending" {
		t.Errorf("1.4.1 environments: got %+v, want staging failed and production pending", st.Environments)
	}

	// With --allow-downgrade, 1.4.3 deploys to staging; at the production lock, 1.4.4 was committed later and
	// waits at its gate, so 1.4.3 is superseded (exit 7) and 1.4.4 keeps its place.
	expect("start 1.4.3 --allow-downgrade", start("1.4.3", "aaa3333", "--commit-time", t1, "--allow-downgrade", "--wait"), exitSuperseded, "",
		"ferry: edge 1.4.3 superseded: superseded by 1.4.4: 1.4.4 was committed later (2026-11-21T10:00:00Z) than 1.4.3 (2026-11-20T10:00:00Z), though 1.4.3 started later\n")
	if st := statusOf(t, "edge", "1.4.3"); st.Environments[0].State != workflows.StateSucceeded {
		t.Errorf("1.4.3 environments: got %+v, want staging succeeded", st.Environments)
	}
	if st := statusOf(t, "edge", "1.4.4"); st.State != workflows.StateRunning || st.Stage != workflows.StageGate || st.Env != "production" {
		t.Errorf("1.4.4 after the older releases: got %s %s %s, want running at the production gate", st.State, st.Env, st.Stage)
	}

	// 1.4.4 goes ahead; a retry of its start with the same inputs and --wait follows it to its outcome.
	expect("approve 1.4.4", []string{"approve", "edge", "--env", "production", "--as", "alice"}, exitOK, "approved edge 1.4.4 in production", "")
	expect("start 1.4.4 --wait", start("1.4.4", "aaa4444", "--commit-time", t2, "--wait"), exitOK, "edge 1.4.4 succeeded\n", "")
	expect("start 1.4.4 after the end", start("1.4.4", "aaa4444", "--commit-time", t2), exitOK, "edge 1.4.4 already started (run ", "")
	expect("start 1.4.4 with another sha after the end", start("1.4.4", "ccc4444"), exitRejected, "",
		"ferry: edge 1.4.4 was already started with a different git sha: it has git sha aaa4444, not ccc4444\n")

}

// ferryWithin runs ferry like ferry() but interrupts it after d, so a --wait that would follow a release
// forever fails the test instead of hanging it.
func ferryWithin(t *testing.T, d time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, append([]string{"ferry"}, args...), &out, &errOut)
	if ctx.Err() != nil {
		t.Errorf("ferry %v: still running after %s", args, d)
	}
	return out.String(), errOut.String(), code
}
