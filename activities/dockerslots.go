package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/docker"
)

// The stable track can hold two sets at once, told apart by their version labels: the one that serves and,
// while a promotion is under way or a blue-green scale-down delay runs, the other one. Moving traffic between
// them is one routing change; a set is removed only once no route points at it.

// restoreStable routes all traffic to the containers of Vars.StableVersion on the stable track (of digest,
// unless it is empty) and then removes the stable track's containers of other versions, which no longer take
// traffic. When fewer than atLeast of them run, it changes nothing and fails with a non-retryable
// ErrTypeStableMismatch that says what runs there instead. It is idempotent.
func (p *Docker) restoreStable(ctx context.Context, t *target, digest string, atLeast int) error {
	want := t.v.StableVersion
	if want == "" {
		return invalidSpec("routing back to stable needs the stable version, and the request has none", nil)
	}
	all, err := p.running(ctx, t, trackStable, "")
	if err != nil {
		return err
	}
	isStable := func(c docker.Container) bool { return c.Version == want && (digest == "" || c.Digest == digest) }
	set := slices.DeleteFunc(slices.Clone(all), func(c docker.Container) bool { return !isStable(c) })
	if len(set) < max(atLeast, 1) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the stable track of %s/%s runs %s, not %d of %s",
			t.v.Service, t.v.Env, describeSets(all), max(atLeast, 1), versionDigest(want, digest)), ErrTypeStableMismatch, nil)
	}
	if err := p.route(ctx, t, map[string]int{trackStable: 100}, map[string][]docker.Container{trackStable: set}); err != nil {
		return err
	}
	_, err = t.eng.Prune(ctx, t.v.Service, t.v.Env, trackStable, isStable, t.rep.StopTimeout)
	return err
}

// removePrevious removes the set a blue-green promotion kept: the stable track's containers of Vars.Version
// that no route points at, and the containers of the previous track (where releases before the stable track
// held two sets kept them).
func (p *Docker) removePrevious(ctx context.Context, t *target, routes Routes) error {
	if t.v.Version != "" {
		routed := map[string]bool{}
		for _, tr := range routes.Tracks {
			for _, b := range tr.Backends {
				routed[b] = true
			}
		}
		keep := func(c docker.Container) bool { return c.Version != t.v.Version || routed["http://"+c.Addr] }
		if _, err := t.eng.Prune(ctx, t.v.Service, t.v.Env, trackStable, keep, t.rep.StopTimeout); err != nil {
			return err
		}
	}
	_, err := t.eng.Remove(ctx, t.v.Service, t.v.Env, trackPrevious, t.rep.StopTimeout)
	return err
}

// describeSets names the versions that run: "2.0.0 (sha256:…) ×2, 1.0.0 (sha256:…) ×1", or "nothing".
func describeSets(cts []docker.Container) string {
	var parts []string
	count := map[string]int{}
	for _, c := range cts {
		k := versionDigest(c.Version, c.Digest)
		if count[k] == 0 {
			parts = append(parts, k)
		}
		count[k]++
	}
	if len(parts) == 0 {
		return "nothing"
	}
	for i, k := range parts {
		parts[i] = fmt.Sprintf("%s ×%d", k, count[k])
	}
	return strings.Join(parts, ", ")
}

func versionDigest(version, digest string) string {
	if digest == "" {
		return version
	}
	return version + " (" + digest + ")"
}

// digestOf is the digest of a reference by digest, "" for one by tag.
func digestOf(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok {
		return d
	}
	return ""
}
