package activities

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// TrackLocator finds a track's replicas for the checks that name {{.TrackURL}}: one base URL
// ("http://host:port") per running replica of Vars.Version on Vars.Track. DriverTracks is the real one.
type TrackLocator interface {
	TrackURLs(ctx context.Context, in PlatformRequest) ([]string, error)
}

// trackURLs is what a driver implements when it can reach a track's replicas directly, past the router.
type trackURLs interface {
	TrackURLs(ctx context.Context, in PlatformRequest) ([]string, error)
}

// DriverTracks is the TrackLocator of a worker: it asks the driver of the request's kind. It is no activity
// of its own (Platform's methods are), so it is a type apart.
type DriverTracks struct {
	Drivers Drivers
	// Redact sees every error it returns. Nil redacts nothing.
	Redact Redactor
}

// TrackURLs asks the request's driver for the base URLs of the track's replicas. A driver that cannot reach
// a track's replicas (exec) refuses with a non-retryable ErrTypeInvalidSpec. It only reads.
func (d DriverTracks) TrackURLs(ctx context.Context, in PlatformRequest) ([]string, error) {
	drv, err := d.Drivers.driver(in.kind())
	if err != nil {
		return nil, redactError(d.Redact, err)
	}
	loc, ok := drv.(trackURLs)
	if !ok {
		return nil, invalidSpec(fmt.Sprintf("{{.TrackURL}}: the %s platform cannot reach a track's replicas", in.kind()), nil)
	}
	urls, err := loc.TrackURLs(ctx, in)
	return urls, redactError(d.Redact, err)
}

// TrackURLs returns "http://127.0.0.1:PORT" for each running container of Vars.Version on Vars.Track, in the
// engine's order, so that a check reaches each replica of the new version whatever the router's weights are.
// It only reads.
func (p *Docker) TrackURLs(ctx context.Context, in PlatformRequest) ([]string, error) {
	t, err := p.target(ctx, in, false)
	if err != nil {
		return nil, p.fail("locate track", err)
	}
	cts, err := p.running(ctx, t, t.v.Track, t.v.Version)
	if err != nil {
		return nil, p.fail("locate track", err)
	}
	urls := make([]string, len(cts))
	for i, c := range cts {
		urls[i] = "http://" + c.Addr
	}
	return urls, nil
}

// probeTrack runs an http check against every replica of the track, with {{.TrackURL}} set to each one's
// base URL in turn: it passes only when each replica passes, and a track that runs no replica of the version
// fails it. The detail names the first replica that failed.
func (c *Checks) probeTrack(ctx context.Context, in CheckRequest, field string, timeout time.Duration, body *regexp.Regexp) (CheckResult, error) {
	if c.Tracks == nil || in.Platform == nil {
		return CheckResult{}, invalidSpec(field+": {{.TrackURL}} needs a platform that can reach the track's replicas, and this check has none", nil)
	}
	req := *in.Platform
	req.Vars = in.Vars
	urls, err := c.Tracks.TrackURLs(ctx, req)
	if err != nil {
		return CheckResult{}, err
	}
	name := in.Check.Name
	if name == "" {
		name = "http GET " + in.Check.HTTP.URL + in.Check.HTTP.Path
	}
	if len(urls) == 0 {
		return CheckResult{Name: name, Detail: fmt.Sprintf("no replica of %s runs on the %s track", in.Vars.Version, in.Vars.Track)}, nil
	}
	var total time.Duration
	var last CheckResult
	for i, u := range urls {
		one := in
		one.Vars.TrackURL = u
		res, err := c.probeHTTP(ctx, one, field, timeout, body)
		if err != nil {
			return CheckResult{}, err
		}
		total += res.Duration
		res.Name, res.Duration = name, total
		if !res.Passed {
			res.Detail = fmt.Sprintf("replica %d of %d on the %s track: %s", i+1, len(urls), in.Vars.Track, res.Detail)
			return res, nil
		}
		last = res
	}
	last.Detail = fmt.Sprintf("%d replicas on the %s track: %s", len(urls), in.Vars.Track, last.Detail)
	return last, nil
}
