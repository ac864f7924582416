package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// StatusOptions are the flags of `ferry status`.
type StatusOptions struct {
	Version string
	Watch   bool
	Follow  FollowOptions
}

func newStatusCommand(g *GlobalOptions) *cli.Command {
	var opts StatusOptions
	return &cli.Command{
		Name:      "status",
		Usage:     "show where a release is and what it waits for",
		ArgsUsage: "SERVICE",
		Description: "Without --version, shows every running release of the service, the deploying one first (in JSON:\n" +
			"the first one's status, with the others under alsoRunning), else the newest release.\n" +
			"With --watch, follows one release (without --version the first of them) until it ends and exits with\n" +
			"its outcome's code: on a terminal as one line redrawn in place and cut to the terminal's width,\n" +
			"otherwise (and with --output json) one line per change. When Temporal goes away, the watch says so and\n" +
			"reconnects with backoff; past --reconnect-timeout it exits 3. Past --timeout it exits 8. The release\n" +
			"goes on either way.",
		Flags: append([]cli.Flag{
			versionFlag(&opts.Version, everyRunning),
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "follow the release until it ends", EnvVars: []string{"FERRY_WATCH"}, Destination: &opts.Watch},
		}, followFlags(&opts.Follow, "--watch")...),
		Action: action(func(c *cli.Context) error { return runStatus(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

// everyRunning is the default of status's --version.
const everyRunning = "every running release, the deploying one first; else the newest release"

// statusDoc is the JSON document of `ferry status`: one release's status and, without --version, the status of
// every other running release of the service.
type statusDoc struct {
	workflows.Status
	AlsoRunning []workflows.Status `json:"alsoRunning,omitempty"`
}

func runStatus(ctx context.Context, opts StatusOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("status", args, "SERVICE"); err != nil {
		return err
	}
	if err := opts.Follow.check("status"); err != nil {
		return err
	}
	return g.withClient(ctx, func(c client.Client) error {
		p := g.printer()
		var running []starter.RunningRelease
		if opts.Version == "" {
			var err error
			running, err = starter.RunningReleases(ctx, c, args[0])
			var noWorker *starter.NoWorkerError
			if err != nil && !(opts.Watch && errors.As(err, &noWorker)) {
				return err
			}
			// A watch outlives a worker restart: without statuses it follows the newest release, as Newest picks.
		}
		if len(running) == 0 {
			run, err := starter.Newest(ctx, c, args[0], opts.Version)
			if err != nil {
				return err
			}
			if opts.Watch {
				return watchStatus(ctx, c, g, opts.Follow, run)
			}
			st, err := starter.StatusOf(ctx, c, run)
			if err != nil {
				return err
			}
			return p.emit(statusDoc{Status: st}, func(w io.Writer) { printStatus(w, st, time.Now()) })
		}
		if opts.Watch {
			return watchStatus(ctx, c, g, opts.Follow, running[0].Run)
		}
		doc := statusDoc{Status: running[0].Status}
		for _, r := range running[1:] {
			doc.AlsoRunning = append(doc.AlsoRunning, r.Status)
		}
		return p.emit(doc, func(w io.Writer) {
			now := time.Now()
			for i, r := range running {
				if i > 0 {
					fmt.Fprintln(w)
				}
				printStatus(w, r.Status, now)
			}
		})
	})
}

// watchStatus follows run until it ends and returns its outcome. Interrupting a watch is no error: the release
// goes on.
func watchStatus(ctx context.Context, c client.Client, g GlobalOptions, opts FollowOptions, run starter.Run) error {
	p := g.printer()
	tty := p.terminal()
	var last string
	// draw shows line: in a terminal in place of the one before, cut to the terminal's width as it is now (a
	// line that wrapped could not be redrawn); otherwise when its key differs from the last one.
	draw := func(key, line string, doc any) {
		switch {
		case tty:
			fmt.Fprintf(p.w, "\r\033[K%s", fit(line, p.width()-1))
		case key != last && doc != nil:
			_ = p.emitLine(doc, line)
		case key != last:
			fmt.Fprintln(p.w, line)
		}
		last = key
	}
	_, err := follow(ctx, c, run, opts, func(st workflows.Status) {
		draw(starter.StatusLine(st, time.Time{}), starter.StatusLine(st, time.Now()), st)
	}, func(notice string) {
		if p.json {
			fmt.Fprintln(g.stderr, notice)
			return
		}
		draw(notice, notice, nil)
	})
	if tty {
		fmt.Fprintln(p.w)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func printStatus(w io.Writer, st workflows.Status, now time.Time) {
	fmt.Fprintln(w, starter.StatusLine(st, now))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", k, v)
		}
	}
	row("state", st.State)
	row("git sha", st.GitSHA)
	row("image", st.Image)
	row("tag", st.ImageTag)
	row("digest", st.Digest)
	row("strategy", st.Strategy)
	if !st.StartedAt.IsZero() {
		row("started", fmtTime(st.StartedAt))
	}
	for _, e := range st.Environments {
		row("env "+e.Name, strings.Join(nonEmpty(e.State, e.Reason), ": "))
		row("  config", e.ConfigHash)
		row("  docker engine", e.Engine)
	}
	for _, a := range st.Approvals {
		row("approval", fmt.Sprintf("%s by %s at %s", a.Env, a.Identity, fmtTime(a.At)))
	}
	if lc := st.LastCheck; lc != nil {
		verdict := "passed"
		if !lc.Passed {
			verdict = "failed"
		}
		row("last check", strings.Join(nonEmpty(fmt.Sprintf("%s (%s) %s at %s", lc.Name, lc.Kind, verdict, fmtTime(lc.At)), lc.Detail), ": "))
	}
	if st.AnalysisFailures > 0 {
		row("analysis failures", fmt.Sprint(st.AnalysisFailures))
	}
	for _, m := range st.Measurements {
		row("metric", measurementText(m))
	}
	if sc := st.Score; sc != nil {
		row("score", fmt.Sprintf("%s %.0f: %s at %s", sc.Kind, sc.Score, sc.Verdict, fmtTime(sc.At)))
	}
	if b := st.Backfill; b != nil {
		row("backfill", backfillText(b))
	}
	for _, d := range st.Decisions {
		row("decision", decisionText(d))
	}
}

// measurementText is one metric's latest measurement: "analysis error-rate 0.002 successful (3 measured) at
// ...: detail [query]".
func measurementText(m workflows.MeasurementStatus) string {
	name := m.Kind + " " + m.Metric
	if m.DryRun {
		name += " (dry run)"
	}
	s := fmt.Sprintf("%s %s %s", name, workflows.FormatValue(m.Value), m.Verdict)
	if m.Baseline != nil {
		s += " vs baseline " + workflows.FormatValue(m.Baseline)
	}
	var counts []string
	for _, c := range []struct {
		n    int
		what string
	}{{m.Measured, "measured"}, {m.Failures, "failed"}, {m.Inconclusive, "inconclusive"}, {m.Errors, "errors in a row"}} {
		if c.n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	s += " (" + strings.Join(counts, ", ") + ") at " + fmtTime(m.At)
	if m.Detail != "" {
		s += ": " + m.Detail
	}
	if m.Query != "" {
		s += " [" + m.Query + "]"
	}
	return s
}

func decisionText(d workflows.Decision) string {
	s := fmt.Sprintf("%s %s by %s", fmtTime(d.At), strings.Join(nonEmpty(d.Action, d.Env), " "), d.Identity)
	if d.Reason != "" {
		s += fmt.Sprintf(": %q", d.Reason)
	}
	return s
}

// fmtTime renders times in the user's zone, to the second.
func fmtTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// backfillText is "add-email-verified in staging: running, 41200 of ~1000000 rows (4%), 5200 rows/s, ETA 3m4s".
func backfillText(b *workflows.BackfillStatus) string {
	p := b.Progress
	s := fmt.Sprintf("%s in %s: %s, %d of ~%d rows", b.Migration, b.Env, b.State, p.Rows, p.Total)
	if p.Total > 0 {
		s += fmt.Sprintf(" (%d%%)", min(100, p.Rows*100/p.Total))
	}
	if b.State == "running" && p.RowsPerSecond > 0 {
		s += fmt.Sprintf(", %.0f rows/s", p.RowsPerSecond)
		if p.ETA > 0 {
			s += ", ETA " + p.ETA.String()
		}
	}
	if b.PausedBy != "" {
		s += " by " + b.PausedBy
	}
	return s
}
