package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ferryhq/ferry/internal/demo"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// DemoOptions are the flags of `ferry demo`.
type DemoOptions struct {
	IP           string
	Port         int
	UIPort       int
	ApproveAfter time.Duration
	Exit         bool
	As           string
}

func newDemoCommand(g *GlobalOptions) *cli.Command {
	var opts DemoOptions
	return &cli.Command{
		Name:  "demo",
		Usage: "release an example service through staging and a production canary, in under a minute",
		Description: "Starts the same stack as `ferry dev`, then releases demo-shop: a rolling deploy to staging, and a\n" +
			"canary in production (10% -> 50% -> 100%, with analysis during each bake) behind an approval gate that\n" +
			"the demo approves itself after --approve-after, unless you do first. The UI keeps running until Ctrl-C.",
		Flags: append(serverFlags(&opts.IP, &opts.Port, &opts.UIPort),
			&cli.DurationFlag{Name: "approve-after", Usage: "how long production waits before the demo approves it", EnvVars: []string{"FERRY_DEMO_APPROVE_AFTER"}, Value: 5 * time.Second, Destination: &opts.ApproveAfter},
			&cli.BoolFlag{Name: "exit", Usage: "return as soon as the release ends instead of serving the UI", EnvVars: []string{"FERRY_DEMO_EXIT"}, Destination: &opts.Exit},
			identityFlag(&opts.As),
		),
		Action: action(func(c *cli.Context) error { return runDemo(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

// demoDoc is the JSON document of `ferry demo`.
type demoDoc struct {
	devDoc
	Result workflows.ReleaseResult `json:"result"`
}

func runDemo(ctx context.Context, opts DemoOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("demo", args); err != nil {
		return err
	}
	if opts.ApproveAfter < 0 {
		return usagef("demo", "--approve-after is %s, want 0 or more", opts.ApproveAfter)
	}
	// The example lives in a directory of its own, which is the in-process worker's exec root.
	dir, err := os.MkdirTemp("", "ferry-demo-")
	if err != nil {
		return fmt.Errorf("demo dir: %w", err)
	}
	defer os.RemoveAll(dir)
	s, err := startStack(ctx, g, DevOptions{IP: opts.IP, Port: opts.Port, UIPort: opts.UIPort, Exec: ExecOptions{Root: dir}})
	if err != nil {
		return err
	}
	p := g.printer()
	p.progressf("%s", strings.Join(nonEmpty("Temporal "+s.g.Address, s.g.UIURL), ", Web UI "))
	var progress io.Writer = p.w
	if p.json {
		progress = io.Discard
	}
	res, err := demo.Run(ctx, demo.Options{
		Client: s.client, TaskQueue: g.TaskQueue, Namespace: g.Namespace, UIURL: s.g.UIURL,
		Identity: identityOr(opts.As), ApproveAfter: opts.ApproveAfter, Out: progress, Dir: dir,
	})
	var outcome *starter.OutcomeError
	if err == nil || errors.As(err, &outcome) {
		doc := demoDoc{devDoc: devDoc{Address: s.g.Address, Namespace: g.Namespace, UIURL: s.g.UIURL, TaskQueue: g.TaskQueue}, Result: res}
		perr := p.emit(doc, func(w io.Writer) {
			fmt.Fprintln(w, outcomeLine(res))
			if opts.Exit {
				return
			}
			history := "ferry history " + res.Service
			if s.g.Address != g.Address {
				history += " --address " + s.g.Address
			}
			fmt.Fprintf(w, "who did what, when and why: %s\n", history)
			fmt.Fprintln(w, "the server and its Web UI keep running until Ctrl-C")
		})
		if perr == nil && !opts.Exit {
			<-ctx.Done()
		}
		err = errors.Join(err, perr)
	}
	return errors.Join(err, s.stop())
}
