package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferryhq/ferry/internal/execrun"
	"github.com/ferryhq/ferry/internal/execrun/exectest"
	"github.com/ferryhq/ferry/internal/spec"
)

// fakeRunner records the commands it gets and answers each with the next canned run (the last one repeats).
type fakeRunner struct {
	runs []fakeRun
	got  []execrun.Command
}

type fakeRun struct {
	res execrun.Result
	err error
}

func (f *fakeRunner) Run(ctx context.Context, cmd execrun.Command) (execrun.Result, error) {
	f.got = append(f.got, cmd)
	if len(f.runs) == 0 {
		return execrun.Result{}, errors.New("fake runner: no run prepared")
	}
	r := f.runs[0]
	if len(f.runs) > 1 {
		f.runs = f.runs[1:]
	}
	return r.res, r.err
}

var exitOK = fakeRun{res: execrun.Result{Status: "exit status 0"}}

// platformOutput runs the platform activity fn in env and returns its output; it fails the test on an error.
func platformOutput(t *testing.T, env *testsuite.TestActivityEnvironment, fn any, in PlatformRequest) string {
	t.Helper()
	val, err := env.ExecuteActivity(fn, in)
	if err != nil {
		t.Fatal(err)
	}
	var res PlatformResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res.Output
}

// deploy runs Platform.Deploy with runner in a test activity environment.
func deploy(runner CommandRunner, exec spec.ExecPlatform) error {
	p := execPlatform(&Exec{Runner: runner, Policy: testPolicy})
	_, err := newActivityEnv(p).ExecuteActivity(p.Deploy, PlatformRequest{Platform: spec.Platform{Exec: &exec}, Vars: testVars})
	return err
}

// platformOps lists every operation that runs one command, with a setter for its argv in the spec.
var platformOps = []struct {
	op  string
	fn  func(p *Platform) any
	set func(e *spec.ExecPlatform, argv []string)
}{
	{"deploy", func(p *Platform) any { return p.Deploy }, func(e *spec.ExecPlatform, a []string) { e.Deploy = a }},
	{"set-weight", func(p *Platform) any { return p.SetWeight }, func(e *spec.ExecPlatform, a []string) { e.SetWeight = a }},
	{"promote", func(p *Platform) any { return p.Promote }, func(e *spec.ExecPlatform, a []string) { e.Promote = a }},
	{"rollback", func(p *Platform) any { return p.Rollback }, func(e *spec.ExecPlatform, a []string) { e.Rollback = a }},
	{"remove", func(p *Platform) any { return p.Remove }, func(e *spec.ExecPlatform, a []string) { e.Remove = a }},
}

func TestPlatformOpsBuildTheirCommand(t *testing.T) {
	for _, tt := range platformOps {
		t.Run(tt.op, func(t *testing.T) {
			runner := &fakeRunner{runs: []fakeRun{{res: execrun.Result{Status: "exit status 0", Output: "done\n"}}}}
			p := execPlatform(&Exec{Runner: runner, Policy: testPolicy})
			env := newActivityEnv(p)
			exec := spec.ExecPlatform{Dir: "/srv/deploy", Timeout: spec.Duration(90 * time.Second)}
			tt.set(&exec, []string{"./ops.sh", tt.op, "{{.Image}}", "{{.Config.region}}"})

			// A command that succeeded leaves its output in the worker's log, not in history.
			if out := platformOutput(t, env, tt.fn(p), PlatformRequest{Platform: spec.Platform{Exec: &exec}, Vars: testVars}); out != "" {
				t.Errorf("got output %q, want none", out)
			}
			if len(runner.got) != 1 {
				t.Fatalf("got %d commands, want 1", len(runner.got))
			}
			cmd := runner.got[0]
			wantArgv := []string{"./ops.sh", tt.op, testVars.Image, "eu-1"}
			if !slices.Equal(cmd.Argv, wantArgv) || cmd.Dir != "/srv/deploy" || cmd.Timeout != 90*time.Second {
				t.Errorf("got argv %q dir %q timeout %s, want %q /srv/deploy 1m30s", cmd.Argv, cmd.Dir, cmd.Timeout, wantArgv)
			}
			if !slices.Contains(cmd.Env, "FERRY_OP="+tt.op) {
				t.Errorf("got env %q, want FERRY_OP=%s", cmd.Env, tt.op)
			}
		})
	}
}

