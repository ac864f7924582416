package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// GCPercent is the garbage collector's target (GOGC) that `ferry router` runs with when GOGC is not set. The
// router's live heap is small (routes, pooled buffers, idle connections) while every request allocates, so the
// default of 100 collects very often; 400 trades a few MiB of heap for a quarter of the collections.
const GCPercent = 400

// Defaults of ServeOptions.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultWriteTimeout      = 5 * time.Minute
)

// ServeOptions configure Serve.
type ServeOptions struct {
	// AdminToken is the bearer token of the admin API; empty turns the check off (see AdminHandler).
	AdminToken string
	// DrainTimeout bounds how long a stopping router lets in-flight requests finish (DefaultDrainTimeout if 0).
	DrainTimeout time.Duration
	// ReadHeaderTimeout bounds the reading of a request's headers (DefaultReadHeaderTimeout if 0).
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long a client's kept-alive connection may wait for its next request
	// (DefaultIdleTimeout if 0).
	IdleTimeout time.Duration
	// WriteTimeout bounds a whole response from the end of its request's headers (DefaultWriteTimeout if 0;
	// negative for none). WebSocket and event-stream responses are exempt.
	WriteTimeout time.Duration
}

func (o *ServeOptions) defaults() {
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	switch {
	case o.WriteTimeout == 0:
		o.WriteTimeout = DefaultWriteTimeout
	case o.WriteTimeout < 0:
		o.WriteTimeout = 0
	}
}

// Serve runs the data plane on traffic, the admin API on admin, and the health checks, until ctx ends. Then
// it stops accepting requests, ends WebSocket and event streams, and lets the other requests in flight finish
// for up to opts.DrainTimeout. It returns nil after a clean stop, or the error of a listener that failed.
// Call it once per router.
func (r *Router) Serve(ctx context.Context, traffic, admin net.Listener, opts ServeOptions) error {
	opts.defaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	data := &http.Server{Handler: r, ReadHeaderTimeout: opts.ReadHeaderTimeout, IdleTimeout: opts.IdleTimeout,
		WriteTimeout: opts.WriteTimeout}
	data.RegisterOnShutdown(r.stopStreams)
	adm := &http.Server{Handler: r.AdminHandler(opts.AdminToken), ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout: opts.IdleTimeout}
	errs := make(chan error, 2)
	go func() { errs <- data.Serve(traffic) }()
	go func() { errs <- adm.Serve(admin) }()
	health := make(chan struct{})
	go func() {
		defer close(health)
		r.Run(ctx)
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
		cancel()
	}
	stop, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), opts.DrainTimeout)
	defer cancelStop()
	// The admin API stops first: no change starts while the data plane drains.
	err = errors.Join(err, adm.Shutdown(stop))
	if serr := data.Shutdown(stop); serr != nil {
		data.Close()
		err = errors.Join(err, fmt.Errorf("requests still in flight after %s: %w", opts.DrainTimeout, serr))
	}
	<-health
	return err
}
