// Command router measures the traffic router with wrk against direct calls, nginx and, optionally,
// kamal-proxy, in one run: requests per second, p50 and p99 at 32 and at 4 connections. The targets take
// turns in rounds (the order rotates), so that the machine's noise falls on all of them alike.
//
//	go run ./bench/router                                   # 2 rounds of 8 s per target, at 32 and 4 connections
//	go run ./bench/router -rounds 3 -duration 5s
//	go run ./bench/router -kamal-proxy /path/to/kamal-proxy
//	go run ./bench/router -cpuprofile router.pprof          # CPU profile of the router process
//	go run ./bench/router -smoke                            # one short round, no goals (CI)
//
// The router runs in its own process, as nginx and kamal-proxy do. wrk (Debian's package) runs with one
// thread. Every target reaches the same backend (the demo app, in this process). The command exits 1 if wrk
// or nginx is missing, or if a request failed.
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
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ferryhq/ferry/internal/demoapp"
	"github.com/ferryhq/ferry/internal/router"
)

type options struct {
	rounds, procs int
	nginxWorkers  int
	conns         []int
	duration      time.Duration
	nginx, wrk    string
	kamal         string
	cpuprofile    string
	baseline      string
	smoke         bool
}

const (
	stableVersion = "1.0.0"
	canaryVersion = "1.1.0"
	host          = "demo.bench"
)

func main() {
	var opts options
	var serve bool
	var conns string
	flag.IntVar(&opts.rounds, "rounds", 2, "rounds; each measures every target once per connection count, in a rotating order")
	flag.DurationVar(&opts.duration, "duration", 8*time.Second, "length of one wrk run")
	flag.StringVar(&conns, "c", "32,4", "connection counts, comma-separated")
	flag.IntVar(&opts.procs, "procs", runtime.NumCPU(), "GOMAXPROCS of the router process (`ferry router` runs with every CPU)")
	flag.IntVar(&opts.nginxWorkers, "nginx-workers", 1, "nginx's worker_processes")
	flag.StringVar(&opts.nginx, "nginx", "nginx", "nginx binary (looked up in PATH, then /usr/sbin)")
	flag.StringVar(&opts.wrk, "wrk", "wrk", "wrk binary")
	flag.StringVar(&opts.kamal, "kamal-proxy", "", "also measure this kamal-proxy `BINARY`")
	flag.StringVar(&opts.cpuprofile, "cpuprofile", "", "write a CPU profile of the router process to this file")
	flag.StringVar(&opts.baseline, "baseline", "", "also measure the router of this `BINARY`, a build of this benchmark at another commit")
	flag.BoolVar(&opts.smoke, "smoke", false, "one round of 1 s per target at each connection count; no goals (for CI)")
	flag.BoolVar(&serve, "serve-router", false, "run as the router process (used by the benchmark itself)")
	flag.Parse()
	opts.rounds = min(max(opts.rounds, 1), 20)
	opts.duration = min(max(opts.duration, time.Second), 5*time.Minute)
	opts.procs = max(opts.procs, 1)
	opts.nginxWorkers = max(opts.nginxWorkers, 1)
	if opts.smoke {
		opts.rounds, opts.duration = 1, time.Second
	}
	for _, s := range strings.Split(conns, ",") {
		var c int
		if _, err := fmt.Sscan(strings.TrimSpace(s), &c); err != nil || c < 1 || c > 1024 {
			fmt.Fprintf(os.Stderr, "bench/router: -c %q: want connection counts from 1 to 1024\n", conns)
			os.Exit(2)
		}
		opts.conns = append(opts.conns, c)
	}
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

// target is one way to reach the demo app, with its results by connection count.
type target struct {
	name, url, host string
	results         map[int][]wrkResult
}

func run(ctx context.Context, opts options) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wrk, err := exec.LookPath(opts.wrk)
	if err != nil {
		return fmt.Errorf("wrk: %w (on Debian: apt-get install wrk)", err)
	}
	nginx, err := findNginx(opts.nginx)
	if err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	backend, err := serve(ctx, demoapp.Handler(demoapp.Config{Version: stableVersion}))
	if err != nil {
		return err
	}
	targets := []*target{{name: "direct", url: "http://" + backend + "/version"}}
	stop := func(f func() error) { err = errors.Join(err, f()) }

	rp, err := startRouter("", opts.procs, opts.cpuprofile)
	if err != nil {
		return err
	}
	defer stop(rp.stop)
	if err := route(ctx, rp, backend); err != nil {
		return err
	}
	targets = append(targets, &target{name: "router", url: rp.URL + "/version", host: host})
	np, err := startNginx(ctx, nginx, nginxConfig{Workers: opts.nginxWorkers, Keepalive: 64, Stable: 100,
		StableAddr: backend, CanaryAddr: backend, StableVersion: stableVersion, CanaryVersion: canaryVersion})
	if err != nil {
		return err
	}
	defer stop(np.stop)
	targets = append(targets, &target{name: "nginx", url: np.URL + "/version", host: host})
	if opts.kamal != "" {
		kp, err := startKamal(ctx, opts.kamal, backend, host, "/readyz")
		if err != nil {
			return err
		}
		defer stop(kp.stop)
		targets = append(targets, &target{name: "kamal-proxy", url: kp.URL + "/version", host: host})
	}
	if opts.baseline != "" {
		bp, err := startRouter(opts.baseline, opts.procs, "")
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		defer stop(bp.stop)
		if err := route(ctx, bp, backend); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		targets = append(targets, &target{name: "baseline", url: bp.URL + "/version", host: host})
	}
	return measure(ctx, opts, wrk, targets)
}

