package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferryhq/ferry/internal/migrate"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/worker"
	"github.com/ferryhq/ferry/workflows"
)

// Exit codes. They are part of the CLI contract: scripts and CI branch on them, and `ferry help` lists them.
const (
	exitOK          = 0
	exitError       = 1
	exitRejected    = 2
	exitUnreachable = 3
	exitFailed      = 4
	exitRolledBack  = 5
	exitAborted     = 6
	exitSuperseded  = 7
	// exitStillRunning is --timeout of start --wait or status --watch running out: the release goes on.
	exitStillRunning = 8
)

// exitCodes documents every exit code, in order, for `ferry help`.
var exitCodes = []struct {
	code    int
	meaning string
}{
	{exitOK, "success"},
	{exitError, "unexpected error"},
	{exitRejected, "rejected input or state, nothing changed (bad spec or flags, a refused decision, no such release)"},
	{exitUnreachable, "Temporal, or a worker to answer the release, is unreachable"},
	{exitFailed, "the release failed"},
	{exitRolledBack, "the release rolled back"},
	{exitAborted, "the release was aborted"},
	{exitSuperseded, "the release was superseded by a newer one"},
	{exitStillRunning, "the release still runs when --timeout of start --wait or status --watch ran out; it goes on"},
}

func exitCodeHelp() string {
	var b strings.Builder
	b.WriteString("Exit codes (start --wait and status --watch exit with the release's outcome):\n")
	for _, e := range exitCodes {
		fmt.Fprintf(&b, "   %d  %s\n", e.code, e.meaning)
	}
	return b.String()
}

// report is what the user sees of an error: one line, a hint, an exit code, and for a bad spec its problems.
type report struct {
	message string
	hint    string
	code    int
	// details are printed above the message, one per line.
	details []string
}

// usageError is a command line the command cannot run: a missing argument or flag, a malformed value.
type usageError struct {
	command string
	msg     string
}

func (e *usageError) Error() string { return e.msg }

func usagef(command, format string, args ...any) error {
	return &usageError{command: command, msg: fmt.Sprintf(format, args...)}
}

// specError is a spec that could not be loaded; path is the file as the user named it.
type specError struct {
	path string
	err  error
}

func (e *specError) Error() string { return e.path + ": " + e.err.Error() }
func (e *specError) Unwrap() error { return e.err }

// unreachableError is a failed dial.
type unreachableError struct {
	address string
	err     error
	// tls and clientCert say whether the client used TLS, and presented a certificate.
	tls, clientCert bool
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach Temporal at %s: %v", e.address, e.err)
}
func (e *unreachableError) Unwrap() error { return e.err }

// outcomeCodes maps a release's final state to its exit code.
var outcomeCodes = map[string]int{
	workflows.StateFailed:     exitFailed,
	workflows.StateRolledBack: exitRolledBack,
	workflows.StateAborted:    exitAborted,
	workflows.StateSuperseded: exitSuperseded,
}

