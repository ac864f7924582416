package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/starter"
)

// HistoryOptions are the flags of `ferry history`.
type HistoryOptions struct {
	Version string
}

func newHistoryCommand(g *GlobalOptions) *cli.Command {
	var opts HistoryOptions
	return &cli.Command{
		Name:      "history",
		Usage:     "show a release's timeline: every decision (who, when, why), action, timer and the outcome",
		ArgsUsage: "SERVICE",
		Flags:     []cli.Flag{versionFlag(&opts.Version, newestAny)},
		Action:    action(func(c *cli.Context) error { return runHistory(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func runHistory(ctx context.Context, opts HistoryOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("history", args, "SERVICE"); err != nil {
		return err
	}
	return g.withClient(ctx, func(c client.Client) error {
		events, err := starter.History(ctx, c, g.dataConverter(), args[0], opts.Version)
		if err != nil {
			return err
		}
		return g.printer().emit(events, func(w io.Writer) {
			for _, e := range events {
				fmt.Fprintf(w, "%s  %s\n", fmtTime(e.Time), e.Text)
			}
		})
	})
}
