package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/spec"
)

var _ Driver = (*Docker)(nil)

// DockerEngine is what the Docker driver needs of one engine; *docker.Client implements it.
type DockerEngine interface {
	Ensure(ctx context.Context, r docker.Replicas) ([]docker.Container, error)
	Roll(ctx context.Context, r docker.Replicas, o docker.RollOptions) ([]docker.Container, error)
	StartBeside(ctx context.Context, r docker.Replicas) ([]docker.Container, error)
	Prune(ctx context.Context, service, env, track string, keep func(docker.Container) bool, stopTimeout time.Duration) (int, error)
	List(ctx context.Context, service, env string) ([]docker.Container, error)
	Remove(ctx context.Context, service, env, track string, stopTimeout time.Duration) (int, error)
	WaitReady(ctx context.Context, cts []docker.Container, check docker.ReadyCheck) error
	// EngineID is the engine's ID (`docker info`), asked afresh each time.
	EngineID(ctx context.Context) (string, error)
}

// Docker is the driver of the Docker platform (kind "docker"): it runs a track's replicas as containers
// labelled ferry.service, ferry.env, ferry.track, ferry.version and ferry.digest on the engine that
// platform.docker.host names, with the environment's config and (for the operations that start containers:
// deploy, promote, rollback) its resolved secrets as environment variables under their own names, plus
// FERRY_SERVICE, FERRY_ENV and FERRY_VERSION, and routes traffic to them through Router.
//
// Tracks: a new version runs on the canary or preview track beside stable; Promote starts it on stable, sends
// stable all traffic and removes the track. Blue-green keeps the replaced version on the previous track (the
// engine cannot relabel a container, so it starts the same digest there before stable changes) until the
// workflow removes it after the scale-down delay. Recreate holds the router's requests while stable is
// replaced; rolling replaces stable MaxSurge/MaxUnavailable at a time, routing each step.
//
// Idempotence: the labels are the only state. Every operation lists the containers, converges them to what the
// request declares and routes the result, so running it again (a retry after a crash) changes nothing that is
// already right and never starts a duplicate.
//
// Engines: a request bound to an engine (PlatformRequest.Engine) runs only where the host name reaches that
// engine; every operation checks the engine's ID before it acts, and refuses another engine with a
// non-retryable ErrTypeEngineMismatch.
//
// Failures: an unknown or unusable host name, a missing router or a refused routing is a non-retryable
// ErrTypeInvalidSpec; readiness that does not come in time is a non-retryable ErrTypeReadinessTimeout; other
// errors (the engine, the registry, the router unreachable) are retryable.
type Docker struct {
	// Engines are the Docker engines a spec may name, by name.
	Engines map[string]DockerEngine
	// Unusable are the host names the worker has but cannot use, with the reason (a plain tcp:// address that
	// is not on loopback, say): a request naming one is refused with it.
	Unusable map[string]string
	// Poll, when set, makes the worker poll the task queue of the engine with the given ID (EngineQueue); Engine
	// calls it before it names an engine. Nil: the caller polls engine queues itself, or none.
	Poll func(engineID string) error
	// Router routes the traffic; nil refuses every operation that routes.
	Router TrafficRouter
	// Resolve pins an image reference to its digest, "<repo>@sha256:..." (registry.Pinned).
	Resolve func(ctx context.Context, ref string) (string, error)
	// Redact sees every string the driver returns. Nil redacts nothing.
	Redact Redactor
}

// holdFor bounds how long the router holds requests while a recreate swaps containers.
const holdFor = 30 * time.Second

// target is one request, resolved: its engine, its section and the replicas it declares.
type target struct {
	eng DockerEngine
	// host is the request's host name, as the worker knows it.
	host string
	d    *spec.DockerPlatform
	rep  docker.Replicas
	v    TemplateVars
	// secrets are the request's resolved secrets (none for operations that start nothing).
	secrets map[string]string
}