func TestPlatformDefaultTimeout(t *testing.T) {
	runner := &fakeRunner{runs: []fakeRun{exitOK}}
	if err := deploy(runner, spec.ExecPlatform{Deploy: []string{"deploy"}}); err != nil {
		t.Fatal(err)
	}
	if got := runner.got[0].Timeout; got != 5*time.Minute {
		t.Errorf("got timeout %s, want 5m", got)
	}
}

func TestPlatformErrors(t *testing.T) {
	tests := []struct {
		name      string
		argv      []string
		dir       string
		run       fakeRun
		typ       string
		retryable bool
		msg       string
	}{
		{
			name:      "non-zero exit quotes the last lines",
			argv:      []string{"deploy"},
			run:       fakeRun{res: execrun.Result{ExitCode: 2, Status: "exit status 2", Output: "1\n2\n3\n4\n5\n6\n7\n"}},
			typ:       ErrTypeCommandFailed,
			retryable: true,
			msg:       "platform.exec.deploy: exit status 2: 3; 4; 5; 6; 7",
		},
		{
			name:      "timeout",
			argv:      []string{"deploy"},
			run:       fakeRun{res: execrun.Result{ExitCode: -1, Output: "waiting\n"}, err: fmt.Errorf("%w after 5m", execrun.ErrTimeout)},
			typ:       ErrTypeCommandTimeout,
			retryable: true,
			msg:       "platform.exec.deploy: command timed out after 5m: waiting",
		},
		{
			name: "program cannot be run",
			argv: []string{"./deploy.sh"},
			run:  fakeRun{err: fmt.Errorf("%w %q: no such file or directory", execrun.ErrNotRunnable, "./deploy.sh")},
			typ:  ErrTypeInvalidSpec,
			msg:  `platform.exec.deploy: the program cannot be run: cannot run command "./deploy.sh": no such file or directory`,
		},
		{name: "no command", typ: ErrTypeInvalidSpec, msg: "platform.exec.deploy is empty"},
		{name: "bad template", argv: []string{"deploy", "{{.Imag}}"}, typ: ErrTypeInvalidSpec, msg: "platform.exec.deploy[1]: invalid template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := deploy(&fakeRunner{runs: []fakeRun{tt.run}}, spec.ExecPlatform{Deploy: tt.argv, Dir: tt.dir})
			assertFailure(t, err, tt.typ, tt.retryable, tt.msg)
		})
	}
}

func TestPlatformFailedCommandCarriesOutput(t *testing.T) {
	runner := &fakeRunner{runs: []fakeRun{{res: execrun.Result{ExitCode: 1, Status: "exit status 1", Output: "boom\n"}}}}
	err := deploy(runner, spec.ExecPlatform{Deploy: []string{"deploy"}})
	appErr := assertFailure(t, err, ErrTypeCommandFailed, true, "exit status 1: boom")
	var details PlatformResult
	if err := appErr.Details(&details); err != nil || details.Output != "boom\n" {
		t.Errorf("got details %+v (%v), want the output tail", details, err)
	}
}

func TestPlatformRunnerErrorIsRetryable(t *testing.T) {
	runner := &fakeRunner{runs: []fakeRun{{err: errors.New("fork: resource temporarily unavailable")}}}
	err := deploy(runner, spec.ExecPlatform{Deploy: []string{"deploy"}})
	if err == nil || !strings.Contains(err.Error(), "platform.exec.deploy: fork: resource temporarily unavailable") {
		t.Fatalf("got error %v, want the runner's error wrapped", err)
	}
	assertRetryable(t, err)
}

// opsScript appends "$FERRY_OP $*" to ops.log in its working directory.
const opsScript = `echo "$FERRY_OP $*" >> ops.log` + "\n"

