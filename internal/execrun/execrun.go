// Package execrun runs one external command to completion: argv only (no shell), bounded by a timeout, in its
// own process group so that a timeout or cancellation stops everything the command started, and keeping only the
// tail of its combined output.
//
// A command is stopped politely: SIGTERM to its process group, then SIGKILL to whatever still runs after a grace
// period. Run returns only once the command has exited, so that whoever cancelled it can rely on it being over.
//
// The exec platform and exec checks in package activities run their commands through it.
package execrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// OutputTail is how many bytes of combined output a Result keeps: the end of the output, where errors are.
const OutputTail = 4 << 10

// DefaultStopGrace is Runner.StopGrace when it is zero.
const DefaultStopGrace = 10 * time.Second

// pipeGrace bounds how long Run waits for the output pipe to close once the command has exited (or was killed).
// A background process the command leaves running keeps the pipe open; it must redirect its own output.
const pipeGrace = 2 * time.Second

var (
	// ErrNotRunnable means the command cannot start: the executable or the directory does not exist, or the
	// file is not executable. Running it again will not help.
	ErrNotRunnable = errors.New("cannot run command")
	// ErrTimeout means the command ran longer than Command.Timeout and was stopped with its process group.
	ErrTimeout = errors.New("command timed out")
)

// Command is one process to run.
type Command struct {
	// Argv is the program and its arguments. A bare name is looked up in PATH; a relative path with a slash
	// resolves against Dir.
	Argv []string
	// Dir is the working directory. Empty means the current directory of the calling process.
	Dir string
	// Env holds KEY=value entries added to the calling process's environment; they win over inherited ones.
	// With CleanEnv they are the whole environment.
	Env []string
	// CleanEnv starts the command with Env only, inheriting nothing from the calling process. PATH is then
	// Env's too, for looking up a bare program name as for the command's own use.
	CleanEnv bool
	// Timeout bounds the run. Zero means only ctx bounds it.
	Timeout time.Duration
}

// Result is how a command that ran ended.
type Result struct {
	// ExitCode is the exit status, or -1 when a signal ended the process.
	ExitCode int
	// Status describes the end in words: "exit status 1", "signal: killed".
	Status string
	// Output is the last OutputTail bytes of stdout and stderr, interleaved as written, starting at a line.
	Output string
}

// Runner runs commands on the local machine. The zero value is ready to use and safe for concurrent use.
type Runner struct {
	// StopGrace is how long a command's process group may take to exit after SIGTERM, on a timeout or a
	// cancellation, before SIGKILL ends what is left. Zero means DefaultStopGrace.
	StopGrace time.Duration
}