func (p *Docker) target(ctx context.Context, in PlatformRequest, resolve bool) (*target, error) {
	d := in.Docker
	if d == nil {
		return nil, invalidSpec("the request has no platform.docker section", nil)
	}
	host := cmp.Or(d.Host, spec.DefaultDockerHost)
	eng, err := p.engine(host)
	if err != nil {
		return nil, err
	}
	if err := p.checkEngine(ctx, eng, host, in); err != nil {
		return nil, err
	}
	v := in.Vars
	t := &target{eng: eng, host: host, d: d, v: v, rep: docker.Replicas{
		Service: v.Service, Env: v.Env, Track: v.Track, Version: v.Version, Count: v.Replicas,
		Port: d.Port, StopTimeout: d.StopTimeout.D(), Vars: containerEnv(v, in.SecretEnv),
	}, secrets: in.SecretEnv}
	if l := d.Liveness; l != nil {
		t.rep.Liveness = &docker.Liveness{Path: l.Path, Interval: l.Interval.D(), Timeout: l.Timeout.D(), Retries: l.Retries}
	}
	if resolve {
		img, err := p.pin(ctx, v.Image)
		if err != nil {
			return nil, err
		}
		t.rep.Image = img
	}
	return t, nil
}

// engine returns the engine of host name, or why there is none.
func (p *Docker) engine(host string) (DockerEngine, error) {
	if why, ok := p.Unusable[host]; ok {
		return nil, invalidSpec(fmt.Sprintf("platform.docker.host: %q cannot be used on this worker: %s", host, why), nil)
	}
	eng, ok := p.Engines[host]
	if !ok || eng == nil {
		known := slices.Sorted(maps.Keys(p.Engines))
		return nil, invalidSpec(fmt.Sprintf("platform.docker.host: %q is not a Docker host of this worker (it knows: %s)",
			host, cmp.Or(strings.Join(known, ", "), "none")), nil)
	}
	return eng, nil
}

// containerEnv is a replica's environment: the config and the resolved secrets under their own names, and
// Ferry's coordinates.
func containerEnv(v TemplateVars, secrets map[string]string) map[string]string {
	env := maps.Clone(v.Config)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, secrets)
	env["FERRY_SERVICE"], env["FERRY_ENV"], env["FERRY_VERSION"] = v.Service, v.Env, v.Version
	return env
}

// pin returns ref by digest, asking the registry when ref is a tag.
func (p *Docker) pin(ctx context.Context, ref string) (string, error) {
	if ref == "" {
		return "", invalidSpec("the request names no image", nil)
	}
	if strings.Contains(ref, "@sha256:") {
		return ref, nil
	}
	if p.Resolve == nil {
		return "", invalidSpec(fmt.Sprintf("image %s is not pinned to a digest and this worker cannot resolve tags", ref), nil)
	}
	pinned, err := p.Resolve(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	return pinned, nil
}

func (p *Docker) router() (TrafficRouter, error) {
	if p.Router == nil {
		return nil, invalidSpec("the Docker platform needs a traffic router, and this worker has none "+
			"(set router.admin in its configuration, or --router-admin)", nil)
	}
	return p.Router, nil
}

func (t *target) check() docker.ReadyCheck {
	r := t.d.Readiness
	return docker.ReadyCheck{Path: cmp.Or(r.Path, "/"), Interval: r.Interval.D(), Timeout: r.Timeout.D(), Threshold: r.Threshold}
}

// keepAlive records a heartbeat every commandHeartbeat until the returned stop is called, so that a long engine
// or database call does not look like a lost worker.
func keepAlive(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(commandHeartbeat)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}

// fail turns an error into the driver's failure: readiness timeouts are final, the rest keeps its type.
func (p *Docker) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var notReady *docker.NotReadyError
	if errors.As(err, &notReady) {
		err = temporal.NewNonRetryableApplicationError("platform.docker "+op+": "+err.Error(), ErrTypeReadinessTimeout, nil)
	} else if !temporal.IsApplicationError(err) {
		err = fmt.Errorf("platform.docker %s: %w", op, err)
	}
	return redactError(p.Redact, err)
}

// Deploy starts the version on Vars.Track. On stable it replaces the running version in place: recreate holds
// the router's requests while it swaps all containers, anything else rolls by MaxSurge and MaxUnavailable; both
// then route all traffic to stable. On another track it only starts the containers; SetWeight routes them.
func (p *Docker) Deploy(ctx context.Context, in PlatformRequest) error {
	defer keepAlive(ctx)()
	t, err := p.target(ctx, in, true)
	if err != nil {
		return p.fail("deploy", err)
	}
	if t.v.Track != trackStable {
		_, err = t.eng.Ensure(ctx, t.rep)
		return p.fail("deploy", err)
	}
	return p.fail("deploy", p.replaceStable(ctx, t))
}

