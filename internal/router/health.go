package router

import (
	"context"
	"sync"
	"time"
)

// unhealthyAfter is how many checks in a row a backend fails before it is taken out, so that one slow
// answer does not move traffic.
const unhealthyAfter = 2

// Run checks the backends that have a health path every HealthInterval until ctx ends, the first time at
// once. A backend that fails unhealthyAfter checks in a row takes no traffic until it passes one again.
// Call it once per router; Serve does.
func (r *Router) Run(ctx context.Context) {
	tick := time.NewTicker(r.opts.HealthInterval)
	defer tick.Stop()
	for {
		r.checkAll(ctx)
		r.purgeRetired()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (r *Router) checkAll(ctx context.Context) {
	r.mu.Lock()
	var bs []*backend
	for _, b := range r.backends {
		if b.healthURL != "" {
			bs = append(bs, b)
		}
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Go(func() {
			err := r.check(ctx, b)
			if ctx.Err() != nil {
				return
			}
			switch {
			case err == nil:
				b.checkFails = 0
				if !b.healthy.Swap(true) {
					r.logger.Info("backend healthy", "backend", b.raw)
				}
			default:
				b.checkFails++
				if b.checkFails >= unhealthyAfter && b.healthy.Swap(false) {
					r.logger.Warn("backend unhealthy", "backend", b.raw, "err", err)
				}
			}
		})
	}
	wg.Wait()
}
