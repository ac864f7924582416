package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one way to reach the demo app, with the measurements of every round.
type target struct {
	name, url, host string
	client          *http.Client
	transport       *http.Transport
	rounds          []result
}

// result is one phase's measurement.
type result struct {
	sent, failed, canary int
	lat                  []time.Duration // sorted; successful requests only
	wall                 time.Duration
	p50, p99             time.Duration
	rps                  float64
	changes              int
	firstErr             string
}

// start opens the target's client; its connections are kept across rounds.
func (t *target) start(c int) {
	t.transport = &http.Transport{MaxIdleConnsPerHost: c, MaxIdleConns: c, DisableCompression: true}
	t.client = &http.Client{Transport: t.transport, Timeout: 10 * time.Second}
}

func (t *target) close() { t.transport.CloseIdleConnections() }

// get sends one request and returns its latency and whether the canary answered.
func (t *target) get(ctx context.Context) (time.Duration, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return 0, false, err
	}
	if t.host != "" {
		req.Host = t.host
	}
	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(start), resp.Header.Get("X-Version") == canaryVersion, err
}

// warmUp opens the connections and lets both ends settle, bounded by opts.maxTime.
func (t *target) warmUp(ctx context.Context, opts options) {
	ctx, cancel := context.WithTimeout(ctx, opts.maxTime)
	defer cancel()
	load(ctx, min(opts.n/5, 5000), opts.c, t.get)
}

// measure sends opts.n requests over opts.c connections, bounded by opts.maxTime, while background runs (if
// given). A phase without background is kept as one of the target's rounds.
func (t *target) measure(ctx context.Context, opts options, background func(context.Context) int) result {
	ctx, cancel := context.WithTimeout(ctx, opts.maxTime)
	defer cancel()
	changes := make(chan int, 1)
	bgCtx, stopBackground := context.WithCancel(ctx)
	if background != nil {
		go func() { changes <- background(bgCtx) }()
	}
	start := time.Now()
	res := load(ctx, opts.n, opts.c, t.get)
	res.wall = time.Since(start)
	stopBackground()
	if background != nil {
		res.changes = <-changes
	} else {
		t.rounds = append(t.rounds, res)
	}
	res.summarize()
	return res
}

// total merges the target's rounds: percentiles over all their requests, and requests per second over
// their summed time.
func (t *target) total() result {
	var all result
	for _, r := range t.rounds {
		all.sent += r.sent
		all.failed += r.failed
		all.canary += r.canary
		all.wall += r.wall
		all.lat = append(all.lat, r.lat...)
	}
	slices.Sort(all.lat)
	all.summarize()
	return all
}

func (r *result) summarize() {
	slices.Sort(r.lat)
	if n := len(r.lat); n > 0 {
		r.p50, r.p99 = r.lat[n*50/100], r.lat[min(n*99/100, n-1)]
	}
	if r.wall > 0 {
		r.rps = float64(len(r.lat)) / r.wall.Seconds()
	}
}

func (r result) canaryShare() float64 {
	if len(r.lat) == 0 {
		return 0
	}
	return 100 * float64(r.canary) / float64(len(r.lat))
}

// check returns the phase's failures: failed requests, or fewer requests than n within the time bound.
func (r result) check(name string, n int) []error {
	var errs []error
	if r.failed > 0 {
		errs = append(errs, fmt.Errorf("%s: %d of %d requests failed (first: %s)", name, r.failed, r.sent, r.firstErr))
	}
	if r.sent < n {
		errs = append(errs, fmt.Errorf("%s: sent %d of %d requests within the time bound", name, r.sent, n))
	}
	return errs
}

// load sends n requests over c workers, until ctx ends.
func load(ctx context.Context, n, c int, get func(context.Context) (time.Duration, bool, error)) result {
	var res result
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			mine := make([]time.Duration, 0, n/c+1)
			bad, canary := 0, 0
			first := ""
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				d, isCanary, err := get(ctx)
				if err != nil {
					bad++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				if isCanary {
					canary++
				}
				mine = append(mine, d)
			}
			mu.Lock()
			res.lat = append(res.lat, mine...)
			res.failed += bad
			res.canary += canary
			if res.firstErr == "" {
				res.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.sent = len(res.lat) + res.failed
	return res
}
