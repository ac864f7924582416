// Package demo releases a bundled example service through staging and a production canary, so that `ferry demo`
// shows Ferry end to end on a laptop: durable bakes, analysis, an approval gate, and the history of it all.
//
// The example is real Ferry input. On the exec platform it is a ferry.yaml whose commands run platform.sh (a
// stand-in for kubectl that records its calls in files), with http checks against a small HTTP app the demo
// serves. On the Docker platform (Options.Docker) it is a ferry.yaml whose image the worker builds and pushes,
// and whose containers serve the demo service through a Ferry router.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

var (
	//go:embed ferry.yaml
	specTemplate string
	//go:embed platform.sh
	platformScript []byte
	//go:embed ferry-docker.yaml
	dockerSpecTemplate string
)

// Names the demo uses.
const (
	Service  = "demo-shop"
	Version  = "1.0.0"
	Bot      = "demo-bot"
	gitSHA   = "5e1fc0ffee5e1fc0ffee5e1fc0ffee5e1fc0ffee"
	gateEnv  = "production"
	pollTime = 200 * time.Millisecond // staging's steps take a fraction of a second each
)

// Options configure Run.
type Options struct {
	// Client reaches a Temporal server with a Ferry worker polling TaskQueue.
	Client    client.Client
	TaskQueue string
	// Namespace and UIURL make the Web UI link; an empty UIURL prints none.
	Namespace string
	UIURL     string
	// Identity is the user's, added to production's approvers so that they can approve before the bot does.
	Identity string
	// ApproveAfter is how long the demo waits at the production gate before it approves as Bot.
	ApproveAfter time.Duration
	// Out receives the progress lines.
	Out io.Writer
	// Dir is where Run writes the example: the exec root of the worker that releases it, which must allow
	// the programs below it. Empty means a new temporary directory, which only a worker whose exec root
	// encloses it can use.
	Dir string
	// Docker, when set, releases the example on the Docker platform through the registry and router it holds:
	// first Previous, then Version as a canary. Dir must be the directory StartDocker was given, and the
	// worker's Docker platform must route through Docker's router. Nil releases on the exec platform.
	Docker *Docker
}

// Run writes the example to opts.Dir (or a temporary directory it removes), serves its HTTP app, releases it and returns the result
// once the release ends. A release that did not succeed also returns a *starter.OutcomeError. Everything Run
// started is stopped and removed when it returns; the release's history stays in Temporal.
func Run(ctx context.Context, opts Options) (workflows.ReleaseResult, error) {
	if opts.Docker != nil {
		if opts.Dir == "" {
			return workflows.ReleaseResult{}, errors.New("demo on docker: no directory")
		}
		return runDocker(ctx, opts)
	}
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "ferry-demo-"); err != nil {
			return workflows.ReleaseResult{}, fmt.Errorf("demo dir: %w", err)
		}
		defer os.RemoveAll(dir)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return workflows.ReleaseResult{}, fmt.Errorf("demo app: %w", err)
	}
	app := &http.Server{Handler: newApp(filepath.Join(dir, "state")), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = app.Serve(ln) }() // returns when Close stops it
	defer app.Close()

	path, err := writeExample(dir, "http://"+ln.Addr().String(), opts.Identity)
	if err != nil {
		return workflows.ReleaseResult{}, err
	}
	s, err := loadExample(path)
	if err != nil {
		return workflows.ReleaseResult{}, err
	}

	d := &demo{Options: opts, envs: map[string]string{}}
	return d.release(ctx, s, Version, gitSHA, "staging rolls out, then production canaries 10% -> 50% -> 100% behind an approval")
}

// loadExample loads the example spec the demo wrote to path, with its directory relative to path.
func loadExample(path string) (*spec.Spec, error) {
	s, err := spec.Load(path)
	if err == nil {
		err = spec.RelativeDir(s, path)
	}
	if err != nil {
		return nil, fmt.Errorf("demo spec: %w", err)
	}
	return s, nil
}

// runDocker releases Previous and then Version on the Docker platform.
func runDocker(ctx context.Context, opts Options) (workflows.ReleaseResult, error) {
	dk := opts.Docker
	d := &demo{Options: opts, envs: map[string]string{}}
	d.printf("the router serves production at %s and staging at %s: reload the page to watch the version change during the canary",
		dk.URL(gateEnv), dk.URL("staging"))
	releases := []struct {
		version, sha, plan string
		first              bool
	}{
		{Previous, "0ff1ce0ff1ce0ff1ce0ff1ce0ff1ce0ff1ce0ff1", "the worker builds its image and pushes it, then staging rolls out and production starts it, so that a canary has a stable version to run beside", true},
		{Version, gitSHA, "staging rolls out, then production canaries 10% -> 50% -> 100% behind an approval", false},
	}
	var res workflows.ReleaseResult
	for _, r := range releases {
		path, err := writeDockerExample(opts.Dir, dk, r.version, r.first, opts.Identity)
		if err != nil {
			return workflows.ReleaseResult{}, err
		}
		s, err := loadExample(path)
		if err != nil {
			return workflows.ReleaseResult{}, err
		}
		d.envs, d.last = map[string]string{}, ""
		if res, err = d.release(ctx, s, r.version, r.sha, r.plan); err != nil {
			return res, err
		}
		if r.first {
			d.printf("%s %s %s: %s serves it at %s", res.Service, res.Version, res.State, gateEnv, dk.URL(gateEnv))
		}
	}
	return res, nil
}