// replaceStable converges the stable track to t.rep and routes all traffic to it.
func (p *Docker) replaceStable(ctx context.Context, t *target) error {
	r, err := p.router()
	if err != nil {
		return err
	}
	if t.v.Strategy == spec.StrategyRecreate {
		if err := r.Hold(ctx, t.v.Service, t.v.Env, holdFor); err != nil {
			return err
		}
		defer func() { _ = r.Release(context.WithoutCancel(ctx), t.v.Service, t.v.Env) }()
		cts, err := t.eng.Ensure(ctx, t.rep)
		if err != nil {
			return err
		}
		if err := t.eng.WaitReady(ctx, cts, t.check()); err != nil {
			return err
		}
		return p.route(ctx, t, map[string]int{trackStable: 100}, map[string][]docker.Container{trackStable: cts})
	}
	_, err = t.eng.Roll(ctx, t.rep, docker.RollOptions{
		MaxSurge: t.v.MaxSurge, MaxUnavailable: t.v.MaxUnavailable, Ready: t.check(),
		Serve: func(ctx context.Context, serving []docker.Container) error {
			if len(serving) == 0 {
				return nil
			}
			return p.route(ctx, t, map[string]int{trackStable: 100}, map[string][]docker.Container{trackStable: serving})
		},
	})
	return err
}

// Ready waits until Vars.Replicas containers of the version run on Vars.Track and pass the readiness probe
// (platform.docker.readiness), or fails with ErrTypeReadinessTimeout. It only reads.
func (p *Docker) Ready(ctx context.Context, in PlatformRequest) error {
	defer keepAlive(ctx)()
	t, err := p.target(ctx, in, false)
	if err != nil {
		return p.fail("ready", err)
	}
	cts, err := p.running(ctx, t, t.v.Track, t.v.Version)
	if err != nil {
		return p.fail("ready", err)
	}
	if len(cts) < t.v.Replicas {
		return p.fail("ready", fmt.Errorf("%d of %d containers of %s run on the %s track", len(cts), t.v.Replicas, t.v.Version, t.v.Track))
	}
	return p.fail("ready", t.eng.WaitReady(ctx, cts, t.check()))
}

// SetWeight routes Vars.Weight percent to Vars.Track and the rest to stable, atomically; weight 0 routes only
// stable. The weights are served as asked or the call fails and the routing stays as it was: a share that
// must go to a track whose containers do not run (restarting, say) is a retryable error, one that must go to a
// track without containers a non-retryable one. Neither share is ever given to the other track. With
// ExpectStable, weight 0 routes only the stable version's containers on stable, removes the other versions'
// ones there, and fails with ErrTypeStableMismatch when the stable version does not run (see restoreStable).
func (p *Docker) SetWeight(ctx context.Context, in PlatformRequest) error {
	defer keepAlive(ctx)()
	t, err := p.target(ctx, in, false)
	if err != nil {
		return p.fail("set-weight", err)
	}
	w := min(max(t.v.Weight, 0), 100)
	if in.ExpectStable && w == 0 {
		return p.fail("set-weight", p.restoreStable(ctx, t, digestOf(t.v.StableImage), 1))
	}
	return p.fail("set-weight", p.routeByLabels(ctx, t, map[string]int{trackStable: 100 - w, t.v.Track: w}))
}

// Promote makes the track's version stable without touching what serves until the new set is ready: it
// sends all traffic to the track, starts the version on stable beside the stable set (StartBeside), waits
// until it is ready, routes stable to it alone and removes the track's containers. The replaced set is then
// removed, except under blue-green, which keeps it (with its own image, config and secrets) until the
// scale-down removes it (Remove of the previous track), so that Rollback switches back to it at once. Until
// the routing to the new stable set, the replaced set runs and a rollback routes back to it. Each step
// converges, so a retry resumes where a crash stopped it.
func (p *Docker) Promote(ctx context.Context, in PlatformRequest) error {
	defer keepAlive(ctx)()
	t, err := p.target(ctx, in, true)
	if err != nil {
		return p.fail("promote", err)
	}
	if t.v.Track == trackStable {
		return p.fail("promote", p.routeByLabels(ctx, t, map[string]int{trackStable: 100}))
	}
	return p.fail("promote", p.promote(ctx, t))
}

