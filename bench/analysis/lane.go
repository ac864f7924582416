package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferryhq/ferry/internal/demoapp"
	"github.com/ferryhq/ferry/internal/router"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// lane is one service with its own stable and canary demo apps and its own load; it runs one trial at a
// time.
type lane struct {
	h       *harness
	id      int
	service string
	// stable and canary are the apps' base URLs.
	stable, canary string
	trigger        *demoapp.Trigger
	log            string // the platform's call log
	releases       int
	stops          []func()
}

// runLanes runs the trials in o.lanes lanes at once, printing each result as it comes, and returns them
// all. The first error stops every lane.
func (h *harness) runLanes(ctx context.Context, o options, trials []trial, out io.Writer) ([]result, error) {
	queue := make(chan trial, len(trials))
	for _, t := range trials {
		queue <- t
	}
	close(queue)
	var mu sync.Mutex
	var results []result
	var lanes []*lane
	for i := range min(o.lanes, len(trials)) {
		l, err := h.newLane(ctx, i+1)
		if err != nil {
			return nil, err
		}
		defer l.stop()
		lanes = append(lanes, l)
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, l := range lanes {
		g.Go(func() error {
			stopLoad := load(h.traffic, l.host(), 4, o.maxRequests)
			defer stopLoad()
			for t := range queue {
				r, err := l.trial(ctx, t)
				if err != nil {
					return fmt.Errorf("lane %d, %s #%d: %w", l.id, t.kind.name, t.n, err)
				}
				mu.Lock()
				results = append(results, r)
				printTrial(out, r)
				mu.Unlock()
			}
			return nil
		})
	}
	return results, g.Wait()
}

// newLane starts the lane's two demo apps and routes all of its traffic to stable.
func (h *harness) newLane(ctx context.Context, id int) (l *lane, err error) {
	l = &lane{h: h, id: id, service: fmt.Sprintf("bench-%d", id), trigger: &demoapp.Trigger{},
		log: filepath.Join(h.dir, fmt.Sprintf("lane-%d.log", id))}
	defer func() {
		if err != nil {
			l.stop()
		}
	}()
	for _, app := range []struct {
		url *string
		cfg demoapp.Config
	}{
		{&l.stable, demoapp.Config{Version: "stable", Latency: baseLatency, LatencyJitter: latencyJitter}},
		{&l.canary, demoapp.Config{Version: "canary", Latency: baseLatency, LatencyJitter: latencyJitter, Trigger: l.trigger}},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return l, err
		}
		srv := &http.Server{Handler: demoapp.Handler(app.cfg)}
		go func() { _ = srv.Serve(ln) }()
		l.stops = append(l.stops, func() { _ = srv.Close() })
		*app.url = "http://" + ln.Addr().String()
	}
	rc := &router.Client{BaseURL: "http://" + h.admin, Token: token}
	return l, setRoutes(ctx, rc, routes{service: l.service, stable: l.stable, canary: l.canary, stableVersion: stableVersion})
}

func (l *lane) host() string { return l.service + "." + env + ".localhost" }

func (l *lane) stop() {
	for _, f := range l.stops {
		f()
	}
	l.stops = nil
}

// trial releases a new version in the lane, starts its fault at its offset after the weight change, waits
// for the release to end, and reads what happened from the platform's log and the release's history.
func (l *lane) trial(ctx context.Context, t trial) (result, error) {
	l.releases++
	version := fmt.Sprintf("1.1.%d", l.releases)
	argv := []string{l.h.self, "-platform", "http://" + l.h.admin, l.stable, l.canary, l.log}
	s, err := releaseSpec(l.service, argv, t)
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.bake+2*time.Minute)
	defer cancel()
	in := workflows.ReleaseInput{Spec: s, Version: version, GitSHA: "0000000", StartedBy: "bench"}
	run, _, err := starter.Start(ctx, l.h.c, starter.StartOptions{TaskQueue: queue, Input: in})
	if err != nil {
		return result{}, err
	}
	ended, onset := make(chan struct{}), make(chan time.Time, 1)
	go func() { onset <- l.inject(ctx, ended, t, version) }()
	res, paused, err := l.h.await(ctx, run)
	close(ended)
	r := result{trial: t, lane: l.id, version: version, state: res.State, reason: res.Reason, paused: paused, onset: <-onset}
	l.trigger.Stop()
	if err != nil {
		return r, err
	}
	if err := r.check(); err != nil {
		return r, err
	}
	if r.weightAt, r.backAt, err = weightChanges(l.log, version); err != nil {
		return r, err
	}
	if r.weightAt.IsZero() || r.state == workflows.StateRolledBack && !r.paused && r.backAt.IsZero() {
		return r, fmt.Errorf("release %s ended %s, and the platform log lacks its weight changes", version, r.state)
	}
	r.comparisons, err = comparisons(ctx, l.h.c, run, r.onset)
	return r, err
}

// inject waits for the weight change of version, then until t.offset after it, and starts the trial's
// fault. It returns the onset, or the zero time when the trial has no fault or the release ended first.
func (l *lane) inject(ctx context.Context, ended <-chan struct{}, t trial, version string) time.Time {
	if t.kind.healthy {
		return time.Time{}
	}
	var weightAt time.Time
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for weightAt.IsZero() {
		select {
		case <-ended:
			return time.Time{}
		case <-ctx.Done():
			return time.Time{}
		case <-tick.C:
		}
		weightAt, _, _ = weightChanges(l.log, version)
	}
	timer := time.NewTimer(time.Until(weightAt.Add(t.offset)))
	defer timer.Stop()
	select {
	case <-ended:
		return time.Time{}
	case <-ctx.Done():
		return time.Time{}
	case <-timer.C:
	}
	at, err := l.trigger.Start(t.kind.fault)
	if err != nil {
		panic(err) // the fault kinds are constants that Start accepts
	}
	return at
}

// await waits for the release to end. A release that pauses (an inconclusive verdict waits for a person,
// whom a benchmark does not have) is aborted and reported paused.
func (h *harness) await(ctx context.Context, run starter.Run) (workflows.ReleaseResult, bool, error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var paused atomic.Bool
	go func() {
		for {
			select {
			case <-wctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			if st, err := starter.StatusOf(wctx, h.c, run); err == nil && st.Paused {
				paused.Store(true)
				_, _ = starter.Abort(wctx, h.c, run, workflows.AbortInput{Identity: "bench", Reason: "paused: " + st.Waiting})
				return
			}
		}
	}()
	res, err := starter.Wait(ctx, h.c, run)
	var outcome *starter.OutcomeError
	if err != nil && !errors.As(err, &outcome) {
		return res, false, err
	}
	return res, paused.Load(), nil
}

// load sends GET / for host through the router from workers connections until stopped or max requests were
// sent.
func load(traffic, host string, workers int, max int64) func() {
	var sent atomic.Int64
	var done atomic.Bool
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() && sent.Add(1) <= max {
				req, _ := http.NewRequest(http.MethodGet, "http://"+traffic+"/", nil)
				req.Host = host
				if resp, err := hc.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	return func() {
		done.Store(true)
		wg.Wait()
		hc.CloseIdleConnections()
	}
}
