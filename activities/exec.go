package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/execrun"
	"github.com/ferryhq/ferry/internal/spec"
)

var _ Driver = (*Exec)(nil)

// Exec is the driver of the exec platform (kind "exec"): each operation runs the matching argv from the
// request's platform.exec section, rendered as templates over the request's TemplateVars, with FERRY_*
// variables in the environment (config key K as FERRY_CONFIG_K, see spec.ConfigEnvName) and, for deploy,
// promote and rollback, the request's resolved secrets under their own names.
//
// Idempotence: Ferry retries an operation with exactly the same vars, so each operation is idempotent when the
// user's command is, and the exec platform requires that it is: deploying a version that already runs, setting a
// weight that is already set or removing what is gone must succeed and change nothing.
//
// Trust: every command runs only when Policy allows its program, in platform.exec.dir resolved against the
// policy's root, with the policy's environment (not the worker's) plus the FERRY_* variables. Output of a
// command that succeeded is logged, never returned; the output quoted by a failure is cut short and, like every
// string the driver returns, passes through Redact.
//
// Failures: a request without a platform.exec section, a bad template, an empty command, a program the policy
// does not allow, a dir outside the exec root or an executable that cannot be run is a non-retryable
// ErrTypeInvalidSpec; a non-zero exit (ErrTypeCommandFailed) or a timeout (ErrTypeCommandTimeout) is
// retryable, and Temporal retries it under the workflow's retry policy.
//
// Cancellation: a cancelled operation stops its command (SIGTERM to its process group, SIGKILL after the
// runner's grace period) and ends only once the command has exited, so a workflow that waits for the
// cancellation to complete knows that nothing of the operation still runs. A stopping worker does not cancel
// operations: they finish unless the worker's stop grace period ends first.
type Exec struct {
	// Runner runs the commands.
	Runner CommandRunner
	// Policy is what the worker allows commands to do. Nil allows nothing.
	Policy *ExecPolicy
	// Redact sees every string the driver returns. Nil redacts nothing.
	Redact Redactor
	// ReadyInterval is the pause between two readiness polls. Zero means one second.
	ReadyInterval time.Duration
}

// Defaults for the exec platform's limits, used when the spec leaves them zero.
const (
	defaultCommandTimeout = 5 * time.Minute
	defaultReadyTimeout   = 10 * time.Minute
	defaultReadyInterval  = time.Second
)

// platformOp names an operation twice: FERRY_OP for the command, and the spec field for error messages.
type platformOp struct{ name, field string }

var (
	opDeploy    = platformOp{"deploy", "platform.exec.deploy"}
	opSetWeight = platformOp{"set-weight", "platform.exec.setWeight"}
	opPromote   = platformOp{"promote", "platform.exec.promote"}
	opRollback  = platformOp{"rollback", "platform.exec.rollback"}
	opRemove    = platformOp{"remove", "platform.exec.remove"}
	opReady     = platformOp{"ready", "platform.exec.ready"}
	opCurrent   = platformOp{"current", "platform.exec.current"}
)

// execSection returns the request's platform.exec section, or an InvalidSpec failure when it has none.
func execSection(in PlatformRequest) (*spec.ExecPlatform, error) {
	if in.Exec == nil {
		return nil, invalidSpec("the request has no platform.exec section", nil)
	}
	return in.Exec, nil
}

// do runs the command of one operation that returns nothing.
func (p *Exec) do(ctx context.Context, in PlatformRequest, op platformOp, argv func(*spec.ExecPlatform) []string) error {
	x, err := execSection(in)
	if err != nil {
		return err
	}
	_, err = p.run(ctx, x, in.Vars, op, argv(x), in.SecretEnv)
	return err
}

// Deploy runs platform.exec.deploy: start the version's replica set on Vars.Track.
func (p *Exec) Deploy(ctx context.Context, in PlatformRequest) error {
	return p.do(ctx, in, opDeploy, func(x *spec.ExecPlatform) []string { return x.Deploy })
}

// SetWeight runs platform.exec.setWeight: route Vars.Weight percent of traffic to Vars.Track.
func (p *Exec) SetWeight(ctx context.Context, in PlatformRequest) error {
	return p.do(ctx, in, opSetWeight, func(x *spec.ExecPlatform) []string { return x.SetWeight })
}

// Promote runs platform.exec.promote: make the track's version the stable one.
func (p *Exec) Promote(ctx context.Context, in PlatformRequest) error {
	return p.do(ctx, in, opPromote, func(x *spec.ExecPlatform) []string { return x.Promote })
}

