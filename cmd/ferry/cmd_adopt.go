package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// AdoptOptions are the flags of `ferry adopt`.
type AdoptOptions struct {
	Env     string
	Version string
	Image   string
	Reason  string
	As      string
}

func newAdoptCommand(g *GlobalOptions) *cli.Command {
	var opts AdoptOptions
	return &cli.Command{
		Name:      "adopt",
		Usage:     "record the version that serves an environment Ferry did not deploy",
		ArgsUsage: "SERVICE",
		Description: "Seeds the environment's stable version, so that a failed first release rolls back to it instead of\n" +
			"guessing. The image is named by digest, so that a rollback deploys exactly what serves now. Refused (exit 2)\n" +
			"while a release holds the environment's lock: it records the stable version itself when it finishes.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "env", Usage: "`ENV`ironment the version serves (required)", EnvVars: []string{"FERRY_ENV"}, Destination: &opts.Env},
			&cli.StringFlag{Name: "version", Usage: "`VERSION` that serves it now (required)", EnvVars: []string{"FERRY_VERSION"}, Destination: &opts.Version},
			&cli.StringFlag{Name: "image", Usage: "image that serves it, by digest: `REPOSITORY@sha256:DIGEST` (required; a rollback deploys it)", EnvVars: []string{"FERRY_IMAGE"}, Destination: &opts.Image},
			&cli.StringFlag{Name: "reason", Usage: "why, recorded with the adoption", EnvVars: []string{"FERRY_REASON"}, Destination: &opts.Reason},
			identityFlag(&opts.As),
		},
		Action: action(func(c *cli.Context) error { return runAdopt(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

// adoptDoc is the JSON document of `ferry adopt`.
type adoptDoc struct {
	starter.LockRun
	Service  string `json:"service"`
	Env      string `json:"env"`
	Version  string `json:"version"`
	Image    string `json:"image,omitempty"`
	Identity string `json:"identity"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message"`
}

func runAdopt(ctx context.Context, opts AdoptOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("adopt", args, "SERVICE"); err != nil {
		return err
	}
	switch {
	case opts.Env == "":
		return usagef("adopt", "missing --env")
	case opts.Version == "":
		return usagef("adopt", "missing --version: the version that serves %s now", opts.Env)
	case opts.Image == "":
		return usagef("adopt", "missing --image: the image that serves %s now, by digest (REPOSITORY@sha256:DIGEST)", opts.Env)
	}
	doc := adoptDoc{Service: args[0], Env: opts.Env, Version: opts.Version, Image: opts.Image, Identity: identityOr(opts.As), Reason: opts.Reason}
	return g.withClient(ctx, func(c client.Client) error {
		lock, err := starter.Adopt(ctx, c, starter.AdoptOptions{
			TaskQueue: g.TaskQueue, Service: doc.Service, Env: doc.Env,
			Stable:   workflows.Artifact{Version: doc.Version, Image: doc.Image},
			Identity: doc.Identity, Reason: doc.Reason,
		})
		if err != nil {
			return err
		}
		doc.LockRun = lock
		what := doc.Version
		if doc.Image != "" {
			what += " (" + doc.Image + ")"
		}
		doc.Message = fmt.Sprintf("adopted %s %s as the stable version of %s", doc.Service, what, doc.Env)
		return g.printer().emit(doc, func(w io.Writer) { fmt.Fprintln(w, doc.Message) })
	})
}
