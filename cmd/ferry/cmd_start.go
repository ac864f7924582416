package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// StartOptions are the flags of `ferry start`.
type StartOptions struct {
	Spec       string
	Version    string
	GitSHA     string
	CommitTime string
	Image      string
	Downgrade  bool // --allow-downgrade
	Wait       bool
	Follow     FollowOptions
	As         string
}

func newStartCommand(g *GlobalOptions) *cli.Command {
	var opts StartOptions
	return &cli.Command{
		Name:  "start",
		Usage: "start the release of a version (idempotent: safe to retry from CI)",
		Description: "Starts the Release workflow ferry-release/SERVICE/VERSION. If that release is running or ran\n" +
			"before with the same git sha, image, spec and --allow-downgrade, reports it and changes nothing; with\n" +
			"other inputs, refuses (exit 2) and names what differs. With --wait, follows the release and exits with\n" +
			"its outcome. When Temporal goes away meanwhile, --wait says so and reconnects with backoff; past\n" +
			"--reconnect-timeout it exits 3. Past --timeout it exits 8. The release goes on either way.\n\n" +
			"With image.build in the spec, the worker first builds the image from the build context (under its\n" +
			"exec root), tags it VERSION and sha-SHA, pushes both and pins the release to the pushed digest;\n" +
			"--image REF skips the build and pins REF's digest instead. Every environment deploys that digest.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "spec", Usage: "the service's ferry.yaml `FILE` (required)", EnvVars: []string{"FERRY_SPEC"}, Destination: &opts.Spec},
			&cli.StringFlag{Name: "version", Usage: "`VERSION` to release (required)", EnvVars: []string{"FERRY_VERSION"}, Destination: &opts.Version},
			&cli.StringFlag{Name: "git-sha", Usage: "git commit `SHA` of the version (required)", EnvVars: []string{"FERRY_GIT_SHA"}, Destination: &opts.GitSHA},
			&cli.StringFlag{Name: "commit-time", Usage: "commit `TIME` (RFC 3339): a release committed earlier never supersedes one committed later", EnvVars: []string{"FERRY_COMMIT_TIME"}, Destination: &opts.CommitTime},
			&cli.BoolFlag{Name: "allow-downgrade", Usage: "deploy even where a newer version is stable (by semver, else by commit time)", EnvVars: []string{"FERRY_ALLOW_DOWNGRADE"}, Destination: &opts.Downgrade},
			&cli.StringFlag{Name: "image", Usage: "artifact `REF` (default: the spec's image repository:VERSION); it skips image.build, and the release deploys REF by the digest its registry serves (with image.build or a platform other than exec)", EnvVars: []string{"FERRY_IMAGE"}, Destination: &opts.Image},
			&cli.BoolFlag{Name: "wait", Usage: "follow the release and exit with its outcome's code", EnvVars: []string{"FERRY_WAIT"}, Destination: &opts.Wait},
			identityFlag(&opts.As),
		}, followFlags(&opts.Follow, "--wait")...),
		Action: action(func(c *cli.Context) error { return runStart(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

// startDoc is the JSON document of `ferry start`.
type startDoc struct {
	starter.Run
	Existed bool                     `json:"existed"`
	UIURL   string                   `json:"uiUrl,omitempty"`
	Result  *workflows.ReleaseResult `json:"result,omitempty"`
}

func runStart(ctx context.Context, opts StartOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("start", args); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{{"spec", opts.Spec}, {"version", opts.Version}, {"git-sha", opts.GitSHA}} {
		if f.value == "" {
			return usagef("start", "missing --%s", f.name)
		}
	}
	if err := opts.Follow.check("start"); err != nil {
		return err
	}
	in := workflows.ReleaseInput{Version: opts.Version, GitSHA: opts.GitSHA, Image: opts.Image, StartedBy: identityOr(opts.As),
		AllowDowngrade: opts.Downgrade}
	if opts.CommitTime != "" {
		t, err := time.Parse(time.RFC3339, opts.CommitTime)
		if err != nil {
			return usagef("start", "--commit-time %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", opts.CommitTime)
		}
		in.CommitTime = t
	}
	if err := spec.CheckCoordinates(opts.Version, opts.GitSHA, opts.Image); err != nil {
		return err
	}
	s, err := loadSpec(ctx, opts.Spec)
	if err != nil {
		return err
	}
	// The release carries the commands' directory relative to the spec, for the worker's exec root: the
	// machine that starts a release may delete its files long before the release ends.
	if err := spec.RelativeDir(s, opts.Spec); err != nil {
		return &specError{path: opts.Spec, err: err}
	}
	in.Spec = *s
	// The release pins the SQL it runs: each environment, and the contract later, refuses a file that changed.
	if in.MigrationDigests, err = starter.MigrationDigests(*s, opts.Spec); err != nil {
		return &specError{path: opts.Spec, err: err}
	}
	if in.Image == "" {
		// The default artifact must be a valid reference too; say where it came from.
		if err := spec.CheckImage(s.Image.Repository + ":" + in.Version); err != nil {
			return fmt.Errorf("the default image (image.repository of %s, tagged with the version): %w", opts.Spec, err)
		}
	}

	return g.withClient(ctx, func(c client.Client) error {
		run, existed, err := starter.Start(ctx, c, starter.StartOptions{TaskQueue: g.TaskQueue, Input: in, DataConverter: g.dataConverter()})
		if err != nil {
			return err
		}
		doc := startDoc{Run: run, Existed: existed, UIURL: starter.UILink(g.UIURL, g.Namespace, run)}
		p := g.printer()
		if p.json && !opts.Wait {
			return p.emit(doc, nil)
		}
		if existed {
			p.progressf("%s %s already started (run %s)", run.Service, run.Version, run.RunID)
		} else {
			p.progressf("started %s %s (workflow %s, run %s)", run.Service, run.Version, run.WorkflowID, run.RunID)
		}
		if doc.UIURL != "" {
			p.progressf("%s", doc.UIURL)
		}
		if !opts.Wait {
			return nil
		}
		res, err := followProgress(ctx, c, g, p, run, opts.Follow)
		var outcome *starter.OutcomeError
		if err != nil && !errors.As(err, &outcome) {
			return err // the outcome is unknown
		}
		doc.Result = &res
		if perr := p.emit(doc, func(w io.Writer) { fmt.Fprintln(w, outcomeLine(res)) }); perr != nil {
			return perr
		}
		return err
	})
}

// followProgress prints a line each time the release moves, and each word about the connection to Temporal
// (text mode; with JSON that goes to stderr), and returns its result once it ends. The error is as follow's.
func followProgress(ctx context.Context, c client.Client, g GlobalOptions, p *printer, run starter.Run, opts FollowOptions) (workflows.ReleaseResult, error) {
	var last string
	return follow(ctx, c, run, opts, func(st workflows.Status) {
		if key := starter.StatusLine(st, time.Time{}); key != last && st.State == workflows.StateRunning {
			last = key
			p.progressf("%s", starter.StatusLine(st, time.Now()))
		}
	}, func(notice string) {
		if p.json {
			fmt.Fprintln(g.stderr, notice)
			return
		}
		p.progressf("%s", notice)
	})
}

// outcomeLine is the final line of a release: "checkout 1.4.2 succeeded" or why it did not.
func outcomeLine(res workflows.ReleaseResult) string {
	if res.State == workflows.StateSucceeded {
		return fmt.Sprintf("%s %s succeeded", res.Service, res.Version)
	}
	return (&starter.OutcomeError{Result: res}).Error()
}
