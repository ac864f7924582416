package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// StartBeside converges the containers of r's version on r's track to r.Count running containers of r.Image
// with r.Vars, like Ensure, but leaves every container of another version on the track alone: a
// new set starts beside the one that serves, so that moving traffic between them is a routing change and
// the old set keeps running until Prune removes it. It returns the running containers of the set, sorted by
// ID. It is idempotent; calls for the same track must not run concurrently.
func (c *Client) StartBeside(ctx context.Context, r Replicas) ([]Container, error) {
	digest, err := imageDigest(r.Image)
	if err != nil {
		return nil, err
	}
	if r.Service == "" || r.Env == "" || r.Track == "" || r.Version == "" || r.Count < 0 || r.Port <= 0 {
		return nil, errors.New("docker: start beside: service, env, track, version, count >= 0 and port > 0 are required")
	}
	config := configHash(r)
	existing, err := c.list(ctx, map[string]string{LabelService: r.Service, LabelEnv: r.Env, LabelTrack: r.Track})
	if err != nil {
		return nil, fmt.Errorf("docker: start beside: %w", err)
	}
	var keep []Container
	for _, ct := range existing {
		if ct.Version != r.Version {
			continue // another version's set: not this call's to touch, even on the same digest
		}
		if len(keep) < r.Count && ct.State == "running" && ct.Digest == digest && ct.Version == r.Version && ct.config == config {
			keep = append(keep, ct.Container)
			continue
		}
		if err := c.remove(ctx, ct.ID, r.StopTimeout); err != nil {
			return nil, fmt.Errorf("docker: start beside: %w", err)
		}
	}
	for range r.Count - len(keep) {
		ct, err := c.run(ctx, r, digest, config)
		if err != nil {
			return nil, fmt.Errorf("docker: start beside: %w", err)
		}
		keep = append(keep, ct)
	}
	slices.SortFunc(keep, func(a, b Container) int { return cmp.Compare(a.ID, b.ID) })
	return keep, nil
}

// Prune removes the containers of service in env on track for which keep returns false, and returns how many
// it removed. Pruning again removes nothing more.
func (c *Client) Prune(ctx context.Context, service, env, track string, keep func(Container) bool, stopTimeout time.Duration) (int, error) {
	if service == "" || env == "" || track == "" {
		return 0, errors.New("docker: prune: service, env and track are required")
	}
	cts, err := c.list(ctx, map[string]string{LabelService: service, LabelEnv: env, LabelTrack: track})
	if err != nil {
		return 0, fmt.Errorf("docker: prune: %w", err)
	}
	n := 0
	for _, ct := range cts {
		if keep(ct.Container) {
			continue
		}
		if err := c.remove(ctx, ct.ID, stopTimeout); err != nil {
			return n, fmt.Errorf("docker: prune: %w", err)
		}
		n++
	}
	return n, nil
}
