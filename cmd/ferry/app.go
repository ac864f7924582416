package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/internal/codec"
	"github.com/ferryhq/ferry/worker"
)

// GlobalOptions are the flags every command shares, plus the streams and logger the app sets up from them.
type GlobalOptions struct {
	Address   string
	Namespace string
	TaskQueue string
	// UIURL is the Temporal Web UI base URL, for links; empty means unknown.
	UIURL    string
	Output   string
	LogLevel string
	// Conn secures the connection: TLS and an API key.
	Conn ConnOptions
	// Codec encrypts payloads (flags and env); codec is the codec it loaded, nil when none.
	Codec CodecOptions
	codec *codec.Codec
	// devTLS, when set, is the TLS configuration of a client in the process of an embedded server that has
	// TLS on; it stands in for Conn when Conn asks for no TLS.
	devTLS *tls.Config

	stdout, stderr io.Writer
	logger         *slog.Logger
	// emitted is set once a command wrote its JSON document; shared by the copies commands get.
	emitted *bool
}

// printer returns the printer for stdout in the chosen output format.
func (g GlobalOptions) printer() *printer {
	p := newPrinter(g.stdout, g.Output)
	p.emitted = g.emitted
	return p
}

// dial connects to Temporal. A TLS credential it cannot read is a credentialError (exit code 2); every failure
// to connect is an unreachableError (exit code 3).
func (g GlobalOptions) dial(ctx context.Context) (client.Client, error) {
	opts := worker.DialOptions{HostPort: g.Address, Namespace: g.Namespace, Logger: g.logger, DataConverter: g.dataConverter()}
	if err := g.Conn.apply(&opts); err != nil {
		return nil, err
	}
	if g.devTLS != nil && opts.TLS == nil {
		opts.TLS, opts.TLSDisabled = g.devTLS, false
	}
	c, err := worker.Dial(ctx, opts)
	if err != nil {
		return nil, &unreachableError{address: g.Address, err: err, tls: opts.TLS != nil, clientCert: opts.TLS != nil && len(opts.TLS.Certificates) > 0}
	}
	return c, nil
}

// withClient dials, runs fn and closes the client.
func (g GlobalOptions) withClient(ctx context.Context, fn func(client.Client) error) error {
	c, err := g.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// setup validates the global flags and builds the logger. Logs go to stderr; they are never user output.
func (g *GlobalOptions) setup() error {
	// An environment variable that is set but empty (common in CI templates) means the default, not "".
	for _, f := range []struct {
		v    *string
		dflt string
	}{
		{&g.Address, defaultAddress}, {&g.Namespace, defaultNamespace}, {&g.TaskQueue, worker.DefaultTaskQueue},
		{&g.Output, outputText}, {&g.LogLevel, defaultLogLevel},
	} {
		if *f.v == "" {
			*f.v = f.dflt
		}
	}
	if g.Output != outputText && g.Output != outputJSON {
		return usagef("", "--output is %q, want text or json", g.Output)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.LogLevel)); err != nil {
		return usagef("", "--log-level is %q, want debug, info, warn or error", g.LogLevel)
	}
	if err := g.Conn.check(); err != nil {
		return err
	}
	var err error
	if g.codec, err = g.Codec.load(); err != nil {
		return err
	}
	g.logger = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
	return nil
}

// Defaults of the global flags.
const (
	defaultAddress   = "127.0.0.1:7233"
	defaultNamespace = "default"
	defaultLogLevel  = "warn"
)

func globalFlags(g *GlobalOptions) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "address", Usage: "Temporal frontend `HOST:PORT`", EnvVars: []string{"TEMPORAL_ADDRESS"}, Value: defaultAddress, Destination: &g.Address},
		&cli.StringFlag{Name: "namespace", Usage: "Temporal `NAMESPACE`", EnvVars: []string{"TEMPORAL_NAMESPACE"}, Value: defaultNamespace, Destination: &g.Namespace},
		&cli.StringFlag{Name: "task-queue", Usage: "task `QUEUE` of Ferry's workers", EnvVars: []string{"FERRY_TASK_QUEUE"}, Value: worker.DefaultTaskQueue, Destination: &g.TaskQueue},
		&cli.StringFlag{Name: "ui-url", Usage: "Temporal Web UI base `URL`, for links (ferry dev prints it)", EnvVars: []string{"FERRY_UI_URL"}, Destination: &g.UIURL},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FORMAT`: text or json", EnvVars: []string{"FERRY_OUTPUT"}, Value: outputText, Destination: &g.Output},
		&cli.StringFlag{Name: "log-level", Usage: "`LEVEL` of logs on stderr: debug, info, warn, error", EnvVars: []string{"FERRY_LOG_LEVEL"}, Value: defaultLogLevel, Destination: &g.LogLevel},
	}, append(connFlags(&g.Conn), codecFlags(&g.Codec)...)...)
}

const appDescription = `Ferry moves a release (service, version, git sha, image) through its environments under a
declared strategy. Each release is a durable Temporal workflow: every action is an activity, every wait a
timer, every human decision an Update recorded with who made it and why.

