// Command router measures the traffic router on loopback against direct calls and against nginx with the
// same weighted split, in one run: latency (p50, p99) and requests per second at a fixed concurrency. The
// three targets take turns in rounds, so that the machine's noise falls on all three alike. A last phase
// sends through the router while its weights change.
//
//	go run ./bench/router                    # 3 rounds of 20,000 requests per target at concurrency 32
//	go run ./bench/router -rounds 5 -n 10000 -c 8
//	go run ./bench/router -cpuprofile router.pprof   # CPU profile of the router process
//	go run ./bench/router -baseline OLD              # OLD: this benchmark built at another commit
//
// The router runs in its own process, as nginx does (Debian's package: apt-get install nginx), each with
// -procs CPUs: GOMAXPROCS for the router, worker_processes for nginx. Without nginx the benchmark says so and
// measures the other two, unless -require-nginx. Every phase is bounded by -n requests and by -max-time. The
// command exits 1 if any request failed, a phase ran out of time, or nginx is missing under -require-nginx.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/ferryhq/ferry/internal/demoapp"
	"github.com/ferryhq/ferry/internal/router"
)

type options struct {
	n, c, rounds, procs int
	maxTime             time.Duration
	flip                time.Duration
	nginx               string
	requireNginx        bool
	cpuprofile          string
	baseline            string
}

const (
	stableWeight  = 90
	stableVersion = "1.0.0"
	canaryVersion = "1.1.0"
	host          = "demo.bench"
)

