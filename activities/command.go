package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/execrun"
	"github.com/ferryhq/ferry/internal/spec"
)

// Error types of Ferry's activity failures (temporal.ApplicationError.Type). They are stable: workflows, retry
// policies and the CLI match on them.
const (
	// ErrTypeInvalidSpec is a spec or input that can never work: a bad template, an empty command, an executable
	// that does not exist. Non-retryable.
	ErrTypeInvalidSpec = "InvalidSpec"
	// ErrTypeCommandFailed is a platform command that exited non-zero. Retryable; details hold a PlatformResult.
	ErrTypeCommandFailed = "CommandFailed"
	// ErrTypeCommandTimeout is a platform command killed after its timeout. Retryable; details hold a
	// PlatformResult.
	ErrTypeCommandTimeout = "CommandTimeout"
	// ErrTypeReadinessTimeout is a ready command that did not succeed within ReadyTimeout. Non-retryable: the
	// workflow decides what happens next (usually a rollback).
	ErrTypeReadinessTimeout = "ReadinessTimeout"
)

// CommandRunner runs one command to completion. execrun.Runner is the real one. It returns a nil error for a
// command that ran, whatever its exit code, and wraps execrun.ErrNotRunnable or execrun.ErrTimeout otherwise.
type CommandRunner interface {
	Run(ctx context.Context, cmd execrun.Command) (execrun.Result, error)
}

// commandHeartbeat is how often a running command heartbeats. A cancellation reaches the command only in the
// server's answer to a heartbeat, so this bounds how long a cancelled command runs on before it is stopped, as
// long as the worker does not batch heartbeats for longer (its MaxHeartbeatThrottleInterval). It must also stay
// well below any heartbeat timeout a workflow sets.
const commandHeartbeat = time.Second

// errorLines is how many trailing output lines an error or check detail quotes.
const errorLines = 5

// failureOutput is how many bytes of a failed command's output (its end) its error carries, in the message and
// in the details together: enough to see why, little enough to keep history small.
const failureOutput = 1 << 10

// invalidSpec is the non-retryable failure for input that no retry can fix.
func invalidSpec(msg string, cause error) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeInvalidSpec, cause)
}

// render executes text as a template over vars. A missing field or config key is an error, not "<no value>".
func render(name, text string, vars TemplateVars) (string, error) {
	return spec.Execute(name, text, vars)
}

// command builds the command for the spec field named field: argv rendered over vars, run in dir (resolved
// against the policy's root) with the policy's environment plus the FERRY_* variables, FERRY_OP set to op. It
// refuses a program the policy does not allow. Every problem it finds is an InvalidSpec failure.
func command(pol *ExecPolicy, field string, argv []string, dir string, timeout time.Duration, op string, vars TemplateVars) (execrun.Command, error) {
	if len(argv) == 0 {
		return execrun.Command{}, invalidSpec(field+" is empty", nil)
	}
	// Coordinates arrive in workflow input, which anyone who can start a workflow writes: check them again
	// before they reach a command line, whoever started the release.
	if err := checkCoordinates(vars); err != nil {
		return execrun.Command{}, invalidSpec(field+": "+strings.ReplaceAll(err.Error(), "\n", "; "), err)
	}
	rendered := make([]string, len(argv))
	for i, arg := range argv {
		name := fmt.Sprintf("%s[%d]", field, i)
		s, err := render(name, arg, vars)
		if err != nil {
			return execrun.Command{}, invalidSpec(name+": invalid template", err)
		}
		rendered[i] = s
	}
	if rendered[0] == "" {
		return execrun.Command{}, invalidSpec(field+"[0]: the program name is empty", nil)
	}
	// Admit checked the spec before the release began; checking again here holds whatever path led to this
	// activity (a release admitted by another worker, or begun before admission existed).
	resolved, err := pol.checkCommand(field, rendered[0], dir)
	if err != nil {
		return execrun.Command{}, err
	}
	var env []string
	if pol != nil {
		env = append(env, pol.Env...)
	}
	env = append(env, commandEnv(op, vars)...)
	return execrun.Command{Argv: rendered, Dir: resolved, Env: env, CleanEnv: true, Timeout: timeout}, nil
}

