package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/internal/migrate"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// MigrateOptions are the flags of `ferry migrate` and its commands.
type MigrateOptions struct {
	// Phase is expand or contract for every file; empty means each file's phase comes from its name.
	Phase string
	// Database and Service pick among migrations of one name in several databases, or of several services
	// (approve-contract).
	Database, Service string
	// As and Reason are recorded with an approval, and with a backfill's pause, resume or resize.
	As, Reason string
	// Version picks the release whose backfill pause-backfill, resume-backfill and resize-backfill control.
	Version string
	// BatchTarget is the batch duration resize-backfill sets.
	BatchTarget time.Duration
}

func newMigrateCommand(g *GlobalOptions) *cli.Command {
	var opts MigrateOptions
	lint := &cli.Command{
		Name:      "lint",
		Usage:     "check migration SQL files before they run, without contacting a database",
		ArgsUsage: "FILE...",
		Action:    action(func(c *cli.Context) error { return runMigrateLint(c.Context, opts, *g, c.Args().Slice()) }),
	}
	lint.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usagef("migrate", "%v", err) }
	status := &cli.Command{
		Name:   "status",
		Usage:  "list every migration with a contract that has been expanded, and every backfill under way, with its phase, what its contract waits for and the backfill's progress",
		Action: action(func(c *cli.Context) error { return runMigrateStatus(c.Context, *g) }),
	}
	approve := &cli.Command{
		Name:      "approve-contract",
		Usage:     "approve the contract of a migration; a refusal (not allowed, not waiting) exits with code 2",
		ArgsUsage: "NAME",
		Action:    action(func(c *cli.Context) error { return runApproveContract(c.Context, opts, *g, c.Args().Slice()) }),
	}
	backfill := func(act, usage string) *cli.Command {
		return &cli.Command{
			Name:      act + "-backfill",
			Usage:     usage,
			ArgsUsage: "SERVICE",
			Action:    action(func(c *cli.Context) error { return runBackfill(c.Context, opts, *g, act, c.Args().Slice()) }),
		}
	}
	return &cli.Command{
		Name:        "migrate",
		Usage:       "expand-contract migrations on PostgreSQL",
		ArgsUsage:   "lint FILE... | status | approve-contract NAME | pause-backfill | resume-backfill | resize-backfill SERVICE",
		Description: migrateDescription(),
		// The flags sit on migrate rather than on lint, so that they may follow the files like every flag.
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "phase", Usage: "`PHASE` of every FILE: expand or contract (default: from each file name)", EnvVars: []string{"FERRY_MIGRATE_PHASE"}, Destination: &opts.Phase},
			&cli.StringFlag{Name: "database", Usage: "approve-contract: `NAME` of the database, when migrations of that name exist in several", EnvVars: []string{"FERRY_DATABASE"}, Destination: &opts.Database},
			&cli.StringFlag{Name: "service", Usage: "approve-contract: `SERVICE` whose migration it is, when several services have a migration of that name", EnvVars: []string{"FERRY_SERVICE"}, Destination: &opts.Service},
			identityFlag(&opts.As),
			&cli.StringFlag{Name: "reason", Usage: "approve-contract and the backfill commands: `TEXT` recorded with the decision", EnvVars: []string{"FERRY_REASON"}, Destination: &opts.Reason},
			versionFlag(&opts.Version, deployingRelease),
			&cli.DurationFlag{Name: "batch-target", Usage: "resize-backfill: how long each batch should take, e.g. 500ms (smaller batches hold row locks for less time)", EnvVars: []string{"FERRY_BATCH_TARGET"}, Destination: &opts.BatchTarget},
		},
		Subcommands: []*cli.Command{lint, status, approve,
			backfill(workflows.BackfillPause, "pause the backfill a release runs; it stops after its current batch, and resumes from there"),
			backfill(workflows.BackfillResume, "resume a paused backfill from where it stopped"),
			backfill(workflows.BackfillResize, "change the batch duration a running backfill aims for (--batch-target)"),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("migrate", "unknown migrate command %q, want lint, status, approve-contract, pause-backfill, resume-backfill or resize-backfill", c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

// migrateDescription documents lint and lists its rules from the registry, so that help matches the code.
func migrateDescription() string {
	var b strings.Builder
	b.WriteString(`lint parses each FILE with PostgreSQL's parser and checks it against the rules of its phase.
The phase is --phase, else the file name: *_expand.sql is expand, *_contract.sql is contract.
Expand runs while the old version still serves: it must keep that version working. Contract runs once no old
version is left: it may destroy data and names, and the result then says it is irreversible (a note, not an
error). The lock, rewrite, data, timeout and execution rules apply to both phases. Statements about a table
that the file itself created earlier (CREATE TABLE, not CREATE TABLE IF NOT EXISTS, which may create nothing)
are exempt from the rules that protect the running version: no running version uses that table yet.

Each error prints as FILE:LINE:COL: RULE: message (hint) and makes the exit code 2; so does a syntax error.
Notes and "FILE: ok" lines go to stdout. --output json prints the files and every finding.

Rules:
`)
	for _, r := range migrate.Rules() {
		phases := make([]string, len(r.Phases))
		for i, p := range r.Phases {
			phases[i] = string(p)
		}
		fmt.Fprintf(&b, "   %-27s %s (%s, %s)\n", r.ID, r.Summary, r.Severity, strings.Join(phases, " and "))
	}
	return b.String()
}

// lintDoc is the JSON document of `ferry migrate lint`.
type lintDoc struct {
	OK       bool              `json:"ok"`
	Files    []lintFileDoc     `json:"files"`
	Findings []migrate.Finding `json:"findings"`
}

type lintFileDoc struct {
	File         string        `json:"file"`
	Phase        migrate.Phase `json:"phase"`
	Errors       int           `json:"errors"`
	Irreversible bool          `json:"irreversible"`
}

// lintError is a lint with error findings: they are the report's details.
type lintError struct {
	errors []migrate.Finding
	files  int // how many files have errors
}

func (e *lintError) Error() string {
	return fmt.Sprintf("%s in %s", plural(len(e.errors), "lint error"), plural(e.files, "file"))
}

// migrationFileError is a migration file that could not be read; path is the file as the user named it.
type migrationFileError struct {
	path string
	err  error
}

func (e *migrationFileError) Error() string { return e.path + ": " + e.err.Error() }
func (e *migrationFileError) Unwrap() error { return e.err }

func runMigrateLint(ctx context.Context, opts MigrateOptions, g GlobalOptions, files []string) error {
	if len(files) == 0 {
		return usagef("migrate", "missing FILE")
	}
	phases := make([]migrate.Phase, len(files))
	for i, f := range files {
		switch p, ok := migrate.PhaseFromName(f); {
		case opts.Phase != "":
			p, err := migrate.ParsePhase(opts.Phase)
			if err != nil {
				return usagef("migrate", "--phase is %q, want expand or contract", opts.Phase)
			}
			phases[i] = p
		case ok:
			phases[i] = p
		default:
			return usagef("migrate", "cannot tell the phase of %s: name it *_expand.sql or *_contract.sql, or pass --phase", f)
		}
	}
	doc := lintDoc{OK: true, Files: []lintFileDoc{}, Findings: []migrate.Finding{}}
	failed := &lintError{}
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		sql, err := os.ReadFile(f)
		if err != nil {
			return &migrationFileError{path: f, err: err}
		}
		res, err := migrate.Lint(f, string(sql), phases[i])
		if err != nil {
			return err
		}
		doc.Files = append(doc.Files, lintFileDoc{File: f, Phase: res.Phase, Errors: res.Errors(), Irreversible: res.Irreversible})
		doc.Findings = append(doc.Findings, res.Findings...)
		if res.Errors() > 0 {
			doc.OK = false
			failed.files++
		}
		for _, finding := range res.Findings {
			if finding.Severity == migrate.SeverityError {
				failed.errors = append(failed.errors, finding)
			}
		}
	}
	// Errors go to stderr with the report, as `ferry validate` prints problems; notes and ok lines to stdout.
	if err := g.printer().emit(doc, func(w io.Writer) {
		for _, finding := range doc.Findings {
			if finding.Severity != migrate.SeverityError {
				fmt.Fprintln(w, finding)
			}
		}
		for _, f := range doc.Files {
			if f.Errors > 0 {
				continue
			}
			state := string(f.Phase)
			if f.Irreversible {
				state += ", irreversible"
			}
			fmt.Fprintf(w, "%s: ok (%s)\n", f.File, state)
		}
	}); err != nil {
		return err
	}
	if !doc.OK {
		return failed
	}
	return nil
}

// runMigrateStatus prints every migration's phase, as its Contract workflow knows it.
func runMigrateStatus(ctx context.Context, g GlobalOptions) error {
	return g.withClient(ctx, func(c client.Client) error {
		all, err := starter.MigrationStatuses(ctx, c)
		if err != nil {
			return err
		}
		if all == nil {
			all = []workflows.ContractStatus{}
		}
		return g.printer().emit(all, func(w io.Writer) {
			if len(all) == 0 {
				fmt.Fprintln(w, "no migrations have been expanded")
				return
			}
			for _, st := range all {
				where := st.Database // a migration without a contract is known by its service
				switch {
				case where == "":
					where = st.Service
				case st.Service != "":
					where = st.Service + " " + where
				}
				line := fmt.Sprintf("%s/%s: %s", where, st.Migration, st.Phase)
				switch {
				case st.Result != nil:
					line += fmt.Sprintf(" at %s (completed by %s)", st.Result.ContractedAt.UTC().Format(time.RFC3339), st.Result.CompletedBy)
				case len(st.Waiting) > 0:
					line += "; waiting for " + strings.Join(st.Waiting, "; ")
				}
				if st.Reason != "" {
					line += " (" + st.Reason + ")"
				}
				fmt.Fprintln(w, line)
				for _, b := range st.Backfills {
					fmt.Fprintf(w, "  backfill by release %s: %s\n", b.Version, backfillText(&b.BackfillStatus))
				}
			}
		})
	})
}

// runApproveContract approves the contract of the migration named in args.
func runApproveContract(ctx context.Context, opts MigrateOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("migrate approve-contract", args, "NAME"); err != nil {
		return err
	}
	identity := identityOr(opts.As)
	return g.withClient(ctx, func(c client.Client) error {
		res, err := starter.ApproveContract(ctx, c, starter.ContractRef{Service: opts.Service, Database: opts.Database, Name: args[0]}, workflows.ContractApproveInput{Identity: identity, Reason: opts.Reason})
		if err != nil {
			return err
		}
		doc := struct {
			Migration string `json:"migration"`
			Identity  string `json:"identity"`
			Message   string `json:"message"`
		}{args[0], identity, res.Message}
		return g.printer().emit(doc, func(w io.Writer) { fmt.Fprintln(w, res.Message) })
	})
}

// runBackfill pauses, resumes or resizes the backfill that a release of the service named in args runs.
func runBackfill(ctx context.Context, opts MigrateOptions, g GlobalOptions, act string, args []string) error {
	name := "migrate " + act + "-backfill"
	if err := requireArgs(name, args, "SERVICE"); err != nil {
		return err
	}
	switch {
	case act == workflows.BackfillResize && opts.BatchTarget <= 0:
		return usagef(name, "--batch-target must be a positive duration, e.g. 500ms")
	case act != workflows.BackfillResize && opts.BatchTarget != 0:
		return usagef(name, "--batch-target goes with resize-backfill only")
	}
	do := DecisionOptions{Version: opts.Version, Reason: opts.Reason, As: opts.As}
	return decide(ctx, g, args[0], do, starter.Intent{Decision: workflows.UpdateBackfill},
		func(ctx context.Context, c client.Client, run starter.Run, identity string) (workflows.UpdateResult, error) {
			return starter.Backfill(ctx, c, run, workflows.BackfillInput{Action: act, BatchTarget: opts.BatchTarget, Identity: identity, Reason: opts.Reason})
		})
}