// route sends all of host's traffic through rp to backend, health-checked.
func route(ctx context.Context, rp *routerProc, backend string) error {
	_, err := rp.Client.SetWeights(ctx, router.Routing{Service: "demo", Env: "bench", Hosts: []string{host}, Tracks: []router.Track{
		{Name: "stable", Version: stableVersion, Weight: 100, Backends: []router.Backend{{URL: "http://" + backend, HealthPath: "/readyz"}}},
	}})
	return err
}

// measure runs the rounds and prints every run, then the summary and the ratios.
func measure(ctx context.Context, opts options, wrk string, targets []*target) error {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("wrk, 1 thread, %s per run, %d round(s), connections %v; router GOMAXPROCS %d, nginx %d worker(s); %d CPUs in all\n",
		opts.duration, opts.rounds, opts.conns, opts.procs, opts.nginxWorkers, runtime.NumCPU())
	fmt.Printf("load average at start: %s\n", strings.TrimSpace(string(load)))
	fmt.Printf("%-5s %-5s %-12s %10s %10s %10s %7s\n", "conns", "round", "target", "req/s", "p50", "p99", "failed")
	var errs []error
	for _, c := range opts.conns {
		// A short warm-up opens the connections of every proxy to the backend.
		for _, t := range targets {
			if _, err := runWrk(ctx, wrk, t.url, t.host, c, time.Second); err != nil {
				return err
			}
		}
		for round := range opts.rounds {
			for i := range targets {
				t := targets[(round+i)%len(targets)]
				if ctx.Err() != nil {
					return errors.New("interrupted")
				}
				res, err := runWrk(ctx, wrk, t.url, t.host, c, opts.duration)
				if err != nil {
					return err
				}
				if t.results == nil {
					t.results = map[int][]wrkResult{}
				}
				t.results[c] = append(t.results[c], res)
				fmt.Printf("%-5d %-5d %-12s %10.0f %10s %10s %7d\n", c, round+1, t.name, res.rps, us(res.p50), us(res.p99), res.failed)
				if res.failed > 0 {
					errs = append(errs, fmt.Errorf("%s at %d connections: %d of %d requests failed", t.name, c, res.failed, res.requests))
				}
			}
		}
	}
	summarize(opts, targets)
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("load average at end: %s\n", strings.TrimSpace(string(load)))
	return errors.Join(errs...)
}

// summary is a target's figures at one connection count: the mean of the rounds' req/s, and the median of
// their p50 and p99.
type summary struct {
	rps      float64
	p50, p99 time.Duration
}

func summarize(opts options, targets []*target) {
	byName := map[string]*target{}
	for _, t := range targets {
		byName[t.name] = t
	}
	for _, c := range opts.conns {
		fmt.Printf("\n%d connections: mean req/s and median p50, p99 over the rounds\n", c)
		fmt.Printf("%-12s %10s %10s %10s\n", "target", "req/s", "p50", "p99")
		for _, t := range targets {
			s := t.summary(c)
			fmt.Printf("%-12s %10.0f %10s %10s\n", t.name, s.rps, us(s.p50), us(s.p99))
		}
		r, ng := byName["router"].summary(c), byName["nginx"].summary(c)
		fmt.Printf("router / nginx: req/s %.2fx, p50 %.2fx, p99 %.2fx", r.rps/ng.rps, ratio(r.p50, ng.p50), ratio(r.p99, ng.p99))
		if !opts.smoke && c == 32 {
			fmt.Printf(" (goals: req/s at least 0.80x: %s; p99 at most nginx's: %s)", verdict(r.rps >= 0.8*ng.rps), verdict(r.p99 <= ng.p99))
		}
		fmt.Println()
		if k := byName["kamal-proxy"]; k != nil {
			ks := k.summary(c)
			fmt.Printf("router / kamal-proxy: req/s %.2fx, p50 %.2fx, p99 %.2fx", r.rps/ks.rps, ratio(r.p50, ks.p50), ratio(r.p99, ks.p99))
			if !opts.smoke && c == 32 {
				fmt.Printf(" (goal: req/s at least 2x: %s)", verdict(r.rps >= 2*ks.rps))
			}
			fmt.Printf("\nnginx / kamal-proxy: req/s %.2fx\n", ng.rps/ks.rps)
		}
		if b := byName["baseline"]; b != nil {
			bs := b.summary(c)
			fmt.Printf("router / baseline: req/s %.2fx, p50 %.2fx, p99 %.2fx\n", r.rps/bs.rps, ratio(r.p50, bs.p50), ratio(r.p99, bs.p99))
		}
	}
}

func (t *target) summary(c int) summary {
	rs := t.results[c]
	var s summary
	var p50s, p99s []time.Duration
	for _, r := range rs {
		s.rps += r.rps / float64(len(rs))
		p50s, p99s = append(p50s, r.p50), append(p99s, r.p99)
	}
	return summary{rps: s.rps, p50: median(p50s), p99: median(p99s)}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	if n := len(ds); n%2 == 0 {
		return (ds[n/2-1] + ds[n/2]) / 2
	}
	return ds[len(ds)/2]
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

func us(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

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
