package router

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Routing is the whole routing of one service in one environment: the hosts that select it and how its
// traffic splits between tracks. The admin API replaces it as a whole (PUT), so no request ever sees part
// of one routing and part of another.
type Routing struct {
	// Service and Env name the route and label its metrics.
	Service string `json:"service"`
	Env     string `json:"env"`
	// Hosts select the route: a request whose Host header (without its port, case-insensitive) is one of
	// them goes to this route. A host belongs to at most one route.
	Hosts []string `json:"hosts"`
	// Sticky, if set, keeps one user on one track: the track is chosen by a hash of the header or cookie
	// rather than at random. Requests without it are spread at random.
	Sticky *Sticky `json:"sticky,omitempty"`
	// Tracks split the traffic. Their weights sum to 100.
	Tracks []Track `json:"tracks"`
}

// Sticky names the request header or the cookie whose value keeps a user on one track. Exactly one is set.
type Sticky struct {
	Header string `json:"header,omitempty"`
	Cookie string `json:"cookie,omitempty"`
}

// Track is one version of a service taking a share of its traffic: stable or canary, blue or green.
type Track struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Weight is the track's percentage of the traffic, 0 to 100.
	Weight int `json:"weight"`
	// Backends serve the track in turn. Each track has at least one.
	Backends []Backend `json:"backends"`
}

// Backend is one target of a track.
type Backend struct {
	// URL is the absolute http(s) URL that requests are forwarded to; a path in it prefixes the request's.
	URL string `json:"url"`
	// HealthPath, if set, is checked with GET on the backend's host: a new backend takes traffic only once it
	// answers 2xx or 3xx, and a backend that stops answering so is taken out until it does again.
	HealthPath string `json:"healthPath,omitempty"`
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	hostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
)

// Validate returns every problem of r, joined, or nil. A routing that fails it is refused whole.
func (r Routing) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !nameRE.MatchString(r.Service) {
		bad("service %q: want letters, digits, '.', '_' or '-' (at most 63)", r.Service)
	}
	if !nameRE.MatchString(r.Env) {
		bad("env %q: want letters, digits, '.', '_' or '-' (at most 63)", r.Env)
	}
	if len(r.Hosts) == 0 {
		bad("hosts: want at least one")
	}
	seenHost := map[string]bool{}
	for i, h := range r.Hosts {
		switch {
		case !hostRE.MatchString(h):
			bad("hosts[%d] %q: want a lower-case host name without a port", i, h)
		case seenHost[h]:
			bad("hosts[%d] %q: listed twice", i, h)
		}
		seenHost[h] = true
	}
	if s := r.Sticky; s != nil && (s.Header == "") == (s.Cookie == "") {
		bad("sticky: set exactly one of header and cookie")
	}
	if len(r.Tracks) == 0 {
		bad("tracks: want at least one")
	}
	sum := 0
	seenTrack := map[string]bool{}
	for i, t := range r.Tracks {
		field := fmt.Sprintf("tracks[%d]", i)
		switch {
		case !nameRE.MatchString(t.Name):
			bad("%s.name %q: want letters, digits, '.', '_' or '-' (at most 63)", field, t.Name)
		case seenTrack[t.Name]:
			bad("%s.name %q: listed twice", field, t.Name)
		}
		seenTrack[t.Name] = true
		if t.Version == "" {
			bad("%s.version: want a version", field)
		}
		if t.Weight < 0 || t.Weight > 100 {
			bad("%s.weight %d: want 0 to 100", field, t.Weight)
		}
		sum += t.Weight
		if len(t.Backends) == 0 {
			bad("%s.backends: want at least one", field)
		}
		for j, b := range t.Backends {
			if err := b.validate(); err != nil {
				bad("%s.backends[%d]: %v", field, j, err)
			}
		}
	}
	if len(r.Tracks) > 0 && sum != 100 {
		bad("tracks: weights sum to %d, want 100", sum)
	}
	return errors.Join(errs...)
}

func (b Backend) validate() error {
	u, err := url.Parse(b.URL)
	if err != nil {
		return fmt.Errorf("url %q: %w", b.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("url %q: want an absolute http(s) URL without credentials, query or fragment", b.URL)
	}
	if b.HealthPath != "" && !strings.HasPrefix(b.HealthPath, "/") {
		return fmt.Errorf("healthPath %q: want a path starting with /", b.HealthPath)
	}
	return nil
}

// clone returns a deep copy, so that the router's state shares nothing with its callers.
func (r Routing) clone() Routing {
	c := r
	c.Hosts = append([]string(nil), r.Hosts...)
	if r.Sticky != nil {
		s := *r.Sticky
		c.Sticky = &s
	}
	c.Tracks = make([]Track, len(r.Tracks))
	for i, t := range r.Tracks {
		t.Backends = append([]Backend(nil), t.Backends...)
		c.Tracks[i] = t
	}
	return c
}
