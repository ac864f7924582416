// Command overhead measures Ferry's orchestration overhead on the embedded Temporal server.
//
//	go run ./bench/overhead                    # quick: 2s bakes
//	go run ./bench/overhead -bake 1m           # the goal's setting: bakes of at least a minute
//
// For each timer setting (-shifts, history.timerProcessorMaxTimeShift) it runs, side by side in one
// process on the same machine:
//   - a 2-environment release (staging rolling, production canary with 4 steps and analysis) through the
//     real exec platform, and reports wall time minus the declared bake time, in total, as a share of the
//     declared waits, and per canary step;
//   - -approvals single-environment releases held at an approval gate, and reports the latency from the
//     approve Update to the start of the next platform command (p50, p99, max).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/worker"
	"github.com/ferryhq/ferry/workflows"
)

const queue = "ferry-bench"

// platformScript logs "unix-nanos op env weight version" for every platform command.
const platformScript = `#!/bin/sh
echo "$(date +%s%N) $FERRY_OP $FERRY_ENV $FERRY_WEIGHT $FERRY_VERSION" >> "$(dirname "$0")/calls.log"
`

type options struct {
	bake      time.Duration
	approvals int
	shifts    []time.Duration
}

func main() {
	var opts options
	var shifts string
	flag.DurationVar(&opts.bake, "bake", 2*time.Second, "bake per canary step (3 baked steps)")
	flag.IntVar(&opts.approvals, "approvals", 50, "approval round trips to sample (bounded: at most 500)")
	flag.StringVar(&shifts, "shifts", "1s,100ms", "timer max time shifts to compare, comma-separated")
	flag.Parse()
	opts.approvals = min(max(opts.approvals, 1), 500)
	for _, s := range strings.Split(shifts, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad -shifts: %v\n", err)
			os.Exit(2)
		}
		opts.shifts = append(opts.shifts, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var results []result
	for _, shift := range opts.shifts {
		r, err := measure(ctx, opts, shift)
		if err != nil {
			fmt.Fprintf(os.Stderr, "shift %v: %v\n", shift, err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	report(os.Stdout, opts, results)
}

type result struct {
	shift    time.Duration
	wall     time.Duration
	declared time.Duration
	steps    int
	commands int
	latency  []time.Duration
}

func (r result) overhead() time.Duration { return r.wall - r.declared }

func measure(ctx context.Context, opts options, shift time.Duration) (result, error) {
	res := result{shift: shift}
	quiet := slog.New(slog.DiscardHandler)
	srv, err := devserver.Start(ctx, devserver.Options{Port: 0, UIPort: -1, TimerMaxTimeShift: shift, Logger: quiet})
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(quiet)})
	if err != nil {
		return res, err
	}
	defer c.Close()
	dir, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		return res, err
	}
	// The worker runs the bench's script, below its exec root, and the `true` of its checks.
	w := worker.New(c, worker.Options{TaskQueue: queue, Logger: quiet, Exec: activities.ExecPolicy{
		Root: dir, Allow: []string{filepath.Join(dir, "**"), "true"}, Env: []string{"PATH=" + os.Getenv("PATH")}}})
	if err := w.Start(); err != nil {
		return res, err
	}
	defer w.Stop()
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "platform.sh"), []byte(platformScript), 0o755); err != nil {
		return res, err
	}

	// Overhead: one 2-env release, no human gate.
	s := benchSpec(dir, "bench-overhead", opts.bake, false)
	res.declared = 3 * opts.bake
	res.steps = len(s.Environments[1].Strategy.Steps)
	began := time.Now()
	if err := runRelease(ctx, c, s, "1.0.0", nil); err != nil {
		return res, err
	}
	res.wall = time.Since(began)
	calls, err := readCalls(dir)
	if err != nil {
		return res, err
	}
	res.commands = len(calls)

	// Approval latency: approve → start of the next platform command (the production deploy).
	for i := range opts.approvals {
		svc := fmt.Sprintf("bench-approve-%d", i)
		s := benchSpec(dir, svc, 0, true)
		s.Environments = s.Environments[1:]
		version := fmt.Sprintf("2.0.%d", i)
		var sent time.Time
		approve := func(run starter.Run) error {
			sent = time.Now()
			_, err := starter.Approve(ctx, c, run, workflows.ApproveInput{Env: "production", Identity: "bench", Reason: "bench"})
			return err
		}
		if err := runRelease(ctx, c, s, version, approve); err != nil {
			return res, err
		}
		calls, err := readCalls(dir)
		if err != nil {
			return res, err
		}
		deployAt, ok := firstCall(calls, "deploy", version)
		if !ok {
			return res, fmt.Errorf("no deploy of %s after approval", version)
		}
		res.latency = append(res.latency, deployAt.Sub(sent))
	}
	return res, nil
}