// readLog returns the lines of dir/name.
func readLog(t *testing.T, dir, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestPlatformExecRunsScripts(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "bin/ops.sh", opsScript)
	exec := spec.ExecPlatform{
		Dir:       dir,
		Deploy:    []string{"./bin/ops.sh", "{{.Image}}", "--track={{.Track}}", "--replicas={{.Replicas}}"},
		SetWeight: []string{"./bin/ops.sh", "{{.Track}}", "{{.Weight}}"},
		Promote:   []string{"./bin/ops.sh", "{{.Version}}"},
		Rollback:  []string{"./bin/ops.sh", "{{.StableImage}}"},
		Remove:    []string{"./bin/ops.sh", "{{.Track}}", "{{.Config.region}}"},
	}
	p := execPlatform(&Exec{Runner: execrun.Runner{}, Policy: testPolicy})
	env := newActivityEnv(p)
	for _, op := range platformOps {
		if _, err := env.ExecuteActivity(op.fn(p), PlatformRequest{Platform: spec.Platform{Exec: &exec}, Vars: testVars}); err != nil {
			t.Fatalf("%s: %v", op.op, err)
		}
	}
	want := []string{
		"deploy registry.test/checkout:1.4.0 --track=canary --replicas=2",
		"set-weight canary 10",
		"promote 1.4.0",
		"rollback registry.test/checkout@sha256:def",
		"remove canary eu-1",
	}
	assertLines(t, "log", readLog(t, dir, "ops.log"), want)
}

// A command's environment is built from scratch: the policy's variables (what the worker passes) and the FERRY_*
// ones, nothing else of the worker's.
func TestPlatformExecEnvironment(t *testing.T) {
	t.Setenv("TEST_WORKER_SECRET", "kept-in-the-worker")
	dir := t.TempDir()
	// The fixed variables in commandEnv's order, then the config ones, then one the worker passes and one it
	// does not.
	exectest.Script(t, dir, "env.sh", `for v in OP SERVICE ENV VERSION GIT_SHA IMAGE IMAGE_TAG DIGEST TRACK WEIGHT REPLICAS STRATEGY \
	MAX_UNAVAILABLE MAX_SURGE STABLE_VERSION STABLE_IMAGE; do
	eval "echo FERRY_$v=\$FERRY_$v"
done > env.txt
env | grep '^FERRY_CONFIG_' | sort >> env.txt
echo "TEST_PASSED=$TEST_PASSED" >> env.txt
echo "TEST_WORKER_SECRET=${TEST_WORKER_SECRET-unset}" >> env.txt
`)
	policy := *testPolicy
	policy.Env = append(slices.Clone(policy.Env), "TEST_PASSED=passed-by-the-worker")
	p := execPlatform(&Exec{Runner: execrun.Runner{}, Policy: &policy})
	env := newActivityEnv(p)
	if _, err := env.ExecuteActivity(p.SetWeight, PlatformRequest{Platform: spec.Platform{Exec: &spec.ExecPlatform{Dir: dir, SetWeight: []string{"./env.sh"}}}, Vars: testVars}); err != nil {
		t.Fatal(err)
	}
	assertLines(t, "env", readLog(t, dir, "env.txt"),
		append(testVarsEnv("set-weight"), "TEST_PASSED=passed-by-the-worker", "TEST_WORKER_SECRET=unset"))
}

func TestPlatformExecCommandFails(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "deploy.sh", "echo applying\necho 'error: quota exceeded' >&2\nexit 3\n")
	err := deploy(execrun.Runner{}, spec.ExecPlatform{Dir: dir, Deploy: []string{"./deploy.sh"}})
	assertFailure(t, err, ErrTypeCommandFailed, true, "platform.exec.deploy: exit status 3: applying; error: quota exceeded")
}

func TestPlatformExecMissingProgram(t *testing.T) {
	err := deploy(execrun.Runner{}, spec.ExecPlatform{Dir: t.TempDir(), Deploy: []string{"./missing.sh"}})
	appErr := assertFailure(t, err, ErrTypeInvalidSpec, false, `platform.exec.deploy: the program cannot be run: cannot run command "./missing.sh": `)
	if !strings.Contains(appErr.Message(), "no such file or directory") {
		t.Errorf("got message %q, want it to keep the OS error", appErr.Message())
	}
}

func TestPlatformExecTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "deploy.sh", exectest.GroupScript)
	start := time.Now()
	err := deploy(execrun.Runner{}, spec.ExecPlatform{Dir: dir, Deploy: []string{"./deploy.sh"}, Timeout: spec.Duration(500 * time.Millisecond)})
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s, want the timeout to end the command at once", elapsed)
	}
	assertFailure(t, err, ErrTypeCommandTimeout, true, "platform.exec.deploy: command timed out after 500ms: started")
	exectest.AssertGone(t, exectest.WaitForPid(t, filepath.Join(dir, "child.pid")))
}

// readyScript counts its runs in ./count, logs "$FERRY_OP <n>" to ops.log and succeeds from the given run on.
func readyScript(readyFrom int) string {
	return fmt.Sprintf(`n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
echo "$FERRY_OP $n" >> ops.log
if [ $n -lt %d ]; then echo "warming up ($n)"; exit 1; fi
echo ready
`, readyFrom)
}

func TestWaitReadyWithoutCommand(t *testing.T) {
	runner := &fakeRunner{}
	p := execPlatform(&Exec{Runner: runner, Policy: testPolicy})
	env := newActivityEnv(p)
	if _, err := env.ExecuteActivity(p.WaitReady, PlatformRequest{Platform: spec.Platform{Exec: &spec.ExecPlatform{}}}); err != nil {
		t.Fatal(err)
	}
	if len(runner.got) != 0 {
		t.Errorf("got %d commands, want none", len(runner.got))
	}
}

func TestWaitReadyAfterPolls(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "ready.sh", readyScript(3))
	p := execPlatform(&Exec{Runner: execrun.Runner{}, Policy: testPolicy, ReadyInterval: 10 * time.Millisecond})
	env := newActivityEnv(p)
	if out := platformOutput(t, env, p.WaitReady, PlatformRequest{Platform: spec.Platform{Exec: &spec.ExecPlatform{Dir: dir, Ready: []string{"./ready.sh"}}}}); out != "" {
		t.Errorf("got output %q, want none", out)
	}
	assertLines(t, "log", readLog(t, dir, "ops.log"), []string{"ready 1", "ready 2", "ready 3"})
}