// Rollback runs platform.exec.rollback: restore Vars.StableVersion on the stable track.
func (p *Exec) Rollback(ctx context.Context, in PlatformRequest) error {
	return p.do(ctx, in, opRollback, func(x *spec.ExecPlatform) []string { return x.Rollback })
}

// Remove runs platform.exec.remove: delete a version's replica set from Vars.Track.
func (p *Exec) Remove(ctx context.Context, in PlatformRequest) error {
	return p.do(ctx, in, opRemove, func(x *spec.ExecPlatform) []string { return x.Remove })
}

// Current runs platform.exec.current and takes the last non-empty line it prints as the version that serves
// the stable track; no output means nothing runs there. Without a current command it returns Known false.
func (p *Exec) Current(ctx context.Context, in PlatformRequest) (CurrentResult, error) {
	x, err := execSection(in)
	if err != nil {
		return CurrentResult{}, err
	}
	if len(x.Current) == 0 {
		return CurrentResult{}, nil
	}
	output, err := p.run(ctx, x, in.Vars, opCurrent, x.Current, nil)
	if err != nil {
		return CurrentResult{}, err
	}
	lines := strings.Split(strings.TrimSpace(output), "\n")
	return CurrentResult{Known: true, Version: redact(p.Redact, strings.TrimSpace(lines[len(lines)-1]))}, nil
}

// Ready polls platform.exec.ready every ReadyInterval until it exits 0, and returns at once when there is no
// ready command. It gives up with a non-retryable ErrTypeReadinessTimeout once platform.exec.readyTimeout
// (default 10m) has passed since the first poll; no poll starts after that, and one that starts close to it is
// cut short, so the whole wait stays within readyTimeout plus readyPollFloor plus ReadyInterval. When the
// worker stops, the wait ends after the running poll with a retryable error, so that another worker resumes
// it. The first poll's time, the poll count and the latest failure travel in heartbeat details, so a retry of
// the activity (after a worker crash, say) keeps the original deadline. The workflow's StartToClose timeout
// must leave that slack beyond readyTimeout, and its heartbeat timeout must exceed a few seconds (commands
// heartbeat every second).
func (p *Exec) Ready(ctx context.Context, in PlatformRequest) error {
	x, err := execSection(in)
	if err != nil {
		return err
	}
	_, err = p.waitReady(ctx, x, in.Vars)
	return redactError(p.Redact, err)
}

// readyProgress is Ready's heartbeat detail: a retried attempt of the activity continues the count and the
// clock instead of starting over, and can still say why the service was not ready.
type readyProgress struct {
	Attempts int       `json:"attempts"`
	Since    time.Time `json:"since"`
	// Last describes the latest failed poll: "exit status 1: <last output line>".
	Last string `json:"last,omitempty"`
}

// readyPollFloor is the least time a poll gets even when the readiness deadline is closer, so that the last
// poll can still succeed. A poll never gets more than platform.exec.timeout.
const readyPollFloor = 10 * time.Second

func (p *Exec) waitReady(ctx context.Context, x *spec.ExecPlatform, vars TemplateVars) (PlatformResult, error) {
	if len(x.Ready) == 0 {
		return PlatformResult{}, nil
	}
	cmd, err := command(p.Policy, opReady.field, x.Ready, x.Dir, commandTimeout(*x), opReady.name, vars)
	if err != nil {
		return PlatformResult{}, err
	}
	limit := x.ReadyTimeout.D()
	if limit <= 0 {
		limit = defaultReadyTimeout
	}
	interval := p.ReadyInterval
	if interval <= 0 {
		interval = defaultReadyInterval
	}

	var progress readyProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &progress); err != nil {
			// Unreadable details only cost the resumption: start the count and the clock again.
			progress = readyProgress{}
		}
	}
	if progress.Since.IsZero() {
		progress.Since = time.Now()
	}
	var output string // of the latest poll in this attempt of the activity
	for {
		remaining := limit - time.Since(progress.Since)
		if remaining <= 0 {
			msg := withOutput(fmt.Sprintf("%s: not ready within %s (%d attempts)",
				opReady.field, spec.FormatDuration(limit), progress.Attempts), progress.Last, 1)
			return PlatformResult{}, temporal.NewNonRetryableApplicationError(redact(p.Redact, msg), ErrTypeReadinessTimeout, nil,
				PlatformResult{Output: p.failureOutput(output)})
		}
		progress.Attempts++
		activity.RecordHeartbeat(ctx, progress)
		poll := cmd
		poll.Timeout = min(cmd.Timeout, max(remaining, readyPollFloor))
		res, err := runCommand(ctx, p.Runner, poll, progress)
		switch {
		case err == nil && res.ExitCode == 0:
			p.logOutput(ctx, opReady, cmd, res, err)
			return PlatformResult{}, nil
		case err == nil:
			progress.Last = p.failureLine(withOutput(res.Status, p.failureOutput(res.Output), 1))
		case errors.Is(err, execrun.ErrTimeout):
			progress.Last = p.failureLine(withOutput(err.Error(), p.failureOutput(res.Output), 1))
		default:
			return PlatformResult{}, p.platformError(opReady, res, err)
		}
		output = res.Output
		activity.RecordHeartbeat(ctx, progress)
		wait := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			wait.Stop()
			return PlatformResult{}, ctx.Err()
		case <-activity.GetWorkerStopChannel(ctx):
			// A stopping worker waits for its running activities; a wait that can last minutes is better
			// resumed by the next worker, from the heartbeat.
			wait.Stop()
			return PlatformResult{}, fmt.Errorf("%s: the worker is stopping; a retry resumes the wait", opReady.field)
		case <-wait.C:
		}
	}
}

