package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Defaults of SetOptions and of the admin API.
const (
	DefaultHealthWait   = 30 * time.Second
	DefaultDrainTimeout = 30 * time.Second
)

// Status is a route as the router serves it now.
type Status struct {
	Routing  Routing         `json:"routing"`
	Backends []BackendStatus `json:"backends"`
	// Paused is set while the route holds its requests.
	Paused *PauseStatus `json:"paused,omitempty"`
	// Drained is set by a change that removed backends: true once their in-flight requests finished, false
	// if some were still running when the drain timeout ran out.
	Drained *bool `json:"drained,omitempty"`
}

// BackendStatus is one backend of a track.
type BackendStatus struct {
	Track    string `json:"track"`
	URL      string `json:"url"`
	Healthy  bool   `json:"healthy"`
	InFlight int64  `json:"inFlight"`
}

// SetOptions bound the waits of a change.
type SetOptions struct {
	// HealthWait is how long backends that must pass their health check first may take (DefaultHealthWait if 0).
	HealthWait time.Duration
	// DrainTimeout is how long the change waits, after the switch, for the in-flight requests of the backends
	// it removed; 0 does not wait.
	DrainTimeout time.Duration
}

// InvalidError is a routing or a request that the router refuses as it is; retrying it cannot succeed.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return "invalid routing: " + e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// UnhealthyError is a change refused because a backend it needs did not pass its health check in time.
// Nothing changed; the same change may succeed once the backend is up.
type UnhealthyError struct {
	Backend string
	Reason  string
}

func (e *UnhealthyError) Error() string {
	return fmt.Sprintf("backend %s did not pass its health check: %s", e.Backend, e.Reason)
}

// Set replaces the routing of routing.Service in routing.Env, or adds it, atomically: a request sees the old
// routing or the new one. It is idempotent.
//
// Before the switch, every new backend with a health path, and every unhealthy one in a track with a weight
// above 0, must pass its check within opts.HealthWait; otherwise Set returns an *UnhealthyError and changes
// nothing. A pause of the route stays in force. After the switch, Set waits up to opts.DrainTimeout for the
// in-flight requests of the backends it removed, and reports in Status.Drained whether they finished.
func (r *Router) Set(ctx context.Context, routing Routing, opts SetOptions) (Status, error) {
	if err := routing.Validate(); err != nil {
		return Status{}, &InvalidError{Err: err}
	}
	routing = routing.clone()
	if opts.HealthWait <= 0 {
		opts.HealthWait = DefaultHealthWait
	}
	passed, err := r.admit(ctx, routing, opts.HealthWait)
	if err != nil {
		return Status{}, err
	}
	key := routeKey{routing.Service, routing.Env}
	gone, err := r.change(func(routes []storedRoute) ([]storedRoute, error) {
		i := slices.IndexFunc(routes, func(sr storedRoute) bool { return sr.key() == key })
		if i < 0 {
			return append(routes, storedRoute{Routing: routing}), nil
		}
		routes[i].Routing = routing
		return routes, nil
	}, func(b *backend) bool { return b.healthURL == "" || passed[b.key] })
	if err != nil {
		return Status{}, err
	}
	st, _ := r.Status(routing.Service, routing.Env)
	st.Drained = drain(ctx, gone, opts.DrainTimeout)
	return st, nil
}

// admit checks the backends of routing that must pass their health check before it takes effect, in
// parallel, each until it passes or wait runs out. It returns the keys of those that passed.
func (r *Router) admit(ctx context.Context, routing Routing, wait time.Duration) (map[string]bool, error) {
	r.mu.Lock()
	var check []*backend
	seen := map[string]bool{}
	for _, t := range routing.Tracks {
		for _, b := range t.Backends {
			key := b.URL + " " + b.HealthPath
			if b.HealthPath == "" || seen[key] {
				continue
			}
			cur := r.backends[key]
			if cur != nil && (t.Weight == 0 || cur.healthy.Load()) {
				continue
			}
			seen[key] = true
			if cur == nil {
				var err error
				if cur, err = newBackend(b); err != nil {
					r.mu.Unlock()
					return nil, &InvalidError{Err: err}
				}
			}
			check = append(check, cur)
		}
	}
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	errs := make([]error, len(check))
	var wg sync.WaitGroup
	for i, b := range check {
		wg.Go(func() { errs[i] = r.waitHealthy(ctx, b) })
	}
	wg.Wait()
	passed := map[string]bool{}
	for i, b := range check {
		if errs[i] != nil {
			return nil, &UnhealthyError{Backend: b.raw, Reason: errs[i].Error()}
		}
		passed[b.key] = true
		b.healthy.Store(true) // an existing backend that passed takes traffic again at once
	}
	return passed, nil
}

// waitHealthy checks b until it passes or ctx ends; it returns the last failure.
func (r *Router) waitHealthy(ctx context.Context, b *backend) error {
	tick := time.NewTicker(min(r.opts.HealthInterval, 200*time.Millisecond))
	defer tick.Stop()
	for {
		err := r.check(ctx, b)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

// check runs b's health check once.
func (r *Router) check(ctx context.Context, b *backend) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.healthURL, nil)
	if err != nil {
		return err
	}
	resp, err := r.checker.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("GET %s: status %d", b.healthURL, resp.StatusCode)
	}
	return nil
}

