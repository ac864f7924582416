package main

import (
	"cmp"
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
	// Platform is auto, exec or docker.
	Platform string
}

// Platforms of `ferry demo --platform`.
const (
	demoAuto   = "auto"
	demoExec   = "exec"
	demoDocker = "docker"
)

// dockerPingTimeout bounds how long `ferry demo` waits for a Docker engine to answer before it uses exec.
const dockerPingTimeout = 3 * time.Second

func newDemoCommand(g *GlobalOptions) *cli.Command {
	var opts DemoOptions
	return &cli.Command{
		Name:  "demo",
		Usage: "release an example service through staging and a production canary, in under a minute",
		Description: "Starts the same stack as `ferry dev`, then releases demo-shop: a rolling deploy to staging, and a\n" +
			"canary in production (10% -> 50% -> 100%, with analysis during each bake) behind an approval gate that\n" +
			"the demo approves itself after --approve-after, unless you do first. The UI keeps running until Ctrl-C.\n\n" +
			"With a Docker engine reachable (DOCKER_HOST, else the default socket) the demo runs on the Docker\n" +
			"platform: it builds the demo service with `go build` (so run it in a checkout of Ferry), starts an OCI\n" +
			"registry and a Ferry router on loopback, releases 0.9.0 and then canaries 1.0.0, and prints the URL\n" +
			"where the router serves it. On exit it removes the containers and images it made. Without an engine\n" +
			"it runs on the exec platform, with a script standing in for the platform. --platform chooses.",
		Flags: append(serverFlags(&opts.IP, &opts.Port, &opts.UIPort),
			&cli.DurationFlag{Name: "approve-after", Usage: "how long production waits before the demo approves it", EnvVars: []string{"FERRY_DEMO_APPROVE_AFTER"}, Value: 5 * time.Second, Destination: &opts.ApproveAfter},
			&cli.BoolFlag{Name: "exit", Usage: "return as soon as the release ends instead of serving the UI", EnvVars: []string{"FERRY_DEMO_EXIT"}, Destination: &opts.Exit},
			identityFlag(&opts.As),
			&cli.StringFlag{Name: "platform", Usage: "`PLATFORM` to release on: auto (docker when an engine answers, else exec), exec or docker", EnvVars: []string{"FERRY_DEMO_PLATFORM"}, Value: demoAuto, Destination: &opts.Platform},
		),
		Action: action(func(c *cli.Context) error { return runDemo(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

// demoDoc is the JSON document of `ferry demo`.
type demoDoc struct {
	devDoc
	// Platform is exec or docker; URL is where the router serves production on docker.
	Platform string                  `json:"platform"`
	URL      string                  `json:"url,omitempty"`
	Result   workflows.ReleaseResult `json:"result"`
}

func runDemo(ctx context.Context, opts DemoOptions, g GlobalOptions, args []string) (err error) {
	if err := requireArgs("demo", args); err != nil {
		return err
	}
	if opts.ApproveAfter < 0 {
		return usagef("demo", "--approve-after is %s, want 0 or more", opts.ApproveAfter)
	}
	switch opts.Platform {
	case demoAuto, demoExec, demoDocker:
	default:
		return usagef("demo", "--platform is %q, want auto, exec or docker", opts.Platform)
	}
	// The example lives in a directory of its own, which is the in-process worker's exec root.
	dir, err := os.MkdirTemp("", "ferry-demo-")
	if err != nil {
		return fmt.Errorf("demo dir: %w", err)
	}
	defer os.RemoveAll(dir)
	p := g.printer()
	dockerHost := os.Getenv("DOCKER_HOST")
	dk, why, err := demoPlatform(ctx, opts.Platform, dockerHost, dir, g)
	if err != nil {
		return err
	}
	platform := demoExec
	if dk != nil {
		platform = demoDocker
		// The worker stops before the containers go, so that no deploy starts one after the cleanup.
		defer func() {
			cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if cerr := dk.Close(cleanup); cerr != nil {
				err = errors.Join(err, fmt.Errorf("demo cleanup: %w", cerr))
			}
		}()
	}
	dev := DevOptions{IP: opts.IP, Port: opts.Port, UIPort: opts.UIPort, Exec: ExecOptions{Root: dir}}
	if dk != nil {
		dev.Router = RouterAccess{Admin: dk.Admin, Token: dk.Token}
	}
	s, err := startStack(ctx, g, dev)
	if err != nil {
		return err
	}
	p.progressf("%s", strings.Join(nonEmpty("Temporal "+s.g.Address, s.g.UIURL), ", Web UI "))
	p.progressf("platform: %s (%s)", platform, why)
	var progress io.Writer = p.w
	if p.json {
		progress = io.Discard
	}
	res, err := demo.Run(ctx, demo.Options{
		Client: s.client, TaskQueue: g.TaskQueue, Namespace: g.Namespace, UIURL: s.g.UIURL,
		Identity: identityOr(opts.As), ApproveAfter: opts.ApproveAfter, Out: progress, Dir: dir, Docker: dk,
	})
	var outcome *starter.OutcomeError
	if err == nil || errors.As(err, &outcome) {
		doc := demoDoc{devDoc: devDoc{Address: s.g.Address, Namespace: g.Namespace, UIURL: s.g.UIURL, TaskQueue: g.TaskQueue},
			Platform: platform, Result: res}
		if dk != nil {
			doc.URL = dk.URL("production")
		}
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
			if dk != nil {
				fmt.Fprintf(w, "the router keeps serving production at %s until Ctrl-C; then the demo removes its containers and images\n", doc.URL)
			}
			fmt.Fprintln(w, "the server and its Web UI keep running until Ctrl-C")
		})
		if perr == nil && !opts.Exit {
			<-ctx.Done()
		}
		err = errors.Join(err, perr)
	}
	return errors.Join(err, s.stop())
}

// demoPlatform chooses the demo's platform. On docker it returns the registry and router the release needs,
// else nil; either way it says why. Auto chooses docker when the engine at host answers and the demo service
// builds, and exec otherwise; docker fails when either is not so.
func demoPlatform(ctx context.Context, choice, host, dir string, g GlobalOptions) (*demo.Docker, string, error) {
	engine := cmp.Or(host, "the default socket")
	if choice == demoExec {
		return nil, "--platform exec", nil
	}
	err := demo.Reachable(ctx, host, dockerPingTimeout)
	if err == nil {
		var dk *demo.Docker
		// The demo's worker names no --install: its install is the task queue, and the cleanup's too.
		opts := demo.DockerOptions{Host: host, Dir: dir, Logger: g.logger, Install: g.TaskQueue}
		if dk, err = demo.StartDocker(ctx, opts); err == nil {
			return dk, "the Docker engine at " + engine + " answers", nil
		}
	}
	if choice == demoDocker {
		return nil, "", fmt.Errorf("demo on docker: %w", err)
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	return nil, fmt.Sprintf("no Docker platform: %s; --platform docker insists", first), nil
}
