package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ferryhq/ferry/internal/migrate"
)

// MigrateOptions are the flags of `ferry migrate` and its commands.
type MigrateOptions struct {
	// Phase is expand or contract for every file; empty means each file's phase comes from its name.
	Phase string
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
	return &cli.Command{
		Name:        "migrate",
		Usage:       "expand-contract migrations on PostgreSQL",
		ArgsUsage:   "lint FILE...",
		Description: migrateDescription(),
		// The flags sit on migrate rather than on lint, so that they may follow the files like every flag.
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "phase", Usage: "`PHASE` of every FILE: expand or contract (default: from each file name)", EnvVars: []string{"FERRY_MIGRATE_PHASE"}, Destination: &opts.Phase},
		},
		Subcommands: []*cli.Command{lint},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("migrate", "unknown migrate command %q, want lint", c.Args().First())
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
error). The lock rules apply to both phases. Statements about a table that the file itself created earlier
are exempt from the expand and lock rules: no running version uses that table yet.

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