// benchSpec is staging (rolling, one smoke check) then production (canary 1 → 10 → 50 → 100 with bakes
// and analysis), all on the exec platform with a logging script.
func benchSpec(dir, service string, bake time.Duration, approval bool) spec.Spec {
	sh := filepath.Join(dir, "platform.sh")
	check := spec.Check{Name: "ok", Exec: []string{"true"}, Timeout: spec.Duration(10 * time.Second)}
	steps := []spec.Step{{Weight: 1}, {Weight: 10}, {Weight: 50}, {Weight: 100}}
	for i := 0; i < 3; i++ {
		steps[i].Bake = spec.Duration(bake)
	}
	prod := spec.Environment{Name: "production", Gate: spec.Gate{Auto: true}, Replicas: 4,
		Strategy: spec.Strategy{Type: spec.StrategyCanary, Steps: steps}}
	if bake > 0 {
		prod.Strategy.Analysis = &spec.Analysis{Interval: spec.Duration(max(bake/2, time.Second)), Checks: []spec.Check{check}}
	}
	if approval {
		prod.Gate = spec.Gate{Approval: &spec.Approval{Quorum: 1}}
		prod.Strategy = spec.Strategy{Type: spec.StrategyRecreate}
	}
	argv := []string{sh}
	s := spec.Spec{
		Service:  service,
		Image:    spec.Image{Repository: "registry.local/" + service},
		Platform: spec.Platform{Exec: &spec.ExecPlatform{Deploy: argv, SetWeight: argv, Promote: argv, Rollback: argv, Remove: argv, Dir: dir}},
		Environments: []spec.Environment{
			{Name: "staging", Gate: spec.Gate{Auto: true}, Replicas: 2,
				Strategy: spec.Strategy{Type: spec.StrategyRolling, MaxUnavailable: 1, MaxSurge: 1},
				Checks:   spec.Checks{Smoke: []spec.Check{check}}},
			prod,
		},
	}
	// The worker admits only a spec with every default in place, as ferry start sends it.
	spec.ApplyDefaults(&s)
	return s
}

// runRelease starts a release and waits for it; approve, if set, is called once it waits at a gate.
func runRelease(ctx context.Context, c client.Client, s spec.Spec, version string, approve func(starter.Run) error) error {
	in := workflows.ReleaseInput{Spec: s, Version: version, GitSHA: "0000000", StartedBy: "bench"}
	run, _, err := starter.Start(ctx, c, starter.StartOptions{TaskQueue: queue, Input: in})
	if err != nil {
		return err
	}
	id := run.WorkflowID
	if approve != nil {
		if err := awaitGate(ctx, c, id); err != nil {
			return err
		}
		if err := approve(run); err != nil {
			return err
		}
	}
	res, err := starter.Wait(ctx, c, run)
	if err != nil {
		return err
	}
	if res.State != workflows.StateSucceeded {
		return fmt.Errorf("%s ended %s: %s", id, res.State, res.Reason)
	}
	return nil
}

func awaitGate(ctx context.Context, c client.Client, id string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
		if err == nil {
			var s workflows.Status
			if v.Get(&s) == nil && s.Stage == workflows.StageGate && s.Waiting != "" {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New(id + ": never reached the gate")
}

type call struct {
	at      time.Time
	op      string
	version string
}

func readCalls(dir string) ([]call, error) {
	data, err := os.ReadFile(filepath.Join(dir, "calls.log"))
	if err != nil {
		return nil, err
	}
	var out []call
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("calls.log: %q: %w", line, err)
		}
		out = append(out, call{at: time.Unix(0, ns), op: f[1], version: f[4]})
	}
	return out, nil
}

func firstCall(calls []call, op, version string) (time.Time, bool) {
	for _, c := range calls {
		if c.op == op && c.version == version {
			return c.at, true
		}
	}
	return time.Time{}, false
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func report(w io.Writer, opts options, rs []result) {
	fmt.Fprintf(w, "2-env release, canary 1→10→50→100, bake %s x3, %d approval samples\n\n", opts.bake, opts.approvals)
	fmt.Fprintf(w, "%-10s %10s %10s %10s %8s %12s %10s %10s %10s\n",
		"timershift", "wall", "declared", "overhead", "share", "per step", "approve50", "approve99", "max")
	for _, r := range rs {
		fmt.Fprintf(w, "%-10s %10s %10s %10s %7.2f%% %12s %10s %10s %10s\n",
			r.shift, r.wall.Round(time.Millisecond), r.declared, r.overhead().Round(time.Millisecond),
			100*r.overhead().Seconds()/r.declared.Seconds(), (r.overhead() / time.Duration(r.steps)).Round(time.Millisecond),
			percentile(r.latency, 0.5).Round(100*time.Microsecond), percentile(r.latency, 0.99).Round(100*time.Microsecond),
			slices.Max(r.latency).Round(100*time.Microsecond))
	}
	if len(rs) > 1 {
		fmt.Fprintf(w, "\noverhead ratio %s / %s: %.2f\n", rs[0].shift, rs[len(rs)-1].shift,
			rs[0].overhead().Seconds()/rs[len(rs)-1].overhead().Seconds())
	}
	fmt.Fprintf(w, "platform commands in the 2-env release: %d\n", rs[len(rs)-1].commands)
}