// writeDockerExample writes the Docker platform's ferry.yaml for version (the first release's, if first) to
// dir and returns its path. StartDocker wrote the build context beside it.
func writeDockerExample(dir string, dk *Docker, version string, first bool, identity string) (string, error) {
	t, err := template.New("ferry-docker.yaml").Delims("[[", "]]").Parse(dockerSpecTemplate)
	if err != nil {
		return "", fmt.Errorf("demo spec template: %w", err)
	}
	you, _ := json.Marshal(identity)
	var b bytes.Buffer
	err = t.Execute(&b, map[string]any{
		"Registry": dk.Registry, "Version": version, "First": first, "You": string(you),
		"StagingHost": stagingHost, "ProductionHost": productionHost,
		"StagingURL": dk.URL("staging"), "ProductionURL": dk.URL(gateEnv),
	})
	if err != nil {
		return "", fmt.Errorf("demo spec template: %w", err)
	}
	path := filepath.Join(dir, "ferry.yaml")
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}

// writeExample writes ferry.yaml (with the app's URL and the user's identity filled in) and platform.sh to dir
// and returns the spec's path.
func writeExample(dir, url, identity string) (string, error) {
	t, err := template.New("ferry.yaml").Delims("[[", "]]").Parse(specTemplate)
	if err != nil {
		return "", fmt.Errorf("demo spec template: %w", err)
	}
	you, _ := json.Marshal(identity) // a JSON string is a YAML scalar, whatever the identity holds
	var b bytes.Buffer
	if err := t.Execute(&b, map[string]string{"URL": url, "You": string(you)}); err != nil {
		return "", fmt.Errorf("demo spec template: %w", err)
	}
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "platform.sh"), platformScript, 0o755); err != nil {
		return "", err
	}
	return path, nil
}

// demo is one run: it follows the release and approves the production gate when the time comes.
type demo struct {
	Options
	approveAt time.Time // set once the gate is seen waiting
	approved  bool      // the demo tried its approval
	last      string
	envs      map[string]string // last state printed per environment
}

// release starts version of s (or follows it, if it runs already) and returns its result once it ends. plan
// says what it does.
func (d *demo) release(ctx context.Context, s *spec.Spec, version, sha, plan string) (workflows.ReleaseResult, error) {
	run, existed, err := starter.Start(ctx, d.Client, starter.StartOptions{TaskQueue: d.TaskQueue, Input: workflows.ReleaseInput{
		Spec:      *s,
		Version:   version,
		GitSHA:    sha,
		StartedBy: Bot,
	}})
	if err != nil {
		return workflows.ReleaseResult{}, err
	}
	verb := "started"
	if existed {
		verb = "following the existing release"
	}
	d.printf("%s %s %s: %s", verb, run.Service, run.Version, plan)
	if link := starter.UILink(d.UIURL, d.Namespace, run); link != "" {
		d.printf("watch it in the Temporal UI: %s", link)
	}
	if _, err := starter.Watch(ctx, d.Client, run, pollTime, func(st workflows.Status) { d.step(ctx, run, st) }); err != nil {
		return workflows.ReleaseResult{}, err
	}
	return starter.Wait(ctx, d.Client, run)
}

// step prints the release's progress when it moves and approves the production gate once it is due.
func (d *demo) step(ctx context.Context, run starter.Run, st workflows.Status) {
	// The caller prints the outcome; this prints the way there. Staging takes well under a second, so its
	// stages may fall between two polls: the environments' own states show it passed.
	for _, e := range st.Environments {
		if e.State != d.envs[e.Name] && e.State != "pending" && st.State == workflows.StateRunning {
			d.printf("%s: %s", e.Name, e.State)
		}
		d.envs[e.Name] = e.State
	}
	if key := starter.StatusLine(st, time.Time{}); key != d.last && st.State == workflows.StateRunning {
		d.last = key
		d.printf("%s", starter.StatusLine(st, time.Now()))
	}
	if !atGate(st) || d.approved {
		return
	}
	if d.approveAt.IsZero() {
		d.approveAt = time.Now().Add(d.ApproveAfter)
		d.printf("%s waits for approval; the demo approves it as %s in %s (yourself: ferry approve %s --env %s)",
			gateEnv, Bot, spec.FormatDuration(d.ApproveAfter), run.Service, gateEnv)
		return
	}
	if time.Now().Before(d.approveAt) {
		return
	}
	d.approved = true
	_, err := starter.Approve(ctx, d.Client, run, workflows.ApproveInput{Env: gateEnv, Identity: Bot, Reason: "approved by ferry demo"})
	var rejected *starter.RejectedError
	switch {
	case errors.As(err, &rejected):
		d.printf("%s's approval was refused: %s", Bot, rejected.Reason)
	case err != nil:
		d.printf("%s could not approve: %v", Bot, err)
	default:
		d.printf("%s approved %s", Bot, gateEnv)
	}
}

// atGate reports a release waiting for a human at the production gate.
func atGate(st workflows.Status) bool {
	return st.State == workflows.StateRunning && st.Env == gateEnv && st.Stage == workflows.StageGate
}

func (d *demo) printf(format string, args ...any) {
	fmt.Fprintf(d.Out, format+"\n", args...)
}

// newApp is demo-shop itself: /ENV/healthz answers "ok" with the versions platform.sh recorded for ENV, and
// / lists every recorded file.
func newApp(stateDir string) http.Handler {
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(stateDir, name))
		return strings.TrimSpace(string(b))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{env}/healthz", func(w http.ResponseWriter, r *http.Request) {
		env := r.PathValue("env")
		fmt.Fprintf(w, "ok %s stable=%s canary=%s weight=%s\n", env, read(env+".stable"), read(env+".canary"), read(env+".weight"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		entries, _ := os.ReadDir(stateDir)
		for _, e := range entries {
			fmt.Fprintf(w, "%s %s\n", e.Name(), read(e.Name()))
		}
	})
	return mux
}