Flags take precedence over environment variables, and those over defaults. Flags may follow arguments.

`

func newApp(g *GlobalOptions) *cli.App {
	app := &cli.App{
		Name:                 "ferry",
		Usage:                "release orchestrator on Temporal",
		Description:          appDescription + exitCodeHelp(),
		Version:              buildVersion().Version,
		EnableBashCompletion: true,
		Flags:                globalFlags(g),
		Writer:               g.stdout,
		ErrWriter:            g.stderr,
		Before:               func(c *cli.Context) error { g.Conn.tlsSet = c.IsSet("tls"); return g.setup() },
		ExitErrHandler:       func(*cli.Context, error) {}, // run maps errors to exit codes, not the library
		OnUsageError:         func(_ *cli.Context, err error, _ bool) error { return usagef("", "%v", err) },
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("", "unknown command %q", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			newDevCommand(g),
			newWorkerCommand(g),
			newRouterCommand(g),
			newValidateCommand(g),
			newConfigCommand(g),
			newStartCommand(g),
			newStatusCommand(g),
			newListCommand(g),
			newApproveCommand(g),
			newAbortCommand(g),
			newPauseCommand(g),
			newResumeCommand(g),
			newPromoteCommand(g),
			newAdoptCommand(g),
			newHistoryCommand(g),
			newMigrateCommand(g),
			newDemoCommand(g),
			newCodecServerCommand(g),
			newVersionCommand(g),
			newCompletionCommand(g),
		},
	}
	// --version prints what `ferry version` prints. It has no -v: that letter stays free.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version, the commit and the Go version"}
	cli.VersionPrinter = func(*cli.Context) {
		if err := runVersion(*g, nil); err != nil {
			fmt.Fprintln(g.stderr, err)
		}
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usagef(cmd.Name, "%v", err) }
	}
	return app
}

// run is the whole CLI; main only adds the process around it. It returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &GlobalOptions{stdout: stdout, stderr: stderr, emitted: new(bool)}
	app := newApp(g)
	if len(args) == 0 || args[len(args)-1] != completionFlag {
		// The completion request must stay last and without "--", which reorderArgs may add.
		args = reorderArgs(app, args)
	}
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	if !isCommandError(err) && !errors.As(err, new(*usageError)) {
		// The parser's own errors: unknown flags and commands, malformed values.
		err = usagef("", "%s", strings.TrimSpace(err.Error()))
	}
	code := printError(stderr, err)
	if g.Output == outputJSON && !*g.emitted {
		// A script reading stdout gets a document either way.
		printJSONError(stdout, err)
	}
	return code
}

// completionFlag is the flag with which the completion scripts ask for candidates.
const completionFlag = "--generate-bash-completion"

// commandError marks an error returned by a command's run function, as opposed to the parser's errors.
type commandError struct{ err error }

func (e *commandError) Error() string { return e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

func isCommandError(err error) bool {
	var ce *commandError
	return errors.As(err, &ce)
}

// action adapts a run function to urfave/cli, marking its errors as the command's.
func action(fn func(c *cli.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := fn(c); err != nil {
			return &commandError{err: err}
		}
		return nil
	}
}

// requireArgs checks the count of positional arguments.
func requireArgs(command string, args []string, names ...string) error {
	if len(args) < len(names) {
		return usagef(command, "missing %s", strings.Join(names[len(args):], " and "))
	}
	if len(args) > len(names) {
		return usagef(command, "unexpected argument %q", args[len(names)])
	}
	return nil
}

// defaultIdentity is who a decision is recorded as without --as or FERRY_IDENTITY: user@host.
func defaultIdentity() string {
	user := os.Getenv("USER")
	if user == "" {
		user = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return user
	}
	return user + "@" + host
}

// identityFlag is --as, shared by every command that records a decision.
func identityFlag(dst *string) cli.Flag {
	return &cli.StringFlag{Name: "as", Usage: "`IDENTITY` recorded as who did it (default $USER@hostname)", EnvVars: []string{"FERRY_IDENTITY"}, Destination: dst}
}

// versionFlag is --version, which selects a release of the service; dflt says which one it defaults to.
func versionFlag(dst *string, dflt string) cli.Flag {
	return &cli.StringFlag{Name: "version", Usage: "release `VERSION` (default: " + dflt + ")", EnvVars: []string{"FERRY_VERSION"}, Destination: dst}
}

// newestAny is the default of versionFlag for a read command about one release.
const newestAny = "the newest running release, else the newest release"

func identityOr(as string) string {
	if as != "" {
		return as
	}
	return defaultIdentity()
}