// describe turns any error a command returns into what the user sees. It is the only place that chooses
// messages, hints and exit codes for errors.
func describe(err error) report {
	var (
		usage       *usageError
		badSpec     *specError
		problems    *spec.Problems
		rejected    *starter.RejectedError
		notFound    *starter.NotFoundError
		ambiguous   *starter.AmbiguousError
		outcome     *starter.OutcomeError
		unreachable *unreachableError
		noWorker    *starter.NoWorkerError
		nsNotFound  *serviceerror.NamespaceNotFound
		coordinate  *spec.CoordinateError
		inUse       *portInUseError
		conflict    *starter.ConflictError
		lint        *lintError
		sqlFile     *migrationFileError
		credential  *credentialError
		stillRuns   *stillRunningError
		lost        *starter.LostError
		workerCfg   *worker.ConfigError
	)
	switch {
	case errors.As(err, &usage):
		hint := "run `ferry help` for the commands"
		if usage.command != "" {
			hint = fmt.Sprintf("run `ferry %s --help` for its usage", usage.command)
		}
		return report{message: usage.msg, hint: hint, code: exitRejected}

	case errors.As(err, &workerCfg):
		details := make([]string, len(workerCfg.Problems))
		for i, p := range workerCfg.Problems {
			details[i] = workerCfg.Path + ": " + p
		}
		return report{message: fmt.Sprintf("%s has %s", workerCfg.Path, plural(len(details), "problem")),
			hint: "fix them: the README's Worker configuration section describes the file", code: exitRejected, details: details}

	case errors.As(err, &inUse):
		return report{message: inUse.Error(), hint: "pass --port (the Web UI follows at --port + 1000) or --ui-port with a free port, or stop what listens there", code: exitRejected}

	case errors.As(err, &credential):
		return report{message: credential.Error(), hint: credential.hint(), code: exitRejected}

	case errors.As(err, &coordinate):
		r := report{message: oneLine(err.Error()), hint: "pass a valid --version, --git-sha and --image", code: exitRejected}
		if lines := strings.Split(strings.TrimSpace(err.Error()), "\n"); len(lines) > 1 {
			r.details = lines
			r.message = fmt.Sprintf("%d release coordinates break their rules", len(lines))
		}
		return r

	case errors.As(err, &badSpec) && errors.As(err, &problems):
		details := make([]string, len(problems.List))
		for i, p := range problems.List {
			details[i] = p.String()
		}
		return report{
			message: fmt.Sprintf("%s has %s", badSpec.path, plural(len(problems.List), "problem")),
			hint:    fmt.Sprintf("fix them, then check with `ferry validate %s`", badSpec.path),
			code:    exitRejected,
			details: details,
		}

	case errors.As(err, &badSpec) && errors.Is(err, fs.ErrNotExist):
		return report{message: badSpec.path + ": no such file", hint: "pass the path of the service's ferry.yaml", code: exitRejected}

	case errors.As(err, &badSpec):
		return report{message: oneLine(badSpec.Error()), hint: "pass the path of the service's ferry.yaml", code: exitRejected}

	case errors.As(err, &conflict):
		return report{message: conflict.Error(), hint: "a version is released once, with one set of inputs: release the change as a new version, or retry with the same --git-sha, --image and spec", code: exitRejected}
	case errors.As(err, &lint):
		details := make([]string, len(lint.errors))
		for i, f := range lint.errors {
			details[i] = f.String()
		}
		return report{message: lint.Error(), hint: "fix each statement as its hint says; destructive steps belong in the contract migration", code: exitRejected, details: details}

	case errors.As(err, &sqlFile) && errors.Is(err, fs.ErrNotExist):
		return report{message: sqlFile.path + ": no such file", hint: "pass the paths of migration SQL files", code: exitRejected}

	case errors.As(err, &sqlFile):
		return report{message: oneLine(sqlFile.Error()), hint: "pass the paths of readable migration SQL files", code: exitRejected}

	case errors.Is(err, migrate.ErrNoParser):
		return report{message: "migrate lint: " + err.Error(), hint: "build ferry with cgo enabled (CGO_ENABLED=1 and a C compiler), which links PostgreSQL's parser", code: exitError}

	case errors.As(err, &rejected):
		return report{message: oneLine(rejected.Reason), hint: "`ferry status SERVICE` shows where the release is and what it waits for", code: exitRejected}

	case errors.As(err, &ambiguous):
		now := time.Now()
		details := make([]string, len(ambiguous.Releases))
		for i, st := range ambiguous.Releases {
			details[i] = "  " + starter.StatusLine(st, now)
		}
		return report{message: ambiguous.Error(), hint: "pass --version to choose one of the releases above", code: exitRejected, details: details}

	case errors.As(err, &notFound):
		return report{message: notFound.Error(), hint: fmt.Sprintf("`ferry list --service %s` shows its releases", notFound.Service), code: exitRejected}

	case errors.As(err, &outcome):
		code, ok := outcomeCodes[outcome.Result.State]
		if !ok {
			code = exitFailed
		}
		if outcome.Type == workflows.ErrTypeInvalid {
			code = exitRejected
		}
		return report{
			message: oneLine(outcome.Error()),
			hint:    fmt.Sprintf("`ferry history %s --version %s` shows what happened", outcome.Result.Service, outcome.Result.Version),
			code:    code,
		}

	case errors.As(err, &stillRuns):
		return report{message: stillRuns.Error(), hint: "the release goes on: " + followAgain(stillRuns.run), code: exitStillRunning}

	case errors.As(err, &lost):
		return report{
			message: fmt.Sprintf("lost Temporal for %s while following %s %s (%s)", spec.FormatDuration(lost.For.Round(time.Second)), lost.Run.Service, lost.Run.Version, outageCause(lost.Err)),
			hint:    "the release goes on without this command: once Temporal is back, " + followAgain(lost.Run) + "; --reconnect-timeout (FERRY_RECONNECT_TIMEOUT) waits longer",
			code:    exitUnreachable,
		}

	case errors.As(err, &noWorker):
		hint := "run `ferry worker` (or `ferry dev`, which includes one) for this server and --task-queue"
		if strings.HasSuffix(noWorker.What, " update") {
			hint += "; the server keeps the decision, so it may still apply when a worker returns: check `ferry status SERVICE` before repeating it"
		}
		return report{message: noWorker.Error(), hint: hint, code: exitUnreachable}

	case errors.As(err, &nsNotFound):
		return report{message: oneLine(nsNotFound.Error()), hint: "pass an existing namespace with --namespace or TEMPORAL_NAMESPACE", code: exitRejected}

	case errors.As(err, &unreachable) || isUnavailable(err):
		msg := "cannot reach Temporal"
		if unreachable != nil {
			msg += " at " + unreachable.address
		}
		if r, ok := describeConnFailure(err, unreachable); ok {
			return r
		}
		return report{message: fmt.Sprintf("%s (%s)", msg, causeText(err)), hint: "start `ferry dev`, or point --address (TEMPORAL_ADDRESS) at a running server", code: exitUnreachable}

	case errors.Is(err, context.Canceled):
		return report{message: "interrupted", hint: "a started release keeps running; `ferry status SERVICE` follows it", code: exitError}
	}
	return report{message: oneLine(err.Error()), hint: "this is unexpected: rerun with --log-level debug, and report it if it persists", code: exitError}
}

