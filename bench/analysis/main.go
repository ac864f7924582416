// Command analysis measures how fast metric analysis takes a bad canary out of the traffic: the time from
// fault onset, the moment a canary that served healthily starts failing at a random moment inside its step,
// to the moment the router sends 100 % of the traffic to stable again. It injects three kinds of fault (a
// hard error rate, a mild one, and a mild latency shift that only the baseline comparison judges), measures
// the false-positive rate of the baseline comparison on healthy canaries, and prints both goals (p99 of the
// hard fault ≤ 2 intervals + 5 s; false positives ≤ 5 %) beside what Argo Rollouts' and Flagger's
// schedules give for the same onsets.
//
//	go run ./bench/analysis                       # 20 faults of each kind; about 10 minutes
//	go run ./bench/analysis -smoke                # a check that the pipeline works; about a minute
//	go run ./bench/analysis -interval 10s -faults 10 -kinds hard
//
// Everything is real and on loopback: the embedded Temporal server, an in-process worker, Ferry's router (in
// this process), demo app backends (internal/demoapp), Debian's prometheus scraping the router every second,
// and load through the router, bounded by -max-requests and by the run's time. The platform is the exec
// platform, whose commands run this program again (-platform) to set the router's weights. Trials run in
// -lanes lanes at once, each lane a service of its own.
//
// Exit codes: 0 when the pipeline worked and (except with -smoke) both goals were met; 1 when the benchmark
// itself broke; 2 for bad flags; 3 when a goal was not met.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

const (
	queue = "ferry-bench-analysis"
	env   = "production"
	token = "bench-token"
	// stableVersion is the version that serves a lane's stable track until a release is promoted there.
	stableVersion = "1.0.0"
	// canaryWeight is the weight of the canary step that every trial bakes at.
	canaryWeight = 50
	// maxErrorRate is the error-rate metric's max, as in the README's example.
	maxErrorRate = 0.01
	// flaggerThreshold is the threshold in Flagger's documentation examples (analysis.threshold: 5).
	flaggerThreshold = 5
	// onsetIntervals is the span, in intervals after initialDelay, in which a fault starts.
	onsetIntervals = 3
	// marginIntervals is how many intervals a step bakes past the latest onset before it would promote.
	marginIntervals = 5
	// minCompareInterval is the shortest interval at which a comparison's steps (a twelfth of the interval,
	// in whole seconds) are 2 s long, so that rate() finds two of Prometheus' 1 s scrapes in each.
	minCompareInterval = 18 * time.Second
)

// options are the benchmark's settings, from its flags.
type options struct {
	interval, compareInterval time.Duration
	kinds                     []string
	faults, fpRounds, lanes   int
	maxRequests               int64
	seed                      uint64
	smoke, verbose            bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-platform" {
		if err := platform(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench/analysis -platform:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench/analysis:", err)
		}
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
	defer cancel()
	met, err := run(ctx, o, os.Stdout)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench/analysis:", err)
		os.Exit(1)
	case !met && !o.smoke:
		os.Exit(3)
	}
}

// parseFlags reads the flags; -smoke replaces the sizes with a short run of every part of the pipeline.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var kinds string
	fs := flag.NewFlagSet("bench/analysis", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "analysis interval of the error-rate faults (2s..1m)")
	fs.DurationVar(&o.compareInterval, "compare-interval", 24*time.Second, "analysis interval of the latency fault and the healthy canaries (18s..5m)")
	fs.StringVar(&kinds, "kinds", strings.Join(faultNames(), ","), "fault kinds to inject, comma-separated")
	fs.IntVar(&o.faults, "faults", 20, "faults of each kind (1..200)")
	fs.IntVar(&o.fpRounds, "fp-rounds", 30, "baseline comparisons on healthy canaries, in releases of up to 10 (0..500)")
	fs.IntVar(&o.lanes, "lanes", 5, "trials that run at once, each in a service of its own (1..8)")
	fs.Int64Var(&o.maxRequests, "max-requests", 2_000_000, "bound on the requests of each lane's load")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the onset times; 0 picks one (printed)")
	fs.BoolVar(&o.smoke, "smoke", false, "a short run that checks the pipeline and asserts no goal")
	fs.BoolVar(&o.verbose, "v", false, "log the worker's and the SDK's warnings to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.kinds = strings.Split(kinds, ",")
	if o.smoke {
		o.interval, o.compareInterval, o.faults, o.fpRounds, o.lanes = 5*time.Second, minCompareInterval, 1, 2, 3
		o.kinds = []string{"hard", "mild-errors"}
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, o.check()
}

func (o options) check() error {
	for _, k := range o.kinds {
		if kindNamed(k) == nil {
			return fmt.Errorf("-kinds: unknown kind %q (known: %s)", k, strings.Join(faultNames(), ", "))
		}
	}
	switch {
	case o.interval < 2*time.Second || o.interval > time.Minute:
		return fmt.Errorf("-interval %s: want 2s..1m", o.interval)
	case o.compareInterval < minCompareInterval || o.compareInterval > 5*time.Minute:
		return fmt.Errorf("-compare-interval %s: want %s..5m, so that each of a comparison's samples spans two scrapes", o.compareInterval, minCompareInterval)
	case o.faults < 1 || o.faults > 200:
		return fmt.Errorf("-faults %d: want 1..200", o.faults)
	case o.fpRounds < 0 || o.fpRounds == 1 || o.fpRounds > 500:
		return fmt.Errorf("-fp-rounds %d: want 0 or 2..500", o.fpRounds)
	case o.lanes < 1 || o.lanes > 8:
		return fmt.Errorf("-lanes %d: want 1..8", o.lanes)
	case o.maxRequests < 1:
		return fmt.Errorf("-max-requests %d: want 1 or more", o.maxRequests)
	}
	return nil
}

// run measures every planned trial and reports; it returns whether both goals were met.
func run(ctx context.Context, o options, out io.Writer) (bool, error) {
	h, err := startHarness(ctx, o.verbose)
	if err != nil {
		return false, err
	}
	defer h.stop()
	trials := plan(o)
	header(out, o, trials)
	results, err := h.runLanes(ctx, o, trials, out)
	if err != nil {
		return false, err
	}
	return report(out, o, results), nil
}
