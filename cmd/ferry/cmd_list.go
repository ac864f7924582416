package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/starter"
)

// ListOptions are the flags of `ferry list`.
type ListOptions struct {
	Service string
	State   string
	Limit   int
}

func newListCommand(g *GlobalOptions) *cli.Command {
	var opts ListOptions
	return &cli.Command{
		Name:  "list",
		Usage: "list releases, running ones first",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "service", Usage: "only releases of `SERVICE`", EnvVars: []string{"FERRY_SERVICE"}, Destination: &opts.Service},
			&cli.StringFlag{Name: "state", Usage: "only releases in `STATE`: " + strings.Join(starter.States, ", "), EnvVars: []string{"FERRY_STATE"}, Destination: &opts.State},
			&cli.IntFlag{Name: "limit", Usage: "at most `N` releases", EnvVars: []string{"FERRY_LIMIT"}, Value: 20, Destination: &opts.Limit},
		},
		Action: action(func(c *cli.Context) error { return runList(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func runList(ctx context.Context, opts ListOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("list", args); err != nil {
		return err
	}
	if opts.State != "" && !slices.Contains(starter.States, opts.State) {
		return usagef("list", "--state is %q, want one of %s", opts.State, strings.Join(starter.States, ", "))
	}
	if opts.Limit <= 0 {
		return usagef("list", "--limit is %d, want a positive number", opts.Limit)
	}
	return g.withClient(ctx, func(c client.Client) error {
		rows, more, err := starter.List(ctx, c, starter.ListOptions{Service: opts.Service, State: opts.State, Limit: opts.Limit})
		if err != nil {
			return err
		}
		if rows == nil {
			rows = []starter.Row{}
		}
		p := g.printer()
		if err := p.emit(rows, func(w io.Writer) { printRows(w, rows) }); err != nil {
			return err
		}
		if more {
			// JSON keeps stdout to the array; the note goes to stderr there.
			w := g.stdout
			if p.json {
				w = g.stderr
			}
			fmt.Fprintf(w, "showing the first %s; more match: pass --limit %d (or --service, --state) to see more\n", plural(len(rows), "release"), 2*len(rows))
		}
		return nil
	})
}

func printRows(w io.Writer, rows []starter.Row) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no releases")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "SERVICE\tVERSION\tSTATE\tENV\tSTAGE\tSTARTED\tCLOSED")
	for _, r := range rows {
		closed := "-"
		if !r.CloseTime.IsZero() {
			closed = fmtTime(r.CloseTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Service, r.Version, r.State, dash(r.Env), dash(r.Stage), fmtTime(r.StartTime), closed)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