func (p *Docker) promote(ctx context.Context, t *target) error {
	stable, err := p.running(ctx, t, trackStable, "")
	if err != nil {
		return err
	}
	if slices.ContainsFunc(stable, func(c docker.Container) bool { return c.Version != t.v.Version }) {
		if err := p.routeByLabels(ctx, t, map[string]int{t.v.Track: 100}); err != nil {
			return err
		}
	}
	rep := t.rep
	rep.Track = trackStable
	cts, err := t.eng.StartBeside(ctx, rep)
	if err != nil {
		return err
	}
	if err := t.eng.WaitReady(ctx, cts, t.check()); err != nil {
		return err
	}
	if err := p.route(ctx, t, map[string]int{trackStable: 100}, map[string][]docker.Container{trackStable: cts}); err != nil {
		return err
	}
	if t.v.Strategy != spec.StrategyBlueGreen {
		isNew := func(c docker.Container) bool { return c.Version == t.v.Version }
		if _, err := t.eng.Prune(ctx, t.v.Service, t.v.Env, trackStable, isNew, t.rep.StopTimeout); err != nil {
			return err
		}
	}
	_, err = t.eng.Remove(ctx, t.v.Service, t.v.Env, t.v.Track, t.rep.StopTimeout)
	return err
}

// Rollback restores Vars.StableVersion on the stable track with all traffic on stable. When the stable set
// still runs beside another (a promotion that did not finish, or a blue-green scale-down delay), it routes all
// traffic back to it in one routing change and removes the rest of the stable track and the previous track.
// Otherwise it redeploys the stable version in place, as Deploy does, by digest: Vars.StableImage when it is
// pinned to one, else the digest that the labels of a container of that version record. It never resolves a
// tag: a tag may have moved since the version served, so a rollback without a recorded digest fails
// (non-retryable) and says how to record one.
func (p *Docker) Rollback(ctx context.Context, in PlatformRequest) error {
	defer keepAlive(ctx)()
	if in.Vars.StableVersion == "" {
		return p.fail("rollback", invalidSpec("rollback needs the stable version, and the request has none", nil))
	}
	image, err := p.stableImage(ctx, in)
	if err != nil {
		return p.fail("rollback", err)
	}
	back := in
	back.Vars.Track, back.Vars.Version, back.Vars.Image = trackStable, in.Vars.StableVersion, image
	t, err := p.target(ctx, back, true)
	if err != nil {
		return p.fail("rollback", err)
	}
	err = p.restoreStable(ctx, t, digestOf(t.rep.Image), t.v.Replicas)
	if err == nil {
		_, err = t.eng.Remove(ctx, t.v.Service, t.v.Env, trackPrevious, t.rep.StopTimeout)
		return p.fail("rollback", err)
	}
	if !isStableMismatch(err) {
		return p.fail("rollback", err)
	}
	return p.fail("rollback", p.replaceStable(ctx, t))
}

func isStableMismatch(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == ErrTypeStableMismatch
}

// Remove takes Vars.Track out of the routing (all traffic to stable; the router drains it) and removes its
// containers. Removing stable removes the service's route. Removing the previous track removes the set of
// Vars.Version a blue-green promotion kept (see removePrevious). Removing what is gone succeeds.
func (p *Docker) Remove(ctx context.Context, in PlatformRequest) error {
	defer keepAlive(ctx)()
	t, err := p.target(ctx, in, false)
	if err != nil {
		return p.fail("remove", err)
	}
	r, err := p.router()
	if err != nil {
		return p.fail("remove", err)
	}
	routes, found, err := r.Routes(ctx, t.v.Service, t.v.Env)
	if err != nil {
		return p.fail("remove", err)
	}
	if t.v.Track == trackPrevious {
		return p.fail("remove", p.removePrevious(ctx, t, routes))
	}
	switch {
	case !found:
	case t.v.Track == trackStable:
		err = r.RemoveRoutes(ctx, t.v.Service, t.v.Env)
	case slices.ContainsFunc(routes.Tracks, func(rt RouteTrack) bool { return rt.Name == t.v.Track }):
		err = p.routeByLabels(ctx, t, map[string]int{trackStable: 100})
	}
	if err != nil {
		return p.fail("remove", err)
	}
	_, err = t.eng.Remove(ctx, t.v.Service, t.v.Env, t.v.Track, t.rep.StopTimeout)
	return p.fail("remove", err)
}