// Remove deletes the route of service in env, and waits up to drainTimeout for the in-flight requests of its
// backends. Requests held by its pause get 404. It is idempotent: removing a missing route reports false.
func (r *Router) Remove(ctx context.Context, service, env string, drainTimeout time.Duration) (removed, drained bool, err error) {
	key := routeKey{service, env}
	gone, err := r.change(func(routes []storedRoute) ([]storedRoute, error) {
		n := len(routes)
		routes = slices.DeleteFunc(routes, func(sr storedRoute) bool { return sr.key() == key })
		removed = len(routes) < n
		return routes, nil
	}, nil)
	if err != nil {
		return false, false, err
	}
	return removed, *drain(ctx, gone, drainTimeout), nil
}

// Pause holds the requests of the route from now on, each for at most maxHold from its arrival, until Resume;
// after that hold a request gets 503. Pausing a paused route sets its new maxHold. Changes of the routing
// during a pause take effect for the held requests once it ends.
func (r *Router) Pause(service, env string, maxHold time.Duration) (Status, error) {
	if maxHold <= 0 {
		return Status{}, &InvalidError{Err: fmt.Errorf("maxHold %s: want a positive duration", maxHold)}
	}
	if err := r.setPause(service, env, &PauseStatus{MaxHold: Duration(maxHold), Since: time.Now().UTC()}); err != nil {
		return Status{}, err
	}
	return r.Status(service, env)
}

// Resume releases the route's held requests to the current routing. Resuming a route that is not paused
// does nothing.
func (r *Router) Resume(service, env string) (Status, error) {
	if err := r.setPause(service, env, nil); err != nil {
		return Status{}, err
	}
	return r.Status(service, env)
}

func (r *Router) setPause(service, env string, p *PauseStatus) error {
	key := routeKey{service, env}
	_, err := r.change(func(routes []storedRoute) ([]storedRoute, error) {
		i := slices.IndexFunc(routes, func(sr storedRoute) bool { return sr.key() == key })
		if i < 0 {
			return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, service, env)
		}
		if p != nil && routes[i].Paused != nil {
			p.Since = routes[i].Paused.Since
		}
		routes[i].Paused = p
		return routes, nil
	}, nil)
	return err
}

// change applies edit to the stored routes, builds the table, saves the state and swaps the table in, in that
// order, so that a failure at any step changes nothing. It releases the requests held by pauses that ended
// and returns the backends that are no longer routed to. newHealthy says whether a new backend starts healthy
// (nil: it does).
func (r *Router) change(edit func([]storedRoute) ([]storedRoute, error), newHealthy func(*backend) bool) ([]*backend, error) {
	if newHealthy == nil {
		newHealthy = func(*backend) bool { return true }
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.table.Load()
	routes, err := edit(cur.stored())
	if err != nil {
		return nil, err
	}
	next, err := r.build(routes, newHealthy)
	if err != nil {
		return nil, err
	}
	if err := saveState(r.opts.StatePath, state{Version: stateVersion, Routes: next.stored()}); err != nil {
		return nil, err
	}
	gone := r.commit(next)
	for k, rt := range cur.routes {
		if rt.pause != nil {
			if n := next.routes[k]; n == nil || n.pause != rt.pause {
				close(rt.pause.released)
			}
		}
	}
	return gone, nil
}

// stored describes the table as stored routes, ordered by service and env.
func (t *table) stored() []storedRoute {
	routes := make([]storedRoute, 0, len(t.routes))
	for _, rt := range t.routes {
		sr := storedRoute{Routing: rt.routing.clone()}
		if p := rt.pause; p != nil {
			sr.Paused = &PauseStatus{MaxHold: Duration(p.maxHold), Since: p.since}
		}
		routes = append(routes, sr)
	}
	slices.SortFunc(routes, func(a, b storedRoute) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Env, b.Env))
	})
	return routes
}

func (sr storedRoute) key() routeKey { return routeKey{sr.Service, sr.Env} }

// drain waits until none of gone has a request in flight, or timeout passes. It reports whether they drained.
func drain(ctx context.Context, gone []*backend, timeout time.Duration) *bool {
	deadline := time.Now().Add(timeout)
	done := true
	for {
		busy := false
		for _, b := range gone {
			busy = busy || b.inFlight.Load() > 0
		}
		if !busy || time.Now().After(deadline) || ctx.Err() != nil {
			done = !busy
			return &done
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Status returns the route of service in env as served now, or an error wrapping ErrNotFound.
func (r *Router) Status(service, env string) (Status, error) {
	rt := r.table.Load().routes[routeKey{service, env}]
	if rt == nil {
		return Status{}, fmt.Errorf("%w: %s/%s", ErrNotFound, service, env)
	}
	return rt.status(), nil
}

// Statuses returns every route as served now, ordered by service and env.
func (r *Router) Statuses() []Status {
	t := r.table.Load()
	out := make([]Status, 0, len(t.routes))
	for _, sr := range t.stored() {
		out = append(out, t.routes[sr.key()].status())
	}
	return out
}

func (rt *route) status() Status {
	st := Status{Routing: rt.routing.clone(), Backends: []BackendStatus{}}
	if p := rt.pause; p != nil {
		st.Paused = &PauseStatus{MaxHold: Duration(p.maxHold), Since: p.since}
	}
	for _, tk := range rt.tracks {
		for _, b := range tk.backends {
			st.Backends = append(st.Backends, BackendStatus{Track: tk.name, URL: b.raw, Healthy: b.healthy.Load(), InFlight: b.inFlight.Load()})
		}
	}
	return st
}

// errorStatus is the HTTP status the admin API answers err with.
func errorStatus(err error) int {
	var (
		invalid   *InvalidError
		conflict  *ConflictError
		unhealthy *UnhealthyError
	)
	switch {
	case errors.As(err, &invalid):
		return http.StatusBadRequest
	case errors.As(err, &conflict):
		return http.StatusConflict
	case errors.As(err, &unhealthy):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}
