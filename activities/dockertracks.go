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

// routable reports whether the router can send c traffic: it runs and publishes its port.
func routable(c docker.Container) bool { return c.State == "running" && c.Addr != "" }

// unroutableError is a routing that cannot be served as asked: tracks have weight and no running container.
// Giving their share to the other tracks would turn a 10 % canary into 100 %, so the routing fails instead.
type unroutableError struct {
	service, env string
	weights      map[string]int
	tracks       []string
	// detail says, per track, what its containers are doing; set by explain.
	detail map[string]string
}

func (e *unroutableError) Error() string {
	parts := make([]string, len(e.tracks))
	for i, track := range e.tracks {
		parts[i] = fmt.Sprintf("%d %% cannot go to the %s track: %s", e.weights[track], track,
			cmp.Or(e.detail[track], "none of its containers runs"))
	}
	return fmt.Sprintf("route %s/%s: %s; the routing stays as it was", e.service, e.env, strings.Join(parts, "; "))
}

// explain says what the containers of each unroutable track do (all is every container of the environment).
// A track that has containers, none of them running, may come back (a restart): the error stays retryable.
// A track without any container will not: the error is a non-retryable ErrTypeInvalidSpec.
func (e *unroutableError) explain(all []docker.Container) error {
	e.detail = map[string]string{}
	empty := false
	for _, track := range e.tracks {
		states := map[string]int{}
		for _, c := range all {
			if c.Track == track {
				states[cmp.Or(c.State, "unknown")]++
			}
		}
		if len(states) == 0 {
			empty = true
			e.detail[track] = "it has no container"
			continue
		}
		var counts []string
		for _, st := range slices.Sorted(maps.Keys(states)) {
			counts = append(counts, fmt.Sprintf("%d %s", states[st], st))
		}
		e.detail[track] = "none of its containers runs (" + strings.Join(counts, ", ") + ")"
	}
	if empty {
		return invalidSpec(e.Error(), nil)
	}
	return e
}

// majority is the version, and the digest of it, that most of cts carry; empty when cts is.
func majority(cts []docker.Container) (version, digest string) {
	type key struct{ version, digest string }
	count := map[key]int{}
	var best key
	for _, c := range cts {
		k := key{c.Version, c.Digest}
		count[k]++
		if count[k] > count[best] {
			best = k
		}
	}
	return best.version, best.digest
}

// stableImage is the image a rollback restores, by digest: Vars.StableImage if it is pinned, else the digest
// the labels of a container of Vars.StableVersion record (any track, any state). A tag is never resolved: it
// may point elsewhere than when the version served. Without a digest it fails, non-retryable, with the remedy.
func (p *Docker) stableImage(ctx context.Context, in PlatformRequest) (string, error) {
	v := in.Vars
	if strings.Contains(v.StableImage, "@sha256:") {
		return v.StableImage, nil
	}
	repo := repository(cmp.Or(v.StableImage, v.Image))
	t, err := p.target(ctx, in, false)
	if err != nil {
		return "", err
	}
	all, err := t.eng.List(ctx, v.Service, v.Env)
	if err != nil {
		return "", err
	}
	same := slices.DeleteFunc(all, func(c docker.Container) bool { return c.Version != v.StableVersion || c.Digest == "" })
	if _, digest := majority(same); digest != "" && repo != "" {
		return repo + "@" + digest, nil
	}
	recorded := "no image is recorded for it"
	if v.StableImage != "" {
		recorded = fmt.Sprintf("its recorded image %s is a tag, not a digest", v.StableImage)
	}
	return "", invalidSpec(fmt.Sprintf("rollback to %[1]s: %[2]s, and no container of %[1]s is left to read "+
		"its digest from; a tag may have moved since %[1]s served, so Ferry does not resolve one. Record the "+
		"digest with `ferry adopt %[3]s --env %[4]s --version %[1]s --image %[5]s@sha256:...`",
		v.StableVersion, recorded, v.Service, v.Env, cmp.Or(repo, "REPOSITORY")), nil)
}
