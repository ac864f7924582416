package main

import (
	"context"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// PauseOptions are the flags of `ferry pause`.
type PauseOptions struct {
	DecisionOptions
}

// ResumeOptions are the flags of `ferry resume`.
type ResumeOptions struct {
	DecisionOptions
}

func newPauseCommand(g *GlobalOptions) *cli.Command {
	var opts PauseOptions
	return &cli.Command{
		Name:        "pause",
		Usage:       "hold a release at its current step",
		ArgsUsage:   "SERVICE",
		Description: "The release holds where it is until `ferry resume`.",
		Flags:       opts.flags(deployingRelease, "why, recorded with the pause"),
		Action:      action(func(c *cli.Context) error { return runPause(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func newResumeCommand(g *GlobalOptions) *cli.Command {
	var opts ResumeOptions
	return &cli.Command{
		Name:      "resume",
		Usage:     "continue a paused release, or a canary step that waits for a human",
		ArgsUsage: "SERVICE",
		Flags:     opts.flags(deployingRelease, "why, recorded with the resume"),
		Action:    action(func(c *cli.Context) error { return runResume(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func runPause(ctx context.Context, opts PauseOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("pause", args, "SERVICE"); err != nil {
		return err
	}
	return decide(ctx, g, args[0], opts.DecisionOptions, starter.Intent{Decision: workflows.UpdatePause},
		func(ctx context.Context, c client.Client, run starter.Run, identity string) (workflows.UpdateResult, error) {
			return starter.Pause(ctx, c, run, workflows.PauseInput{Identity: identity, Reason: opts.Reason})
		})
}

func runResume(ctx context.Context, opts ResumeOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("resume", args, "SERVICE"); err != nil {
		return err
	}
	return decide(ctx, g, args[0], opts.DecisionOptions, starter.Intent{Decision: workflows.UpdateResume},
		func(ctx context.Context, c client.Client, run starter.Run, identity string) (workflows.UpdateResult, error) {
			return starter.Resume(ctx, c, run, workflows.ResumeInput{Identity: identity, Reason: opts.Reason})
		})
}
