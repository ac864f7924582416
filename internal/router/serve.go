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

// ServeOptions configure Serve.
type ServeOptions struct {
	// AdminToken is the bearer token of the admin API; empty turns the check off (see AdminHandler).
	AdminToken string
	// DrainTimeout bounds how long a stopping router lets in-flight requests finish (DefaultDrainTimeout if 0).
	DrainTimeout time.Duration
}

// Serve runs the data plane on traffic, the admin API on admin, and the health checks, until ctx ends. Then
// it stops accepting requests and lets those in flight finish for up to opts.DrainTimeout. It returns nil
// after a clean stop, or the error of a listener that failed.
func (r *Router) Serve(ctx context.Context, traffic, admin net.Listener, opts ServeOptions) error {
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	data := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	adm := &http.Server{Handler: r.AdminHandler(opts.AdminToken), ReadHeaderTimeout: 10 * time.Second}
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