// Current reports what the stable track holds, from the labels of every container there, whatever its state:
// a restarting, paused or stopped container still holds its version, so only a track without containers is
// Known with no version. Version and Image (repository@digest, never a tag) are those most containers carry
// (two versions run there while a roll is under way). It only reads.
func (p *Docker) Current(ctx context.Context, in PlatformRequest) (CurrentResult, error) {
	t, err := p.target(ctx, in, false)
	if err != nil {
		return CurrentResult{}, p.fail("current", err)
	}
	all, err := t.eng.List(ctx, t.v.Service, t.v.Env)
	if err != nil {
		return CurrentResult{}, p.fail("current", err)
	}
	stable := slices.DeleteFunc(all, func(c docker.Container) bool { return c.Track != trackStable })
	version, digest := majority(stable)
	res := CurrentResult{Known: true, Version: redact(p.Redact, version)}
	if repo := repository(in.Vars.Image); digest != "" && repo != "" {
		res.Image = redact(p.Redact, repo+"@"+digest)
	}
	return res, nil
}

// running lists the running containers of track (of version, unless it is empty): those the router can send
// traffic to.
func (p *Docker) running(ctx context.Context, t *target, track, version string) ([]docker.Container, error) {
	all, err := t.eng.List(ctx, t.v.Service, t.v.Env)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(c docker.Container) bool {
		return !routable(c) || c.Track != track || (version != "" && c.Version != version)
	}), nil
}

// routeByLabels routes weights over the tracks' running containers. A track with weight that runs nothing
// fails the routing (see unroutableError): its share is never given to the others.
func (p *Docker) routeByLabels(ctx context.Context, t *target, weights map[string]int) error {
	all, err := t.eng.List(ctx, t.v.Service, t.v.Env)
	if err != nil {
		return err
	}
	cts := map[string][]docker.Container{}
	for _, c := range all {
		if _, ok := weights[c.Track]; ok && routable(c) {
			cts[c.Track] = append(cts[c.Track], c)
		}
	}
	err = p.route(ctx, t, weights, cts)
	var unroutable *unroutableError
	if errors.As(err, &unroutable) {
		return unroutable.explain(all)
	}
	return err
}

// route sets the routing of the service: each track with weight, with its containers as backends. The
// weights are served as asked or not at all: they must sum to 100, and a track with weight but no container
// is an unroutableError.
func (p *Docker) route(ctx context.Context, t *target, weights map[string]int, cts map[string][]docker.Container) error {
	r, err := p.router()
	if err != nil {
		return err
	}
	routes := Routes{Service: t.v.Service, Env: t.v.Env, Hosts: t.d.RouterHosts(t.v.Service, t.v.Env)}
	if s := t.d.Sticky; s != nil {
		routes.StickyHeader, routes.StickyCookie = s.Header, s.Cookie
	}
	sum := 0
	unroutable := &unroutableError{service: t.v.Service, env: t.v.Env, weights: weights}
	for _, track := range slices.Sorted(maps.Keys(weights)) {
		w, running := weights[track], cts[track]
		if w <= 0 {
			continue
		}
		sum += w
		if len(running) == 0 {
			unroutable.tracks = append(unroutable.tracks, track)
			continue
		}
		rt := RouteTrack{Name: track, Version: majorityVersion(running), Weight: w, HealthPath: cmp.Or(t.d.Readiness.Path, "/")}
		for _, c := range running {
			rt.Backends = append(rt.Backends, "http://"+c.Addr)
		}
		routes.Tracks = append(routes.Tracks, rt)
	}
	if len(unroutable.tracks) > 0 {
		return unroutable
	}
	if sum != 100 {
		return fmt.Errorf("weights %v of %s/%s sum to %d, not 100", weights, t.v.Service, t.v.Env, sum)
	}
	return r.SetRoutes(ctx, routes)
}

// majorityVersion is the version most of cts run.
func majorityVersion(cts []docker.Container) string {
	count := map[string]int{}
	best := ""
	for _, c := range cts {
		count[c.Version]++
		if best == "" || count[c.Version] > count[best] {
			best = c.Version
		}
	}
	return best
}

// repository strips the tag or digest from an image reference.
func repository(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// Track names the driver knows (the workflows' tracks).
const (
	trackStable   = "stable"
	trackPrevious = "previous"
)