func TestWaitReadyPollTimeout(t *testing.T) {
	tests := []struct {
		name                  string
		timeout, readyTimeout time.Duration
		want                  time.Duration
	}{
		{"command timeout is shorter", 3 * time.Second, time.Minute, 3 * time.Second},
		{"readiness deadline is closer", 5 * time.Minute, time.Minute, time.Minute},
		{"floor near the deadline", 5 * time.Minute, time.Second, readyPollFloor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runner := &fakeRunner{runs: []fakeRun{exitOK}}
			p := execPlatform(&Exec{Runner: runner, Policy: testPolicy})
			_, err := newActivityEnv(p).ExecuteActivity(p.WaitReady, PlatformRequest{Platform: spec.Platform{Exec: &spec.ExecPlatform{
				Ready: []string{"ready"}, Timeout: spec.Duration(tt.timeout), ReadyTimeout: spec.Duration(tt.readyTimeout),
			}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := runner.got[0].Timeout; got > tt.want || got < tt.want-time.Second {
				t.Errorf("got poll timeout %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWaitReadyTimesOut(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "ready.sh", readyScript(1000))
	p := execPlatform(&Exec{Runner: execrun.Runner{}, Policy: testPolicy, ReadyInterval: 20 * time.Millisecond})
	env := newActivityEnv(p)
	start := time.Now()
	_, err := env.ExecuteActivity(p.WaitReady, PlatformRequest{Platform: spec.Platform{Exec: &spec.ExecPlatform{
		Dir: dir, Ready: []string{"./ready.sh"}, ReadyTimeout: spec.Duration(300 * time.Millisecond),
	}}})
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("took %s, want about the 300ms ready timeout", elapsed)
	}
	appErr := assertFailure(t, err, ErrTypeReadinessTimeout, false, "platform.exec.ready: not ready within 300ms (")
	if polls := len(readLog(t, dir, "ops.log")); polls < 2 || !strings.HasSuffix(appErr.Message(), fmt.Sprintf("(%d attempts): exit status 1: warming up (%d)", polls, polls)) {
		t.Errorf("got message %q after %d polls, want the attempt count and the last poll's output", appErr.Message(), polls)
	}
}

// A stopping worker waits for its activities; the readiness wait hands over to the next worker after the poll
// that runs, instead of polling on for up to ReadyTimeout.
func TestWaitReadyEndsWhenWorkerStops(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "ready.sh", readyScript(1000))
	p := execPlatform(&Exec{Runner: execrun.Runner{}, Policy: testPolicy, ReadyInterval: 10 * time.Millisecond})
	env := newActivityEnv(p)
	stopping := make(chan struct{})
	close(stopping)
	env.SetWorkerStopChannel(stopping)
	start := time.Now()
	_, err := env.ExecuteActivity(p.WaitReady, PlatformRequest{Platform: spec.Platform{Exec: &spec.ExecPlatform{
		Dir: dir, Ready: []string{"./ready.sh"}, ReadyTimeout: spec.Duration(10 * time.Second),
	}}})
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s, want the wait to end after one poll", elapsed)
	}
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.NonRetryable() || !strings.Contains(err.Error(), "the worker is stopping") {
		t.Errorf("got error %v, want a retryable failure saying the worker is stopping", err)
	}
	assertLines(t, "log", readLog(t, dir, "ops.log"), []string{"ready 1"})
}

func TestWaitReadyResumesFromHeartbeat(t *testing.T) {
	t.Run("keeps the original deadline", func(t *testing.T) {
		dir := t.TempDir()
		exectest.Script(t, dir, "ready.sh", readyScript(1000))
		p := execPlatform(&Exec{Runner: execrun.Runner{}, Policy: testPolicy, ReadyInterval: 10 * time.Millisecond})
		env := newActivityEnv(p)
		// A previous attempt of the activity polled four times, starting an hour ago.
		env.SetHeartbeatDetails(readyProgress{Attempts: 4, Since: time.Now().Add(-time.Hour), Last: "exit status 1: warming up (4)"})
		_, err := env.ExecuteActivity(p.WaitReady, PlatformRequest{Platform: spec.Platform{Exec: &spec.ExecPlatform{
			Dir: dir, Ready: []string{"./ready.sh"}, ReadyTimeout: spec.Duration(time.Minute),
		}}})
		assertFailure(t, err, ErrTypeReadinessTimeout, false, "platform.exec.ready: not ready within 1m (4 attempts): exit status 1: warming up (4)")
		if _, err := os.Stat(filepath.Join(dir, "ops.log")); !os.IsNotExist(err) {
			t.Errorf("got a poll past the deadline (%v), want none", err)
		}
	})
	t.Run("continues the count", func(t *testing.T) {
		dir := t.TempDir()
		exectest.Script(t, dir, "ready.sh", readyScript(1))
		p := execPlatform(&Exec{Runner: execrun.Runner{}, Policy: testPolicy})
		env := newActivityEnv(p)
		since := time.Now().Add(-time.Minute)
		env.SetHeartbeatDetails(readyProgress{Attempts: 2, Since: since})
		var (
			mu    sync.Mutex
			beats []readyProgress
		)
		env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
			var p readyProgress
			if err := details.Get(&p); err != nil {
				t.Errorf("decode heartbeat: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			beats = append(beats, p)
		})
		if _, err := env.ExecuteActivity(p.WaitReady, PlatformRequest{Platform: spec.Platform{Exec: &spec.ExecPlatform{Dir: dir, Ready: []string{"./ready.sh"}}}}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(beats) == 0 || beats[0].Attempts != 3 || !beats[0].Since.Equal(since) {
			t.Errorf("got heartbeats %+v, want the first to be attempt 3 since %s", beats, since)
		}
	})
}

// execPlatform returns the platform activities of a worker whose one driver is x.
func execPlatform(x *Exec) *Platform {
	return &Platform{Drivers: Drivers{spec.PlatformExec: x}, Exec: x.Policy, Redact: x.Redact}
}