// checkCoordinates checks the release coordinates in vars that are set, with the rules `ferry start` applies.
func checkCoordinates(v TemplateVars) error {
	var errs []error
	if v.Version != "" {
		errs = append(errs, spec.CheckVersion(v.Version))
	}
	if v.GitSHA != "" {
		errs = append(errs, spec.CheckGitSHA(v.GitSHA))
	}
	if v.Image != "" {
		errs = append(errs, spec.CheckImage(v.Image))
	}
	return errors.Join(errs...)
}

// commandEnv returns the FERRY_* variables a command receives, config keys in sorted order (so that when two keys
// map to the same variable, the result does not depend on map order).
func commandEnv(op string, v TemplateVars) []string {
	env := []string{
		"FERRY_OP=" + op,
		"FERRY_SERVICE=" + v.Service,
		"FERRY_ENV=" + v.Env,
		"FERRY_VERSION=" + v.Version,
		"FERRY_GIT_SHA=" + v.GitSHA,
		"FERRY_IMAGE=" + v.Image,
		"FERRY_IMAGE_TAG=" + v.ImageTag,
		"FERRY_DIGEST=" + v.Digest,
		"FERRY_TRACK=" + v.Track,
		"FERRY_WEIGHT=" + strconv.Itoa(v.Weight),
		"FERRY_REPLICAS=" + strconv.Itoa(v.Replicas),
		"FERRY_STRATEGY=" + v.Strategy,
		"FERRY_MAX_UNAVAILABLE=" + strconv.Itoa(v.MaxUnavailable),
		"FERRY_MAX_SURGE=" + strconv.Itoa(v.MaxSurge),
		"FERRY_STABLE_VERSION=" + v.StableVersion,
		"FERRY_STABLE_IMAGE=" + v.StableImage,
	}
	keys := make([]string, 0, len(v.Config))
	for k := range v.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, "FERRY_CONFIG_"+envName(k)+"="+v.Config[k])
	}
	return env
}

// envName upper-cases key and replaces every character other than A-Z and 0-9 with '_' (spec.ConfigEnvName
// without its prefix).
func envName(key string) string {
	return strings.TrimPrefix(spec.ConfigEnvName(key), "FERRY_CONFIG_")
}

// runCommand runs cmd and heartbeats details while it runs, so that the server notices a dead worker within the
// heartbeat timeout and a cancellation reaches ctx even during a long command. A cancellation stops the command
// (SIGTERM, then SIGKILL after the runner's grace period), and runCommand returns only once it has exited: the
// activity does not report itself cancelled while its command may still change anything.
func runCommand(ctx context.Context, r CommandRunner, cmd execrun.Command, details any) (execrun.Result, error) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(done)
		wg.Wait() // no heartbeat may race the activity's completion
	}()
	wg.Go(func() {
		t := time.NewTicker(commandHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				activity.RecordHeartbeat(ctx, details)
			case <-done:
				return
			}
		}
	})
	return r.Run(ctx, cmd)
}

// outputTail returns the last n bytes of s, starting at a line when the cut falls mid-line and a later line
// exists.
func outputTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := s[len(s)-n:]
	if i := strings.IndexByte(cut, '\n'); i >= 0 && i < len(cut)-1 {
		cut = cut[i+1:]
	}
	return strings.ToValidUTF8(cut, "")
}

// redactError passes an activity's error through rd before it leaves the activity: the message and the cause's
// text of an ApplicationError without details (rebuilt with its type and retryability), or the text of any
// other error. Errors with details are built redacted where they are made; cancellation passes untouched so
// that the SDK reports it as such.
func redactError(rd Redactor, err error) error {
	if rd == nil || err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var app *temporal.ApplicationError
	if !errors.As(err, &app) {
		return errors.New(rd.Redact(err.Error()))
	}
	if app.HasDetails() {
		return err
	}
	var cause error
	if c := errors.Unwrap(app); c != nil {
		cause = errors.New(rd.Redact(c.Error()))
	}
	msg := rd.Redact(app.Message())
	if app.NonRetryable() {
		return temporal.NewNonRetryableApplicationError(msg, app.Type(), cause)
	}
	return temporal.NewApplicationError(msg, app.Type(), cause)
}

// withOutput appends the last n non-blank lines of output to head, on one line: "exit status 1: a; b".
func withOutput(head, output string, n int) string {
	var lines []string
	rest := output
	for len(lines) < n && rest != "" {
		var line string
		if i := strings.LastIndexByte(rest, '\n'); i >= 0 {
			rest, line = rest[:i], rest[i+1:]
		} else {
			rest, line = "", rest
		}
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return head
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return head + ": " + strings.Join(lines, "; ")
}
