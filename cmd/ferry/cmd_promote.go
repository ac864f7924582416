package main

import (
	"context"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// PromoteOptions are the flags of `ferry promote`.
type PromoteOptions struct {
	DecisionOptions
	Full bool
}

func newPromoteCommand(g *GlobalOptions) *cli.Command {
	var opts PromoteOptions
	return &cli.Command{
		Name:      "promote",
		Usage:     "end the current canary bake now (--full: skip every remaining step and analysis)",
		ArgsUsage: "SERVICE",
		Flags: append(opts.flags(deployingRelease, "why, recorded with the promotion"),
			&cli.BoolFlag{Name: "full", Usage: "go straight to 100 %, skipping remaining steps and analysis", EnvVars: []string{"FERRY_PROMOTE_FULL"}, Destination: &opts.Full}),
		Action: action(func(c *cli.Context) error { return runPromote(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func runPromote(ctx context.Context, opts PromoteOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("promote", args, "SERVICE"); err != nil {
		return err
	}
	return decide(ctx, g, args[0], opts.DecisionOptions, starter.Intent{Decision: workflows.UpdatePromote},
		func(ctx context.Context, c client.Client, run starter.Run, identity string) (workflows.UpdateResult, error) {
			return starter.Promote(ctx, c, run, workflows.PromoteInput{Identity: identity, Reason: opts.Reason, Full: opts.Full})
		})
}