// secretEnv turns resolved secrets into KEY=value entries in sorted order. They follow the FERRY_* variables;
// validation keeps their names off those.
func secretEnv(secrets map[string]string) []string {
	env := make([]string, 0, len(secrets))
	for k, v := range secrets {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// run renders and runs one operation's command and returns its output, or maps its failure to the activity's
// error. The output stays inside the worker: only Current reads it, for the version it prints.
func (p *Exec) run(ctx context.Context, x *spec.ExecPlatform, vars TemplateVars, op platformOp, argv []string, secrets map[string]string) (string, error) {
	cmd, err := command(p.Policy, op.field, argv, x.Dir, commandTimeout(*x), op.name, vars)
	if err != nil {
		return "", redactError(p.Redact, err)
	}
	cmd.Env = append(cmd.Env, secretEnv(secrets)...)
	start := time.Now()
	res, err := runCommand(ctx, p.Runner, cmd, nil)
	activity.GetLogger(ctx).Info("platform command finished", "op", op.name, "program", redact(p.Redact, cmd.Argv[0]),
		"status", res.Status, "duration", time.Since(start), "error", err)
	if err != nil || res.ExitCode != 0 {
		return "", p.platformError(op, res, err)
	}
	p.logOutput(ctx, op, cmd, res, err)
	return res.Output, nil
}

// logOutput writes a command's output to the worker's log, redacted: the place to read what a command that
// succeeded printed.
func (p *Exec) logOutput(ctx context.Context, op platformOp, cmd execrun.Command, res execrun.Result, err error) {
	if res.Output == "" {
		return
	}
	activity.GetLogger(ctx).Info("platform command output", "op", op.name, "program", redact(p.Redact, cmd.Argv[0]),
		"output", redact(p.Redact, res.Output))
}

// failureOutput is the part of a failed command's output that its error may carry: redacted first (so that a
// secret the cut would split is still found), then cut to its last failureOutput bytes.
func (p *Exec) failureOutput(output string) string {
	return outputTail(redact(p.Redact, output), failureOutput)
}

// failureLine redacts a line built from a command's failure (a heartbeat's description of the latest poll).
func (p *Exec) failureLine(s string) string { return redact(p.Redact, s) }

// platformError turns a command that did not succeed (err from the runner, or nil for a non-zero exit) into the
// activity's failure, redacted. Cancellation passes through untouched so that the SDK reports it as such.
func (p *Exec) platformError(op platformOp, res execrun.Result, err error) error {
	output := p.failureOutput(res.Output)
	details := PlatformResult{Output: output}
	switch {
	case err == nil:
		msg := withOutput(op.field+": "+res.Status, output, errorLines)
		return temporal.NewApplicationError(redact(p.Redact, msg), ErrTypeCommandFailed, details)
	case errors.Is(err, execrun.ErrNotRunnable):
		// The runner's error names the program and holds the OS's reason; the message is all a user sees.
		return redactError(p.Redact, invalidSpec(op.field+": the program cannot be run: "+err.Error(), err))
	case errors.Is(err, execrun.ErrTimeout):
		msg := withOutput(op.field+": "+err.Error(), output, errorLines)
		return temporal.NewApplicationError(redact(p.Redact, msg), ErrTypeCommandTimeout, details)
	default:
		// A cancellation (whose cause may be the worker's own) or a failure to wait: no output in it.
		return fmt.Errorf("%s: %w", op.field, err)
	}
}

// commandTimeout is the bound on one command of the exec platform.
func commandTimeout(e spec.ExecPlatform) time.Duration {
	if e.Timeout > 0 {
		return e.Timeout.D()
	}
	return defaultCommandTimeout
}
