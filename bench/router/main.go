// Command router measures the traffic router's overhead on loopback: latency (p50, p99) and requests per
// second at a fixed concurrency, sending to a demo app backend directly and through the router, and through
// the router while its weights change.
//
//	go run ./bench/router                  # 50,000 requests per phase at concurrency 32
//	go run ./bench/router -n 10000 -c 8
//
// Every phase is bounded by -n requests and by -max-time. The command exits 1 if any request failed.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryhq/ferry/internal/demoapp"
	"github.com/ferryhq/ferry/internal/router"
)

type options struct {
	n, c    int
	maxTime time.Duration
	flip    time.Duration
}

// result is one phase's measurement.
type result struct {
	name     string
	sent     int
	failed   int
	p50, p99 time.Duration
	rps      float64
	changes  int
	firstErr string
}

func main() {
	var opts options
	flag.IntVar(&opts.n, "n", 50000, "requests per phase (at most 1,000,000)")
	flag.IntVar(&opts.c, "c", 32, "concurrent connections")
	flag.DurationVar(&opts.maxTime, "max-time", 60*time.Second, "time bound of each phase")
	flag.DurationVar(&opts.flip, "flip", 5*time.Millisecond, "pause between weight changes in the last phase")
	flag.Parse()
	opts.n = min(max(opts.n, 100), 1_000_000)
	opts.c = min(max(opts.c, 1), 1024)
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "bench/router:", err)
		os.Exit(1)
	}
}

func run(opts options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v1, err := serve(ctx, demoapp.Handler(demoapp.Config{Version: "1.0.0"}))
	if err != nil {
		return err
	}
	v2, err := serve(ctx, demoapp.Handler(demoapp.Config{Version: "1.1.0"}))
	if err != nil {
		return err
	}
	r, err := router.New(router.Options{})
	if err != nil {
		return err
	}
	traffic, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	token := randomToken()
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, traffic, admin, router.ServeOptions{AdminToken: token}) }()
	defer func() { cancel(); <-served }()

	client := &router.Client{BaseURL: "http://" + admin.Addr().String(), Token: token}
	routing := func(stable int) router.Routing {
		return router.Routing{Service: "demo", Env: "bench", Hosts: []string{"demo.bench"}, Tracks: []router.Track{
			{Name: "stable", Version: "1.0.0", Weight: stable, Backends: []router.Backend{{URL: v1, HealthPath: "/readyz"}}},
			{Name: "canary", Version: "1.1.0", Weight: 100 - stable, Backends: []router.Backend{{URL: v2, HealthPath: "/readyz"}}},
		}}
	}
	if _, err := client.SetWeights(ctx, routing(90)); err != nil {
		return err
	}

	through := "http://" + traffic.Addr().String() + "/version"
	fmt.Printf("%d requests per phase at concurrency %d on loopback (GOMAXPROCS %d)\n\n", opts.n, opts.c, runtimeProcs())
	direct := measure(ctx, "direct", v1+"/version", "", opts, nil)
	routed := measure(ctx, "router 90/10", through, "demo.bench", opts, nil)
	weights := []int{90, 75, 50, 25, 0, 50, 99, 100}
	flipping := measure(ctx, "router, weights changing", through, "demo.bench", opts, func(ctx context.Context) int {
		changes := 0
		for ctx.Err() == nil {
			if _, err := client.SetWeights(ctx, routing(weights[changes%len(weights)])); err != nil && ctx.Err() == nil {
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

	fmt.Printf("%-26s %9s %9s %10s %12s %8s\n", "phase", "p50", "p99", "req/s", "failed", "changes")
	for _, res := range []result{direct, routed, flipping} {
		fmt.Printf("%-26s %9s %9s %10.0f %5d of %-5d %8d\n", res.name, round(res.p50), round(res.p99), res.rps, res.failed, res.sent, res.changes)
	}
	fmt.Printf("\nrouter / direct: p50 %.2fx, p99 %.2fx, req/s %.2fx\n",
		ratio(routed.p50, direct.p50), ratio(routed.p99, direct.p99), routed.rps/direct.rps)
	var errs []error
	for _, res := range []result{direct, routed, flipping} {
		if res.failed > 0 {
			errs = append(errs, fmt.Errorf("%s: %d of %d requests failed (first: %s)", res.name, res.failed, res.sent, res.firstErr))
		}
		if res.sent < opts.n {
			errs = append(errs, fmt.Errorf("%s: sent %d of %d requests within %s", res.name, res.sent, opts.n, opts.maxTime))
		}
	}
	return errors.Join(errs...)
}

// measure sends opts.n requests to url over opts.c connections, after a warm-up, while background runs (if
// given) until the requests are done.
func measure(ctx context.Context, name, url, host string, opts options, background func(context.Context) int) result {
	tr := &http.Transport{MaxIdleConnsPerHost: opts.c, MaxIdleConns: opts.c}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(ctx context.Context) (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		if host != "" {
			req.Host = host
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return time.Since(start), err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.maxTime)
	defer cancel()
	// Warm-up: open the connections and let the runtime settle.
	load(ctx, min(opts.n/10, 2000), opts.c, get)

	res := result{name: name}
	changes := make(chan int, 1)
	bgCtx, stopBackground := context.WithCancel(ctx)
	if background != nil {
		go func() { changes <- background(bgCtx) }()
	}
	start := time.Now()
	lat, failed, firstErr := load(ctx, opts.n, opts.c, get)
	wall := time.Since(start)
	stopBackground()
	if background != nil {
		res.changes = <-changes
	}
	res.sent, res.failed, res.firstErr = len(lat)+failed, failed, firstErr
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p50, res.p99 = lat[len(lat)*50/100], lat[min(len(lat)*99/100, len(lat)-1)]
	}
	res.rps = float64(len(lat)) / wall.Seconds()
	return res
}

// load sends n requests over c workers and returns the latencies of those that succeeded.
func load(ctx context.Context, n, c int, get func(context.Context) (time.Duration, error)) (lat []time.Duration, failed int, firstErr string) {
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			mine := make([]time.Duration, 0, n/c+1)
			bad := 0
			first := ""
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				d, err := get(ctx)
				if err != nil {
					bad++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			failed += bad
			if firstErr == "" {
				firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return lat, failed, firstErr
}

// serve runs h on a loopback port until ctx ends and returns its base URL.
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
	return "http://" + ln.Addr().String(), nil
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func round(d time.Duration) time.Duration { return d.Round(time.Microsecond) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