// Run starts cmd and waits for it. A command that ran returns its Result and a nil error whatever its exit code;
// the caller decides what a non-zero exit means. The error is non-nil when the command could not start
// (ErrNotRunnable), ran past cmd.Timeout (ErrTimeout, with the output so far in the Result), or ctx ended first
// (ctx's error, or its cause when it has one).
//
// After a timeout or cancellation the whole process group gets SIGTERM, and SIGKILL once StopGrace has passed
// with any of it still running. Run returns after the command itself has exited, at most about StopGrace (plus
// the time to close its output) after the timeout or cancellation. On Linux the command also gets SIGKILL if the
// calling process dies first, so that a crashed worker leaves no command running beside the retry.
func (r Runner) Run(ctx context.Context, cmd Command) (Result, error) {
	if len(cmd.Argv) == 0 || cmd.Argv[0] == "" {
		return Result{}, fmt.Errorf("%w: empty argv", ErrNotRunnable)
	}
	if cmd.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cmd.Timeout, ErrTimeout)
		defer cancel()
	}

	name := cmd.Argv[0]
	if cmd.Dir != "" && strings.ContainsRune(name, '/') && !filepath.IsAbs(name) {
		name = filepath.Join(cmd.Dir, name)
	}
	// Not CommandContext: its cancellation would kill the process at once, where a command gets a grace period.
	c := exec.Command(name, cmd.Argv[1:]...)
	if cmd.CleanEnv && !strings.ContainsRune(name, '/') {
		// exec.Command looked the name up in this process's PATH; the command's own PATH decides instead.
		c.Path, c.Err = lookPath(name, cmd.Env)
	}
	c.Dir = cmd.Dir
	if cmd.CleanEnv {
		c.Env = append([]string{}, cmd.Env...)
	} else {
		c.Env = append(c.Environ(), cmd.Env...)
	}
	out := &tail{max: OutputTail}
	c.Stdout, c.Stderr = out, out
	ownProcessGroup(c)
	c.WaitDelay = pipeGrace

	if ctx.Err() != nil {
		return Result{}, context.Cause(ctx) // nothing started, nothing to stop
	}
	if err := c.Start(); err != nil {
		if notRunnable(err) {
			return Result{}, fmt.Errorf("%w %q: %w", ErrNotRunnable, cmd.Argv[0], err)
		}
		return Result{}, fmt.Errorf("start %q: %w", cmd.Argv[0], err)
	}
	waited := make(chan error, 1)
	go func() { waited <- c.Wait() }()
	var err error
	stopped := false
	select {
	case err = <-waited:
	case <-ctx.Done():
		err, stopped = r.stop(c, waited), true
	}
	// out is complete: Wait has returned, so nothing writes to it any more.
	res := Result{Output: out.String()}
	if c.ProcessState != nil {
		res.ExitCode = c.ProcessState.ExitCode()
		res.Status = c.ProcessState.String()
	}
	if stopped {
		if cause := context.Cause(ctx); errors.Is(cause, ErrTimeout) {
			return res, fmt.Errorf("%w after %s", ErrTimeout, cmd.Timeout)
		}
		return res, context.Cause(ctx)
	}
	var exitErr *exec.ExitError
	if err == nil || errors.As(err, &exitErr) || errors.Is(err, exec.ErrWaitDelay) {
		// The process ended on its own; its exit code is the answer, even if a child it left behind held the
		// output open past pipeGrace.
		return res, nil
	}
	return res, fmt.Errorf("wait for %q: %w", cmd.Argv[0], err)
}

// stop ends a started command whose context is done: SIGTERM to its process group, SIGKILL to the group once the
// grace period has passed with any of it still running. It returns Wait's error, from waited.
func (r Runner) stop(c *exec.Cmd, waited <-chan error) error {
	grace := r.StopGrace
	if grace <= 0 {
		grace = DefaultStopGrace
	}
	terminate(c)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	var err error
	exited := false
	for {
		select {
		case err = <-waited:
			exited = true
		case <-poll.C:
		case <-deadline.C:
			kill(c)
			if !exited {
				err = <-waited
			}
			return err
		}
		// Children the command started may still be winding down after it exited: they get the rest of the
		// grace period too.
		if exited && !groupAlive(c) {
			return err
		}
	}
}

// lookPath finds name in the PATH of env, the way exec.LookPath does in the process's own PATH.
func lookPath(name string, env []string) (string, error) {
	pathList := ""
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == "PATH" {
			pathList = v
		}
	}
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // a program found through a relative PATH entry would depend on the working directory
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return name, &exec.Error{Name: name, Err: exec.ErrNotFound}
}

// notRunnable tells start failures that a retry cannot fix from transient ones (such as EAGAIN from fork).
func notRunnable(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOEXEC) || errors.Is(err, exec.ErrDot)
}

// tail is an io.Writer that keeps the last max bytes written. exec.Cmd calls Write from one goroutine at a time
// when Stdout and Stderr are the same writer, so it needs no lock.
type tail struct {
	max int
	// buf holds everything written, or, once trimmed, at least the last max+1 bytes: the extra byte tells
	// whether the kept part starts at a line.
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	// Trim only once the buffer holds twice the limit, so that copying stays linear in the output size.
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max-1:]...)
	}
	return len(p), nil
}

// String returns the last max bytes, without the partial line at their start if the cut fell mid-line.
func (t *tail) String() string {
	b := t.buf
	if len(b) > t.max {
		midLine := b[len(b)-t.max-1] != '\n'
		b = b[len(b)-t.max:]
		if i := bytes.IndexByte(b, '\n'); midLine && i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
