package activities

import (
	"context"
	"time"
)

// TrafficRouter splits the traffic of a service in an environment between tracks. The Docker driver owns this
// interface and reaches the router through it only, so that another router (nginx, Envoy, a cloud load
// balancer) is one more file that implements it. Every method is idempotent: the driver calls it again when
// Temporal retries an operation.
type TrafficRouter interface {
	// SetRoutes replaces the whole routing of r.Service in r.Env at once: no request sees part of the old
	// routing and part of the new. It returns once new backends pass their health check and removed ones
	// have drained, or with an error.
	SetRoutes(ctx context.Context, r Routes) error
	// Routes reads back the routing the router serves now; found is false when it has none for service/env.
	Routes(ctx context.Context, service, env string) (r Routes, found bool, err error)
	// RemoveRoutes deletes the routing of service in env, draining its backends; a missing one is no error.
	RemoveRoutes(ctx context.Context, service, env string) error
	// Hold queues the requests of service in env, each for at most maxHold, until Release. A router without
	// routing for service/env has nothing to hold and succeeds.
	Hold(ctx context.Context, service, env string, maxHold time.Duration) error
	// Release lets the held requests of service in env through.
	Release(ctx context.Context, service, env string) error
}

// Routes is the routing of one service in one environment.
type Routes struct {
	Service string
	Env     string
	// Hosts are the Host headers that select the service.
	Hosts []string
	// StickyHeader or StickyCookie, if one is set, keeps a user on one track.
	StickyHeader, StickyCookie string
	// Tracks split the traffic; their weights sum to 100.
	Tracks []RouteTrack
}

// RouteTrack is one track's share of the traffic and the addresses that serve it.
type RouteTrack struct {
	Name    string
	Version string
	Weight  int
	// Backends are base URLs, http://127.0.0.1:49153.
	Backends []string
	// HealthPath gates a backend: it takes traffic only once GET HealthPath answers 2xx or 3xx.
	HealthPath string
	// Healthy lists the backends that pass their health check now, as Routes reads them back; nil when the
	// router does not say (SetRoutes ignores it).
	Healthy []string
}

// weight returns the weight of track in r, 0 if r does not route it.
func (r Routes) weight(track string) int {
	for _, t := range r.Tracks {
		if t.Name == track {
			return t.Weight
		}
	}
	return 0
}
