package integration

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// rollingSpec releases to staging with a rolling deploy and an exec smoke check.
const rollingSpec = `service: SERVICE
image: {repository: registry.local/SERVICE}
platform:
  exec:
    deploy: [./platform.sh]
    rollback: [./platform.sh]
    remove: [./platform.sh]
    ready: [./platform.sh]
environments:
  - name: staging
    strategy: {type: rolling}
    checks:
      smoke: [{exec: [./pass.sh]}]
`

// A release started straight through the Temporal API, past `ferry start`, whose input asks the worker to run
// a program outside its allowlist or to leave its exec root, fails before anything runs, with a reason that
// names the program or the directory and the rule. The same spec, unaltered, released with `ferry start`,
// succeeds.
func TestWorkerRefusesUntrustedInput(t *testing.T) {
	c, err := client.Dial(client.Options{HostPort: stack.address, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	marker := filepath.Join(t.TempDir(), "pwned")

	tests := []struct {
		name    string
		service string
		edit    func(x *spec.ExecPlatform, e *spec.Environment)
		reason  []string
	}{
		{
			name:    "program outside the allowlist",
			service: "untrusted-program",
			edit: func(x *spec.ExecPlatform, _ *spec.Environment) {
				x.Deploy = []string{"/bin/sh", "-c", "touch " + marker}
			},
			reason: []string{"platform.exec.deploy[0]: program /bin/sh is not allowed", "--exec-allow"},
		},
		{
			name:    "exec check outside the allowlist",
			service: "untrusted-check",
			edit: func(_ *spec.ExecPlatform, e *spec.Environment) {
				e.Checks.Smoke = []spec.Check{{Exec: []string{"touch", marker}}}
			},
			reason: []string{"environments[0].checks.smoke[0].exec[0]: program touch", "is not allowed"},
		},
		{
			name:    "dir outside the exec root",
			service: "untrusted-dir",
			edit:    func(x *spec.ExecPlatform, _ *spec.Environment) { x.Dir = "../../../../../../bin" },
			reason:  []string{`platform.exec.dir: working directory "../../../../../../bin" leaves the worker's exec root`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApp(t, tt.service, rollingSpec, nil)
			s, err := spec.Load(a.spec())
			if err != nil {
				t.Fatal(err)
			}
			if err := spec.RelativeDir(s, a.spec()); err != nil {
				t.Fatal(err)
			}
			tt.edit(s.Platform.Exec, &s.Environments[0])
			in := workflows.ReleaseInput{Spec: *s, Version: "6.6.6", GitSHA: "0a1b2c3", StartedBy: "someone-with-a-client"}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:        workflows.ReleaseWorkflowID(tt.service, in.Version),
				TaskQueue: "ferry",
			}, workflows.ReleaseWorkflow, in)
			if err != nil {
				t.Fatal(err)
			}
			var res workflows.ReleaseResult
			err = run.Get(ctx, &res)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != workflows.ErrTypeFailed {
				t.Fatalf("got %v, want the release failed (%s)", err, workflows.ErrTypeFailed)
			}
			if err := app.Details(&res); err != nil {
				t.Fatal(err)
			}
			if res.State != workflows.StateFailed {
				t.Errorf("got state %q, want %q", res.State, workflows.StateFailed)
			}
			for _, want := range append([]string{"the worker refuses this release: "}, tt.reason...) {
				if !strings.Contains(res.Reason, want) {
					t.Errorf("got reason %q, want it to contain %q", res.Reason, want)
				}
			}
			for _, e := range res.Environments {
				if e.State != "pending" {
					t.Errorf("environment %s: got state %q, want pending: nothing may have started", e.Name, e.State)
				}
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused command ran: %s exists (%v)", marker, err)
			}
			a.wantCalls() // no platform command ran

			// `ferry status` shows the same reason.
			if st := status(t, tt.service, in.Version); !strings.Contains(st.Reason, tt.reason[0]) {
				t.Errorf("status reason %q lacks %q", st.Reason, tt.reason[0])
			}
		})
	}

	// The unaltered spec, through `ferry start`: the worker admits it and runs it.
	a := newApp(t, "trusted", rollingSpec, nil)
	if r := a.start("1.0.0", "--wait"); r.code != 0 {
		t.Fatalf("ferry start --wait: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	a.wantCalls("deploy staging stable 1.0.0 0", "ready staging stable 1.0.0 0")
}

// The worker runs the scripts of its exec root, not those at the path of the machine that started the
// release: once `ferry start` has returned, its workspace may go away, and the release still completes.
func TestReleaseOutlivesTheStartingWorkspace(t *testing.T) {
	a := newApp(t, "workspace", strings.Replace(rollingSpec, "    strategy: {type: rolling}",
		"    gate: {approval: {approvers: [release-lead]}}\n    strategy: {type: rolling}", 1), nil)
	// The CI workspace: the same spec and its own copy of the scripts, in a directory the CI machine deletes.
	ws := filepath.Join(t.TempDir(), "ci-workspace")
	if err := os.MkdirAll(filepath.Join(ws, a.service), 0o755); err != nil {
		t.Fatal(err)
	}
	specYAML, err := os.ReadFile(a.spec())
	if err != nil {
		t.Fatal(err)
	}
	wsSpec := filepath.Join(ws, "ferry.yaml")
	if err := os.WriteFile(wsSpec, specYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"platform.sh", "pass.sh"} {
		if err := os.WriteFile(filepath.Join(ws, a.service, name), []byte(platformScript), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustFerry(t, "start", "--spec", wsSpec, "--version", "2.0.0", "--git-sha", "0a1b2c3")
	awaitStatus(t, a.service, "2.0.0", time.Minute, func(s workflows.Status) bool { return strings.HasPrefix(s.Waiting, "approval") })
	if err := os.RemoveAll(ws); err != nil {
		t.Fatal(err)
	}
	mustFerry(t, "approve", a.service, "--env", "staging", "--version", "2.0.0", "--as", "release-lead")
	st := awaitStatus(t, a.service, "2.0.0", 2*time.Minute, func(s workflows.Status) bool { return s.State != workflows.StateRunning })
	if st.State != workflows.StateSucceeded {
		t.Fatalf("got state %q (%s), want succeeded", st.State, st.Reason)
	}
	a.wantCalls("deploy staging stable 2.0.0 0", "ready staging stable 2.0.0 0")
}
