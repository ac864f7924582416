package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/execrun"
	"github.com/ferryhq/ferry/internal/spec"
)

// TemplateVars are the values platform commands and checks are templated with ({{.Image}}) and the FERRY_*
// environment variables they receive (FERRY_IMAGE, FERRY_CONFIG_<KEY>, ...).
type TemplateVars struct {
	Service        string            `json:"service"`
	Env            string            `json:"env"`
	Version        string            `json:"version"`
	GitSHA         string            `json:"gitSha,omitempty"`
	Image          string            `json:"image"`
	Track          string            `json:"track"`
	Weight         int               `json:"weight"`
	Replicas       int               `json:"replicas"`
	Strategy       string            `json:"strategy,omitempty"`
	MaxUnavailable int               `json:"maxUnavailable,omitempty"`
	MaxSurge       int               `json:"maxSurge,omitempty"`
	StableVersion  string            `json:"stableVersion,omitempty"`
	StableImage    string            `json:"stableImage,omitempty"`
	Config         map[string]string `json:"config,omitempty"`
}

// PlatformRequest is the input of every platform activity. Exec.Dir is relative to the worker's exec root
// (ExecPolicy.Root); empty means the root itself.
type PlatformRequest struct {
	Exec spec.ExecPlatform `json:"exec"`
	Vars TemplateVars      `json:"vars"`
}

// PlatformResult is the output of every platform activity, and the details of a command's failure.
type PlatformResult struct {
	// Output is empty when the command succeeded: what it printed goes to the worker's log, not into workflow
	// history. In a failure's details it is the redacted end of the output, at most failureOutput bytes.
	Output string `json:"output,omitempty"`
}

// Defaults for the exec platform's limits, used when the spec leaves them zero.
const (
	defaultCommandTimeout = 5 * time.Minute
	defaultReadyTimeout   = 10 * time.Minute
	defaultReadyInterval  = time.Second
)

// Platform runs the exec platform's operations: each activity runs the matching argv from spec.ExecPlatform,
// rendered as templates over the request's TemplateVars, with FERRY_* variables in the environment.
//
// Idempotence: Ferry retries an operation with exactly the same vars, so each operation is idempotent when the
// user's command is, and the exec platform requires that it is: deploying a version that already runs, setting a
// weight that is already set or removing what is gone must succeed and change nothing.
//
// Trust: every command runs only when the worker's ExecPolicy allows its program, in Exec.Dir resolved against
// the policy's root, with the policy's environment (not the worker's) plus the FERRY_* variables. Output of a
// command that succeeded is logged, never returned; the output quoted by a failure is cut short and, like every
// string the activities return, passes through Redact.
//
// Failures: a bad template, an empty command, a program the policy does not allow, a Dir outside the exec root
// or an executable that cannot be run is a non-retryable ErrTypeInvalidSpec; a non-zero exit
// (ErrTypeCommandFailed) or a timeout (ErrTypeCommandTimeout) is retryable, and Temporal retries it under the
// workflow's retry policy.
//
// Cancellation: a cancelled operation stops its command (SIGTERM to its process group, SIGKILL after the
// runner's grace period) and ends only once the command has exited, so a workflow that waits for the
// cancellation to complete knows that nothing of the operation still runs. A stopping worker does not cancel
// operations: they finish unless the worker's stop grace period ends first.
//
// The worker registers one &Platform{Runner: execrun.Runner{}, Exec: policy, Redact: redactor}; the Release
// workflow calls its methods.
type Platform struct {
	// Runner runs the commands.
	Runner CommandRunner
	// Exec is what the worker allows commands to do. Nil allows nothing.
	Exec *ExecPolicy
	// Redact sees every string the activities return. Nil redacts nothing.
	Redact Redactor
	// ReadyInterval is the pause between two readiness polls. Zero means one second.
	ReadyInterval time.Duration
}

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

// Deploy runs Exec.Deploy: start the version's replica set on Vars.Track. Idempotent and retryable as the type
// documents.
func (p *Platform) Deploy(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	_, err := p.run(ctx, in, opDeploy, in.Exec.Deploy)
	return PlatformResult{}, err
}

// SetWeight runs Exec.SetWeight: route Vars.Weight percent of traffic to Vars.Track. Idempotent and retryable
// as the type documents.
func (p *Platform) SetWeight(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	_, err := p.run(ctx, in, opSetWeight, in.Exec.SetWeight)
	return PlatformResult{}, err
}

// Promote runs Exec.Promote: make the track's version the stable one. Idempotent and retryable as the type
// documents.
func (p *Platform) Promote(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	_, err := p.run(ctx, in, opPromote, in.Exec.Promote)
	return PlatformResult{}, err
}

// Rollback runs Exec.Rollback: restore Vars.StableVersion on the stable track. Idempotent and retryable as the
// type documents.
func (p *Platform) Rollback(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	_, err := p.run(ctx, in, opRollback, in.Exec.Rollback)
	return PlatformResult{}, err
}