// followAgain says how to follow run again.
func followAgain(run starter.Run) string {
	return fmt.Sprintf("`ferry status %s --version %s --watch` follows it", run.Service, run.Version)
}

// printError writes a report to w and returns its exit code.
func printError(w io.Writer, err error) int {
	r := describe(err)
	for _, d := range r.details {
		fmt.Fprintln(w, d)
	}
	fmt.Fprintf(w, "ferry: %s\nhint: %s\n", r.message, r.hint)
	return r.code
}

// errorDoc is the JSON document of an error, on stdout with --output json (the text still goes to stderr).
type errorDoc struct {
	Error struct {
		Message  string   `json:"message"`
		Hint     string   `json:"hint"`
		ExitCode int      `json:"exitCode"`
		Details  []string `json:"details,omitempty"`
	} `json:"error"`
}

// printJSONError writes err's report to w as an errorDoc.
func printJSONError(w io.Writer, err error) {
	r := describe(err)
	var doc errorDoc
	doc.Error.Message, doc.Error.Hint, doc.Error.ExitCode, doc.Error.Details = r.message, r.hint, r.code, r.details
	// One line, so that it also ends a stream of JSON lines (status --watch).
	_ = json.NewEncoder(w).Encode(doc)
}

// isUnavailable reports a gRPC call that never reached a server.
func isUnavailable(err error) bool {
	var unavailable *serviceerror.Unavailable
	if errors.As(err, &unavailable) {
		return true
	}
	s, ok := status.FromError(rootCause(err))
	return ok && (s.Code() == codes.Unavailable)
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// causeText is the innermost cause of a transport error, in a few words: a gRPC message such as
// `connection error: desc = "transport: ... connect: connection refused"` becomes "connection refused".
func causeText(err error) string {
	cause := rootCause(err)
	s := cause.Error()
	if st, ok := status.FromError(cause); ok {
		s = st.Message()
	}
	s = oneLine(s)
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return strings.Trim(s, `"`)
}

// oneLine keeps the first line of a message: the contract is one line per error.
func oneLine(s string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return first
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
