package activities

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ferryhq/ferry/internal/docker"
)

// Observation is what serves an environment now, as the platform shows it: never what Ferry meant to do.
type Observation struct {
	// Known is false when the platform cannot tell (the exec platform without a current command).
	Known bool `json:"known"`
	// Tracks are the track's containers or instances, sorted by track; empty where the platform does not list them.
	Tracks []ObservedTrack `json:"tracks,omitempty"`
	// Route is the router's routing of the environment; nil when the platform has no router or the router
	// routes nothing for it.
	Route *Routes `json:"route,omitempty"`
	// Serving is the share of traffic each version (and digest, where known) gets, largest first. Traffic
	// that reaches no healthy backend, or a backend no container owns, is a share with an empty Version.
	Serving []Share `json:"serving,omitempty"`
}

// ObservedTrack is what runs on one track.
type ObservedTrack struct {
	Track      string              `json:"track"`
	Containers []ObservedContainer `json:"containers"`
}

// ObservedContainer is one container or instance of a track.
type ObservedContainer struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest,omitempty"`
	State   string `json:"state"`
	Addr    string `json:"addr,omitempty"`
}

// Share is a version's part of an environment's traffic, in percent.
type Share struct {
	Version string  `json:"version"`
	Digest  string  `json:"digest,omitempty"`
	Percent float64 `json:"percent"`
}

// String says what serves, as a person reads it: "2.0.0 (sha256:…) at 100 %".
func (s Share) String() string {
	v := cmp.Or(s.Version, "nothing (no healthy backend)")
	if s.Digest != "" {
		v += " (" + s.Digest + ")"
	}
	return fmt.Sprintf("%s at %s %%", v, strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", s.Percent), "0"), "."))
}

// Observer is a Driver that can observe an environment beyond its stable version. A driver that is not one is
// observed through Current.
type Observer interface {
	Observe(ctx context.Context, in PlatformRequest) (Observation, error)
}

// Observe reports what serves Vars.Env now: per track, what runs, with version and digest, the router's
// route, and each version's share of the traffic. Drivers that cannot list tracks report their Current
// version as serving all traffic, or Known false when they cannot tell. It only reads, so it is idempotent.
func (p *Platform) Observe(ctx context.Context, in PlatformRequest) (Observation, error) {
	d, err := p.Drivers.driver(in.kind())
	if err != nil {
		return Observation{}, redactError(p.Redact, err)
	}
	if o, ok := d.(Observer); ok {
		res, err := o.Observe(ctx, in)
		return res, redactError(p.Redact, err)
	}
	cur, err := d.Current(ctx, in)
	if err != nil || !cur.Known {
		return Observation{}, redactError(p.Redact, err)
	}
	obs := Observation{Known: true}
	if cur.Version != "" {
		obs.Serving = []Share{{Version: cur.Version, Percent: 100}}
	}
	return obs, nil
}

var _ Observer = (*Docker)(nil)

// Observe reads the containers' labels and the router's route: each weighted track's share goes to its
// healthy backends evenly, and each backend's part to the version and digest of the container that
// publishes it.
func (p *Docker) Observe(ctx context.Context, in PlatformRequest) (Observation, error) {
	t, err := p.target(ctx, in, false)
	if err != nil {
		return Observation{}, p.fail("observe", err)
	}
	r, err := p.router()
	if err != nil {
		return Observation{}, p.fail("observe", err)
	}
	all, err := t.eng.List(ctx, t.v.Service, t.v.Env)
	if err != nil {
		return Observation{}, p.fail("observe", err)
	}
	routes, found, err := r.Routes(ctx, t.v.Service, t.v.Env)
	if err != nil {
		return Observation{}, p.fail("observe", err)
	}
	obs := Observation{Known: true, Tracks: observedTracks(all)}
	if found {
		obs.Route = &routes
		obs.Serving = serving(routes, all)
	}
	return obs, nil
}

func observedTracks(all []docker.Container) []ObservedTrack {
	var tracks []ObservedTrack
	for _, c := range all {
		i := slices.IndexFunc(tracks, func(t ObservedTrack) bool { return t.Track == c.Track })
		if i < 0 {
			tracks = append(tracks, ObservedTrack{Track: c.Track})
			i = len(tracks) - 1
		}
		tracks[i].Containers = append(tracks[i].Containers,
			ObservedContainer{Name: c.Name, Version: c.Version, Digest: c.Digest, State: c.State, Addr: c.Addr})
	}
	slices.SortFunc(tracks, func(a, b ObservedTrack) int { return cmp.Compare(a.Track, b.Track) })
	return tracks
}

// serving splits the route's weights over the versions of the containers behind its healthy backends.
func serving(routes Routes, all []docker.Container) []Share {
	byURL := map[string]docker.Container{}
	for _, c := range all {
		if c.Addr != "" && c.State == "running" {
			byURL["http://"+c.Addr] = c
		}
	}
	type key struct{ version, digest string }
	share := map[key]float64{}
	for _, tr := range routes.Tracks {
		if tr.Weight <= 0 {
			continue
		}
		live := tr.Healthy
		if live == nil {
			live = tr.Backends // a router that does not report health: every backend counts
		}
		if len(live) == 0 {
			share[key{}] += float64(tr.Weight)
			continue
		}
		for _, b := range live {
			c := byURL[b] // a backend no running container publishes counts as nothing
			share[key{c.Version, c.Digest}] += float64(tr.Weight) / float64(len(live))
		}
	}
	out := make([]Share, 0, len(share))
	for _, k := range slices.SortedFunc(maps.Keys(share), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.version, b.version), cmp.Compare(a.digest, b.digest))
	}) {
		out = append(out, Share{Version: k.version, Digest: k.digest, Percent: share[k]})
	}
	slices.SortStableFunc(out, func(a, b Share) int { return cmp.Compare(b.Percent, a.Percent) })
	return out
}