// Remove runs Exec.Remove: delete a version's replica set from Vars.Track. Idempotent and retryable as the type
// documents.
func (p *Platform) Remove(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	_, err := p.run(ctx, in, opRemove, in.Exec.Remove)
	return PlatformResult{}, err
}

// CurrentResult is the output of Current.
type CurrentResult struct {
	// Known is false when the platform has no current command: nobody can say what runs.
	Known bool `json:"known"`
	// Version serves the stable track now; empty (with Known) means nothing runs there.
	Version string `json:"version,omitempty"`
}

// Current runs Exec.Current to ask the platform which version serves Vars.Env's stable track, so a release
// that does not know its stable version never has to guess. Without a current command it returns Known
// false. It only reads state, so it is idempotent; failures are retryable as the type documents.
func (p *Platform) Current(ctx context.Context, in PlatformRequest) (CurrentResult, error) {
	if len(in.Exec.Current) == 0 {
		return CurrentResult{}, nil
	}
	output, err := p.run(ctx, in, opCurrent, in.Exec.Current)
	if err != nil {
		return CurrentResult{}, err
	}
	lines := strings.Split(strings.TrimSpace(output), "\n")
	return CurrentResult{Known: true, Version: redact(p.Redact, strings.TrimSpace(lines[len(lines)-1]))}, nil
}

// readyProgress is WaitReady's heartbeat detail: a retried attempt of the activity continues the count and the
// clock instead of starting over, and can still say why the service was not ready.
type readyProgress struct {
	Attempts int       `json:"attempts"`
	Since    time.Time `json:"since"`
	// Last describes the latest failed poll: "exit status 1: <last output line>".
	Last string `json:"last,omitempty"`
}

// readyPollFloor is the least time a poll gets even when the readiness deadline is closer, so that the last
// poll can still succeed. A poll never gets more than Exec.Timeout.
const readyPollFloor = 10 * time.Second

// WaitReady polls Exec.Ready every ReadyInterval until it exits 0, and returns at once when there is no ready
// command. It gives up with a non-retryable ErrTypeReadinessTimeout once Exec.ReadyTimeout (default 10m) has
// passed since the first poll; no poll starts after that, and one that starts close to it is cut short, so the
// whole wait stays within ReadyTimeout plus readyPollFloor plus ReadyInterval. When the worker stops, the wait
// ends after the running poll with a retryable error, so that another worker resumes it. The first poll's time, the poll
// count and the latest failure travel in heartbeat details, so a retry of the activity (after a worker crash,
// say) keeps the original deadline. Polling only reads state, so the activity is idempotent. The workflow's
// StartToClose timeout must leave that slack beyond ReadyTimeout, and its heartbeat timeout must exceed a few
// seconds (commands heartbeat every second).
func (p *Platform) WaitReady(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	res, err := p.waitReady(ctx, in)
	return res, redactError(p.Redact, err)
}

func (p *Platform) waitReady(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	if len(in.Exec.Ready) == 0 {
		return PlatformResult{}, nil
	}
	cmd, err := command(p.Exec, opReady.field, in.Exec.Ready, in.Exec.Dir, commandTimeout(in.Exec), opReady.name, in.Vars)
	if err != nil {
		return PlatformResult{}, err
	}
	limit := in.Exec.ReadyTimeout.D()
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

// run renders and runs one operation's command and returns its output, or maps its failure to the activity's
// error. The output stays inside the worker: only Current reads it, for the version it prints.
func (p *Platform) run(ctx context.Context, in PlatformRequest, op platformOp, argv []string) (string, error) {
	cmd, err := command(p.Exec, op.field, argv, in.Exec.Dir, commandTimeout(in.Exec), op.name, in.Vars)
	if err != nil {
		return "", redactError(p.Redact, err)
	}
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
func (p *Platform) logOutput(ctx context.Context, op platformOp, cmd execrun.Command, res execrun.Result, err error) {
	if res.Output == "" {
		return
	}
	activity.GetLogger(ctx).Info("platform command output", "op", op.name, "program", redact(p.Redact, cmd.Argv[0]),
		"output", redact(p.Redact, res.Output))
}

// failureOutput is the part of a failed command's output that its error may carry: redacted first (so that a
// secret the cut would split is still found), then cut to its last failureOutput bytes.
func (p *Platform) failureOutput(output string) string {
	return outputTail(redact(p.Redact, output), failureOutput)
}

// failureLine redacts a line built from a command's failure (a heartbeat's description of the latest poll).
func (p *Platform) failureLine(s string) string { return redact(p.Redact, s) }

// platformError turns a command that did not succeed (err from the runner, or nil for a non-zero exit) into the
// activity's failure, redacted. Cancellation passes through untouched so that the SDK reports it as such.
func (p *Platform) platformError(op platformOp, res execrun.Result, err error) error {
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
