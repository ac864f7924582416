package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

// RollOptions bound a rolling replacement (see Roll).
type RollOptions struct {
	// MaxSurge is how many containers beyond r.Count may run during the roll.
	MaxSurge int
	// MaxUnavailable is how many of r.Count may be missing (not yet ready, or stopped) during the roll. When
	// both are zero, one at a time is replaced, as with MaxUnavailable 1.
	MaxUnavailable int
	// Ready says when a new container may take traffic.
	Ready ReadyCheck
	// Serve is called with the containers that should take traffic after each step: before old containers are
	// stopped (so that they are drained first) and once new ones are ready. It must be idempotent.
	Serve func(ctx context.Context, serving []Container) error
}

// Roll converges the track of r to r.Count running containers of r.Image, like Ensure, but a few at a time:
// it starts up to MaxSurge new containers, waits for them to be ready, serves them, takes up to MaxUnavailable
// old ones out of service and stops them, and repeats. It reconciles from the containers' labels at every
// step, so calling it again after a crash continues where it stopped and never runs more than r.Count plus
// MaxSurge containers. It returns the running containers of the new image.
func (c *Client) Roll(ctx context.Context, r Replicas, o RollOptions) ([]Container, error) {
	digest, err := imageDigest(r.Image)
	if err != nil {
		return nil, err
	}
	if r.Service == "" || r.Env == "" || r.Track == "" || r.Count < 0 || r.Port <= 0 {
		return nil, errors.New("docker: roll: service, env, track, count >= 0 and port > 0 are required")
	}
	if o.Serve == nil {
		o.Serve = func(context.Context, []Container) error { return nil }
	}
	maxSurge, maxUnavailable := max(o.MaxSurge, 0), max(o.MaxUnavailable, 0)
	if maxSurge == 0 && maxUnavailable == 0 {
		maxUnavailable = 1
	}
	config := configHash(r)
	labels := map[string]string{LabelService: r.Service, LabelEnv: r.Env, LabelTrack: r.Track}
	// Each round starts or stops at least one container, so a few rounds per replica always suffice; the
	// bound only stops a track that someone else keeps changing.
	for range 4*r.Count + maxSurge + 8 {
		existing, err := c.list(ctx, labels)
		if err != nil {
			return nil, fmt.Errorf("docker: roll: %w", err)
		}
		var fresh, old []Container
		for _, ct := range existing {
			switch {
			case ct.State != "running":
				if err := c.remove(ctx, ct.ID, r.StopTimeout); err != nil {
					return nil, fmt.Errorf("docker: roll: %w", err)
				}
			case ct.Digest == digest && ct.Version == r.Version && ct.config == config && len(fresh) < r.Count:
				fresh = append(fresh, ct.Container)
			default:
				old = append(old, ct.Container)
			}
		}
		if len(old) == 0 && len(fresh) == r.Count {
			if err := c.WaitReady(ctx, fresh, o.Ready); err != nil {
				return nil, fmt.Errorf("docker: roll: %w", err)
			}
			if err := o.Serve(ctx, fresh); err != nil {
				return nil, err
			}
			slices.SortFunc(fresh, func(a, b Container) int { return cmp.Compare(a.ID, b.ID) })
			return fresh, nil
		}
		// Start what the surge allows, and wait until it is ready before anything old stops.
		start := min(r.Count-len(fresh), r.Count+maxSurge-len(fresh)-len(old))
		var started []Container
		for range max(start, 0) {
			ct, err := c.run(ctx, r, digest, config)
			if err != nil {
				return nil, fmt.Errorf("docker: roll: %w", err)
			}
			started = append(started, ct)
		}
		if err := c.WaitReady(ctx, append(slices.Clone(fresh), started...), o.Ready); err != nil {
			return nil, fmt.Errorf("docker: roll: %w", err)
		}
		fresh = append(fresh, started...)
		// Stop as many old ones as keeps Count-MaxUnavailable serving; one at least when nothing could start.
		stop := min(len(old), len(fresh)+len(old)-(r.Count-maxUnavailable))
		if stop <= 0 && len(started) == 0 {
			stop = min(1, len(old))
		}
		stop = max(stop, 0)
		if err := o.Serve(ctx, append(slices.Clone(fresh), old[stop:]...)); err != nil {
			return nil, err
		}
		for _, ct := range old[:stop] {
			if err := c.remove(ctx, ct.ID, r.StopTimeout); err != nil {
				return nil, fmt.Errorf("docker: roll: %w", err)
			}
		}
	}
	return nil, fmt.Errorf("docker: roll: %s/%s %s did not converge", r.Service, r.Env, r.Track)
}
