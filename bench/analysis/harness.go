package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/internal/promtest"
	"github.com/ferryhq/ferry/internal/router"
	"github.com/ferryhq/ferry/worker"
)

// harness is what every lane shares: the router, Prometheus, the Temporal server, a client and a worker.
type harness struct {
	dir  string // temporary: Prometheus' files, the lanes' platform logs
	self string // this program, which the exec platform runs
	// traffic and admin are the router's listeners, host:port.
	traffic, admin string
	c              client.Client
	stops          []func()
}

// startHarness starts the shared servers; stop ends them in reverse order.
func startHarness(ctx context.Context, verbose bool) (h *harness, err error) {
	h = &harness{}
	defer func() {
		if err != nil {
			h.stop()
		}
	}()
	quiet := slog.New(slog.DiscardHandler)
	logger := quiet
	if verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if h.dir, err = os.MkdirTemp("", "ferry-bench-analysis-"); err != nil {
		return h, err
	}
	h.stops = append(h.stops, func() { _ = os.RemoveAll(h.dir) })
	if h.self, err = os.Executable(); err != nil {
		return h, err
	}
	if err = h.startRouter(ctx, quiet); err != nil {
		return h, err
	}
	prom, err := promtest.Run(h.dir, h.admin)
	if err != nil {
		return h, err
	}
	h.stops = append(h.stops, prom.Stop)
	if err = h.startTemporal(ctx, logger, prom.URL); err != nil {
		return h, err
	}
	return h, waitScraped(ctx, prom.URL)
}

// waitScraped waits until Prometheus has scraped the router once. It answers queries some 5–6 s before its
// first scrape (its target discovery hands targets over late); a release whose first round fell in that
// gap would find no data there, which a Prometheus that has run for a while never shows.
func waitScraped(ctx context.Context, url string) error {
	p, err := activities.NewPrometheus(url, activities.PrometheusAuth{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if v, err := p.Instant(ctx, "up == 1"); err == nil && len(v) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("prometheus at %s did not scrape the router within 30s", url)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startRouter runs Ferry's router in this process, on two loopback listeners.
func (h *harness) startRouter(ctx context.Context, logger *slog.Logger) error {
	rt, err := router.New(router.Options{Logger: logger})
	if err != nil {
		return err
	}
	traffic, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		traffic.Close()
		return err
	}
	h.traffic, h.admin = traffic.Addr().String(), admin.Addr().String()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = rt.Serve(rctx, traffic, admin, router.ServeOptions{AdminToken: token}); close(done) }()
	h.stops = append(h.stops, func() { cancel(); <-done })
	return nil
}

// startTemporal runs the embedded Temporal server, dials it, and starts a worker whose exec platform may run
// this program and whose Prometheus is prom.
func (h *harness) startTemporal(ctx context.Context, logger *slog.Logger, prom string) error {
	srv, err := devserver.Start(ctx, devserver.Options{Port: 0, UIPort: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	h.stops = append(h.stops, func() { _ = srv.Stop() })
	h.c, err = client.Dial(client.Options{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(logger)})
	if err != nil {
		return err
	}
	h.stops = append(h.stops, h.c.Close)
	w := worker.New(h.c, worker.Options{TaskQueue: queue, Logger: logger,
		Exec:   activities.ExecPolicy{Root: h.dir, Allow: []string{h.self}},
		Config: worker.Config{Prometheus: worker.PrometheusConfig{Address: prom}}})
	if err := w.Start(); err != nil {
		return err
	}
	h.stops = append(h.stops, w.Stop)
	return nil
}

func (h *harness) stop() {
	for _, f := range slices.Backward(h.stops) {
		f()
	}
	h.stops = nil
}
