package activities

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ferryhq/ferry/internal/router"
)

var _ TrafficRouter = (*FerryRouter)(nil)

// FerryRouter is the TrafficRouter of `ferry router`, through its admin API.
type FerryRouter struct {
	Client *router.Client
}

// SetRoutes puts the whole routing at once; the router switches once new backends are healthy.
func (f *FerryRouter) SetRoutes(ctx context.Context, r Routes) error {
	rt := router.Routing{Service: r.Service, Env: r.Env, Hosts: r.Hosts}
	switch {
	case r.StickyHeader != "":
		rt.Sticky = &router.Sticky{Header: r.StickyHeader}
	case r.StickyCookie != "":
		rt.Sticky = &router.Sticky{Cookie: r.StickyCookie}
	}
	for _, t := range r.Tracks {
		tr := router.Track{Name: t.Name, Version: t.Version, Weight: t.Weight}
		for _, b := range t.Backends {
			tr.Backends = append(tr.Backends, router.Backend{URL: b, HealthPath: t.HealthPath})
		}
		rt.Tracks = append(rt.Tracks, tr)
	}
	_, err := f.Client.SetWeights(ctx, rt)
	return routerError(err)
}

// Routes reads the routing back.
func (f *FerryRouter) Routes(ctx context.Context, service, env string) (Routes, bool, error) {
	st, err := f.Client.Weights(ctx, service, env)
	if notFound(err) {
		return Routes{}, false, nil
	}
	if err != nil {
		return Routes{}, false, routerError(err)
	}
	rt := st.Routing
	r := Routes{Service: rt.Service, Env: rt.Env, Hosts: rt.Hosts}
	if s := rt.Sticky; s != nil {
		r.StickyHeader, r.StickyCookie = s.Header, s.Cookie
	}
	for _, t := range rt.Tracks {
		tr := RouteTrack{Name: t.Name, Version: t.Version, Weight: t.Weight}
		for _, b := range t.Backends {
			tr.Backends = append(tr.Backends, b.URL)
			tr.HealthPath = b.HealthPath
		}
		tr.Healthy = []string{}
		for _, b := range st.Backends {
			if b.Track == t.Name && b.Healthy {
				tr.Healthy = append(tr.Healthy, b.URL)
			}
		}
		r.Tracks = append(r.Tracks, tr)
	}
	return r, true, nil
}

// RemoveRoutes deletes the route; the router drains its backends.
func (f *FerryRouter) RemoveRoutes(ctx context.Context, service, env string) error {
	_, err := f.Client.Remove(ctx, service, env)
	return routerError(err)
}

// Hold pauses the route; without a route there is nothing to hold.
func (f *FerryRouter) Hold(ctx context.Context, service, env string, maxHold time.Duration) error {
	_, err := f.Client.Pause(ctx, service, env, maxHold)
	if notFound(err) {
		return nil
	}
	return routerError(err)
}

// Release resumes the route; without a route nothing is held.
func (f *FerryRouter) Release(ctx context.Context, service, env string) error {
	_, err := f.Client.Resume(ctx, service, env)
	if notFound(err) {
		return nil
	}
	return routerError(err)
}

func notFound(err error) bool {
	var api *router.APIError
	return errors.As(err, &api) && api.StatusCode == http.StatusNotFound
}

// routerError makes a refusal no retry can change (a bad routing, a wrong token) non-retryable.
func routerError(err error) error {
	var api *router.APIError
	var invalid *router.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &invalid):
		return invalidSpec("router: "+err.Error(), err)
	case errors.As(err, &api) && !api.Retryable():
		return invalidSpec(err.Error(), err)
	}
	return err
}
