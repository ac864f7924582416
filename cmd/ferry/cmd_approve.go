package main

import (
	"context"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// ApproveOptions are the flags of `ferry approve`.
type ApproveOptions struct {
	DecisionOptions
	Env string
}

func newApproveCommand(g *GlobalOptions) *cli.Command {
	var opts ApproveOptions
	return &cli.Command{
		Name:      "approve",
		Usage:     "approve the gate of an environment",
		ArgsUsage: "SERVICE",
		Description: "Records an approval by --as (default $USER@hostname). The spec's approvers list decides who may\n" +
			"approve and how many distinct approvals open the gate; a refusal exits with code 2.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "env", Usage: "`ENV`ironment whose gate to approve (required)", EnvVars: []string{"FERRY_ENV"}, Destination: &opts.Env},
		}, opts.flags(gateRelease, "why, recorded with the approval")...),
		Action: action(func(c *cli.Context) error { return runApprove(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func runApprove(ctx context.Context, opts ApproveOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("approve", args, "SERVICE"); err != nil {
		return err
	}
	if opts.Env == "" {
		return usagef("approve", "missing --env")
	}
	return decide(ctx, g, args[0], opts.DecisionOptions, starter.Intent{Decision: workflows.UpdateApprove, ApprovalEnv: opts.Env},
		func(ctx context.Context, c client.Client, run starter.Run, identity string) (workflows.UpdateResult, error) {
			return starter.Approve(ctx, c, run, workflows.ApproveInput{Env: opts.Env, Identity: identity, Reason: opts.Reason})
		})
}
