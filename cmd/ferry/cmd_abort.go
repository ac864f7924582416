package main

import (
	"context"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// AbortOptions are the flags of `ferry abort`.
type AbortOptions struct {
	DecisionOptions
}

func newAbortCommand(g *GlobalOptions) *cli.Command {
	var opts AbortOptions
	return &cli.Command{
		Name:        "abort",
		Usage:       "stop a release and roll back what it changed",
		ArgsUsage:   "SERVICE",
		Description: "Traffic returns to the stable version. --reason is required: it is recorded with your identity.",
		Flags:       opts.flags(deployingRelease, "why the release stops (required)"),
		Action:      action(func(c *cli.Context) error { return runAbort(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func runAbort(ctx context.Context, opts AbortOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("abort", args, "SERVICE"); err != nil {
		return err
	}
	if opts.Reason == "" {
		return usagef("abort", "missing --reason: say why the release stops")
	}
	return decide(ctx, g, args[0], opts.DecisionOptions, starter.Intent{Decision: workflows.UpdateAbort},
		func(ctx context.Context, c client.Client, run starter.Run, identity string) (workflows.UpdateResult, error) {
			return starter.Abort(ctx, c, run, workflows.AbortInput{Identity: identity, Reason: opts.Reason})
		})
}