func main() {
	var opts options
	var serve bool
	flag.IntVar(&opts.n, "n", 20000, "requests per target in each round (at most 1,000,000)")
	flag.IntVar(&opts.c, "c", 32, "concurrent connections")
	flag.IntVar(&opts.rounds, "rounds", 3, "rounds; each measures every target once, in a rotating order")
	flag.IntVar(&opts.procs, "procs", runtime.GOMAXPROCS(0), "CPUs of the router (GOMAXPROCS) and of nginx (worker_processes)")
	flag.DurationVar(&opts.maxTime, "max-time", 60*time.Second, "time bound of each phase")
	flag.DurationVar(&opts.flip, "flip", 5*time.Millisecond, "pause between weight changes in the last phase; 0 skips that phase")
	flag.StringVar(&opts.nginx, "nginx", "nginx", "nginx binary (looked up in PATH, then /usr/sbin)")
	flag.BoolVar(&opts.requireNginx, "require-nginx", false, "fail if nginx is not installed, instead of measuring without it")
	flag.StringVar(&opts.cpuprofile, "cpuprofile", "", "write a CPU profile of the router process to this file")
	flag.StringVar(&opts.baseline, "baseline", "", "also measure the router of this `BINARY`, a build of this benchmark at another commit, as target \"baseline\"")
	flag.BoolVar(&serve, "serve-router", false, "run as the router process (used by the benchmark itself)")
	flag.Parse()
	opts.n = min(max(opts.n, 100), 1_000_000)
	opts.c = min(max(opts.c, 1), 1024)
	opts.rounds = min(max(opts.rounds, 1), 100)
	opts.procs = max(opts.procs, 1)
	var err error
	if serve {
		err = serveRouter(opts.procs, opts.cpuprofile)
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = run(ctx, opts)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/router:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts options) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	v1, err := serve(ctx, demoapp.Handler(demoapp.Config{Version: stableVersion}))
	if err != nil {
		return err
	}
	v2, err := serve(ctx, demoapp.Handler(demoapp.Config{Version: canaryVersion}))
	if err != nil {
		return err
	}

	rp, err := startRouter("", opts.procs, opts.cpuprofile)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rp.stop()) }()
	var base *routerProc
	if opts.baseline != "" {
		if base, err = startRouter(opts.baseline, opts.procs, ""); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		defer func() { err = errors.Join(err, base.stop()) }()
	}
	routing := func(stable int) router.Routing {
		return router.Routing{Service: "demo", Env: "bench", Hosts: []string{host}, Tracks: []router.Track{
			{Name: "stable", Version: stableVersion, Weight: stable, Backends: []router.Backend{{URL: "http://" + v1, HealthPath: "/readyz"}}},
			{Name: "canary", Version: canaryVersion, Weight: 100 - stable, Backends: []router.Backend{{URL: "http://" + v2, HealthPath: "/readyz"}}},
		}}
	}
	if _, err := rp.Client.SetWeights(ctx, routing(stableWeight)); err != nil {
		return err
	}
	if base != nil {
		if _, err := base.Client.SetWeights(ctx, routing(stableWeight)); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}

	targets := []*target{
		{name: "direct", url: "http://" + v1 + "/version"},
		{name: "router", url: rp.URL + "/version", host: host},
	}
	bin, nerr := findNginx(opts.nginx)
	if nerr == nil {
		np, serr := startNginx(ctx, bin, nginxConfig{
			Workers: opts.procs, Keepalive: max(opts.c, 32), Stable: stableWeight,
			StableAddr: v1, CanaryAddr: v2, StableVersion: stableVersion, CanaryVersion: canaryVersion,
		})
		if serr != nil {
			return serr
		}
		defer func() { err = errors.Join(err, np.stop()) }()
		targets = append(targets, &target{name: "nginx", url: np.URL + "/version", host: host})
	} else if opts.requireNginx {
		return fmt.Errorf("nginx: %w", nerr)
	}
	var baseline *target
	if base != nil {
		baseline = &target{name: "baseline", url: base.URL + "/version", host: host}
		targets = append(targets, baseline)
	}

	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("%d round(s) of %d requests per target at concurrency %d on loopback; router and nginx on %d CPU(s); %d CPUs in all\n",
		opts.rounds, opts.n, opts.c, opts.procs, runtime.NumCPU())
	if nerr != nil {
		fmt.Printf("nginx is NOT measured: %v\n", nerr)
	}
	if len(load) > 0 {
		fmt.Printf("load average at start: %s", load)
	}
	fmt.Println()

	for _, t := range targets {
		t.start(opts.c)
		defer t.close()
		t.warmUp(ctx, opts)
	}
	fmt.Printf("%-5s %-8s %9s %9s %10s %15s %7s\n", "round", "target", "p50", "p99", "req/s", "failed", "canary")
	for round := range opts.rounds {
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		for i := range targets {
			t := targets[(round+i)%len(targets)]
			res := t.measure(ctx, opts, nil)
			fmt.Printf("%-5d %-8s %9s %9s %10.0f %6d of %-7d %6.1f%%\n",
				round+1, t.name, round1(res.p50), round1(res.p99), res.rps, res.failed, res.sent, res.canaryShare())
		}
	}

	fmt.Printf("\nall rounds\n%-14s %9s %9s %10s %15s %7s\n", "target", "p50", "p99", "req/s", "failed", "canary")
	for _, t := range targets {
		res := t.total()
		fmt.Printf("%-14s %9s %9s %10.0f %6d of %-7d %6.1f%%\n", t.name, round1(res.p50), round1(res.p99), res.rps, res.failed, res.sent, res.canaryShare())
	}
	direct, routed := targets[0].total(), targets[1].total()
	fmt.Printf("\nrouter - direct: p50 %+.3f ms, p99 %+.3f ms (goal: p99 under +1 ms: %s)\n",
		ms(routed.p50-direct.p50), ms(routed.p99-direct.p99), verdict(routed.p99-direct.p99 < time.Millisecond))
	fmt.Printf("router / direct: req/s %.2fx\n", routed.rps/direct.rps)
	if nerr == nil {
		ng := targets[2].total()
		fmt.Printf("router / nginx: req/s %.2fx (goal: at least 0.80x: %s), p50 %.2fx, p99 %.2fx\n",
			routed.rps/ng.rps, verdict(routed.rps >= 0.8*ng.rps), ratio(routed.p50, ng.p50), ratio(routed.p99, ng.p99))
		fmt.Printf("nginx - direct: p50 %+.3f ms, p99 %+.3f ms\n", ms(ng.p50-direct.p50), ms(ng.p99-direct.p99))
	} else {
		fmt.Println("router / nginx: not measured (no nginx)")
	}
	if baseline != nil {
		b := baseline.total()
		fmt.Printf("baseline - direct: p50 %+.3f ms, p99 %+.3f ms\n", ms(b.p50-direct.p50), ms(b.p99-direct.p99))
		fmt.Printf("router / baseline: req/s %.2fx, p50 %.2fx, p99 %.2fx\n", routed.rps/b.rps, ratio(routed.p50, b.p50), ratio(routed.p99, b.p99))
		if nerr == nil {
			fmt.Printf("baseline / nginx: req/s %.2fx\n", b.rps/targets[2].total().rps)
		}
	}

	var errs []error
	var flipping result
	if opts.flip > 0 && ctx.Err() == nil {
		weights := []int{90, 75, 50, 25, 0, 50, 99, 100}
		flipping = targets[1].measure(ctx, opts, func(ctx context.Context) int {
			changes := 0
			for ctx.Err() == nil {
				if _, err := rp.Client.SetWeights(ctx, routing(weights[changes%len(weights)])); err != nil && ctx.Err() == nil {
					fmt.Fprintln(os.Stderr, "set weights:", err)
				}
				changes++
				select {
				case <-ctx.Done():
				case <-time.After(opts.flip):
				}
			}
			return changes
		})
		fmt.Printf("\nrouter while its weights change (%d changes): p50 %s, p99 %s, %.0f req/s, %d of %d failed\n",
			flipping.changes, round1(flipping.p50), round1(flipping.p99), flipping.rps, flipping.failed, flipping.sent)
		errs = append(errs, flipping.check("router, weights changing", opts.n)...)
	}
	if load, _ := os.ReadFile("/proc/loadavg"); len(load) > 0 {
		fmt.Printf("load average at end: %s", load)
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	for _, t := range targets {
		for _, r := range t.rounds {
			errs = append(errs, r.check(t.name, opts.n)...)
		}
	}
	return errors.Join(errs...)
}

// serve runs h on a loopback port until ctx ends and returns its address.
func serve(ctx context.Context, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return ln.Addr().String(), nil
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func round1(d time.Duration) time.Duration { return d.Round(time.Microsecond) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
