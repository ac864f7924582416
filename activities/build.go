package activities

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/registry"
	"github.com/ferryhq/ferry/internal/spec"
)

// Error types of the artifact activities (temporal.ApplicationError.Type).
const (
	// ErrTypeBuildFailed is a build the engine ran and that failed (a failing RUN step, a missing COPY source).
	// Non-retryable: the same build fails the same way.
	ErrTypeBuildFailed = "BuildFailed"
	// ErrTypeImageNotFound is an image reference the registry does not hold. Non-retryable.
	ErrTypeImageNotFound = "ImageNotFound"
	// ErrTypeDigestMismatch is a deploy whose image is not the release's pinned digest. Non-retryable.
	ErrTypeDigestMismatch = "DigestMismatch"
)

// ImageEngine is the part of a Docker engine client that builds and pushes images; *docker.Client is one.
type ImageEngine interface {
	Build(ctx context.Context, req docker.BuildRequest, onLine func(string)) (string, error)
	TagAndPushAs(ctx context.Context, imageID string, refs []string, login registry.Login, onLine func(string)) (string, error)
	Close() error
}

// Artifact holds the activities that make a release's image and pin it to a digest: Build and Resolve. The
// worker registers one &Artifact{...}; the Release workflow calls its methods before the first environment.
//
// Endpoints and credentials are the worker's: Engine maps a Docker host name to an engine, and Login finds the
// credential for a registry host (from the worker configuration's registries, whose env: and file:
// references it resolves on the worker). Neither comes from workflow input.
type Artifact struct {
	// Engine returns a client of the Docker engine named host ("" for the worker's default one). The activity
	// closes it when it is done.
	Engine func(host string) (ImageEngine, error)
	// Login returns the worker's credential for a registry host, the zero Login for anonymous access.
	Login func(host string) (registry.Login, error)
	// Policy is the worker's exec policy: a build context resolves against its Root, like platform.exec.dir.
	// Nil resolves nothing, so every build is refused.
	Policy *ExecPolicy
	// Redact sees every string the activities return, log and heartbeat. Nil redacts nothing.
	Redact Redactor
}

// BuildRequest asks for the image of one release.
type BuildRequest struct {
	Service    string     `json:"service"`
	Version    string     `json:"version"`
	GitSHA     string     `json:"gitSha"`
	Repository string     `json:"repository"`
	Build      spec.Build `json:"build"`
	// Host names the Docker engine to build on, as the worker configuration's docker.hosts names it; empty
	// means the worker's default engine.
	Host string `json:"host,omitempty"`
}

// ResolveRequest asks for the digest of an image that exists.
type ResolveRequest struct {
	// Image is the reference to resolve: "registry/repo:tag", or one by digest, which is checked to exist.
	Image string `json:"image"`
}

// ArtifactResult is the pinned image of a release.
type ArtifactResult struct {
	// Image is the repository with the digest: "registry/repo@sha256:...".
	Image string `json:"image"`
	// Digest is the manifest digest, "sha256:...".
	Digest string `json:"digest"`
	// Tags are the tags that name the image: those Build pushed, or the reference Resolve resolved.
	Tags []string `json:"tags,omitempty"`
	// Reused is set when Build found both tags already pushed with one digest and built nothing.
	Reused bool `json:"reused,omitempty"`
}

// buildProgress is Build's heartbeat detail: the phase and the latest line of output, redacted.
type buildProgress struct {
	Phase string `json:"phase"`
	Lines int    `json:"lines"`
	Last  string `json:"last,omitempty"`
}

// Build builds the release's image from its build context on the worker, tags it <repository>:<version> and
// <repository>:sha-<gitSha>, pushes both and returns the digest.
//
// Trust: the context (image.build.context) resolves against the worker's exec root, as platform.exec.dir does;
// a context that leaves the root, also through a symbolic link, or a Dockerfile outside the context is a
// non-retryable ErrTypeInvalidSpec. Registry credentials come from the worker (Login), never from the request.
//
// Idempotence: before it builds, Build asks the registry for both tags. When both exist with the same digest,
// an earlier attempt (or an identical release) pushed this version from this git sha, and Build returns that
// digest with Reused set, building nothing. Otherwise it builds and pushes: the engine reuses its cache, a push
// sends only what the registry lacks, and the tags move to the new image, so an attempt that a crash or a
// cancellation interrupted mid-push is safe to repeat. On the same engine a repeated build yields the same image
// and so the same digest; the digest recorded is the one of the attempt that completes.
//
// Failures: a failed build is a non-retryable ErrTypeBuildFailed with the engine's message; an engine or a
// registry that cannot be reached, or a failed push, is retryable. Every line of build and push output goes to
// the worker's log and the latest to the heartbeat, redacted; heartbeats also go out every second while the
// engine is silent.
func (a *Artifact) Build(ctx context.Context, in BuildRequest) (ArtifactResult, error) {
	res, err := a.build(ctx, in)
	return res, redactError(a.Redact, err)
}

func (a *Artifact) build(ctx context.Context, in BuildRequest) (ArtifactResult, error) {
	tags := docker.Tags(in.Repository, in.Version, in.GitSHA)
	if err := spec.CheckCoordinates(in.Version, in.GitSHA, tags[0]); err != nil {
		return ArtifactResult{}, invalidSpec(strings.ReplaceAll(err.Error(), "\n", "; "), nil)
	}
	dir, dockerfile, err := a.buildContext(in.Build)
	if err != nil {
		return ArtifactResult{}, err
	}
	login, err := a.login(tags[0])
	if err != nil {
		return ArtifactResult{}, err
	}
	log := activity.GetLogger(ctx)
	hb := newHeartbeat(ctx, a.Redact)
	defer hb.stop()
	hb.phase("check the registry")
	if res, ok := reusable(ctx, in.Repository, tags, login); ok {
		log.Info("image already pushed from this git sha: not building it again", "tags", tags, "digest", res.Digest)
		return res, nil
	}

	engine, err := a.engine(in.Host)
	if err != nil {
		return ArtifactResult{}, err
	}
	defer engine.Close()
	hb.phase("build")
	imageID, err := engine.Build(ctx, docker.BuildRequest{
		ContextDir: dir,
		Dockerfile: dockerfile,
		// OCI labels only: ferry.* labels mark the containers Ferry reconciles, and a container inherits its
		// image's labels.
		Labels: map[string]string{
			"org.opencontainers.image.revision": in.GitSHA,
			"org.opencontainers.image.version":  in.Version,
		},
	}, hb.line)
	var berr *docker.BuildError
	if errors.As(err, &berr) {
		return ArtifactResult{}, temporal.NewNonRetryableApplicationError(
			redact(a.Redact, "image.build: "+berr.Message), ErrTypeBuildFailed, nil)
	}
	if err != nil {
		return ArtifactResult{}, err
	}
	hb.phase("push")
	digest, err := engine.TagAndPushAs(ctx, imageID, tags, login, hb.line)
	if err != nil {
		return ArtifactResult{}, err
	}
	log.Info("image pushed", "service", in.Service, "tags", tags, "digest", digest, "imageID", imageID)
	return ArtifactResult{Image: in.Repository + "@" + digest, Digest: digest, Tags: tags}, nil
}

// reusable returns the image when both tags already name the same digest in the registry. Any doubt (no git
// sha, a tag missing, the registry unreachable) means build.
func reusable(ctx context.Context, repository string, tags []string, login registry.Login) (ArtifactResult, bool) {
	if len(tags) < 2 {
		return ArtifactResult{}, false // without a git sha no tag says what the image was built from
	}
	var digest string
	for _, tag := range tags {
		d, err := registry.Digest(ctx, tag, login)
		if err != nil || (digest != "" && d != digest) {
			return ArtifactResult{}, false
		}
		digest = d
	}
	return ArtifactResult{Image: repository + "@" + digest, Digest: digest, Tags: tags, Reused: true}, true
}

// Resolve returns the digest the registry serves for the request's image, logging in with the worker's
// credential for its registry. `ferry start --image` uses it instead of a build. A reference the registry does
// not hold is a non-retryable ErrTypeImageNotFound, a reference that is not one a non-retryable
// ErrTypeInvalidSpec; an unreachable registry is retryable. It only reads, so it is idempotent.
func (a *Artifact) Resolve(ctx context.Context, in ResolveRequest) (ArtifactResult, error) {
	res, err := a.resolve(ctx, in)
	return res, redactError(a.Redact, err)
}

func (a *Artifact) resolve(ctx context.Context, in ResolveRequest) (ArtifactResult, error) {
	if err := spec.CheckImage(in.Image); err != nil {
		return ArtifactResult{}, invalidSpec(err.Error(), nil)
	}
	login, err := a.login(in.Image)
	if err != nil {
		return ArtifactResult{}, err
	}
	pinned, err := registry.Pinned(ctx, in.Image, login)
	if errors.Is(err, registry.ErrNotFound) {
		return ArtifactResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("image %s: the registry does not have it", in.Image), ErrTypeImageNotFound, nil)
	}
	if err != nil {
		return ArtifactResult{}, err
	}
	_, digest, _ := strings.Cut(pinned, "@")
	activity.GetLogger(ctx).Info("image resolved", "image", in.Image, "digest", digest)
	return ArtifactResult{Image: pinned, Digest: digest, Tags: []string{in.Image}}, nil
}

// buildContext resolves the build context against the exec root and checks the Dockerfile's place in it.
func (a *Artifact) buildContext(b spec.Build) (dir, dockerfile string, err error) {
	pol := a.Policy
	if pol == nil {
		pol = &ExecPolicy{}
	}
	ctxDir := orDefaultString(b.Context, ".")
	dir, err = pol.ResolveDir(ctxDir)
	if err != nil {
		return "", "", invalidSpec("image.build.context: "+err.Error(), nil)
	}
	// The root check above is lexical; the engine is sent what the directory holds, so follow its links too.
	target, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", "", invalidSpec(fmt.Sprintf("image.build.context: %q: %v", ctxDir, err), nil)
	}
	root, err := filepath.EvalSymlinks(pol.Root)
	if err != nil || !within(root, target) {
		return "", "", invalidSpec(fmt.Sprintf("image.build.context: %q leaves the worker's exec root %s through a symbolic link", ctxDir, pol.Root), nil)
	}
	dockerfile = orDefaultString(b.Dockerfile, "Dockerfile")
	if !filepath.IsLocal(dockerfile) {
		return "", "", invalidSpec(fmt.Sprintf("image.build.dockerfile: %q is not a path inside the build context", dockerfile), nil)
	}
	return target, dockerfile, nil
}

// login is the worker's credential for the registry of ref; a failure to find it is non-retryable, since only
// the worker's configuration can fix it.
func (a *Artifact) login(ref string) (registry.Login, error) {
	host, err := registry.Host(ref)
	if err != nil {
		return registry.Login{}, invalidSpec(err.Error(), nil)
	}
	if a.Login == nil {
		return registry.Login{}, nil
	}
	l, err := a.Login(host)
	if err != nil {
		return registry.Login{}, invalidSpec(fmt.Sprintf("registry %s: the worker's credential: %v", host, err), nil)
	}
	return l, nil
}

func (a *Artifact) engine(host string) (ImageEngine, error) {
	if a.Engine == nil {
		return nil, invalidSpec("this worker has no Docker engine to build images with", nil)
	}
	e, err := a.Engine(host)
	if err != nil {
		return nil, invalidSpec(fmt.Sprintf("docker host %q: %v", host, err), nil)
	}
	return e, nil
}

func orDefaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// heartbeat logs each line of output and heartbeats the latest one every commandHeartbeat, so that a build
// step that prints nothing for minutes still shows the worker alive.
type heartbeat struct {
	ctx    context.Context
	redact Redactor
	mu     sync.Mutex
	p      buildProgress
	done   chan struct{}
	wg     sync.WaitGroup
}

func newHeartbeat(ctx context.Context, r Redactor) *heartbeat {
	h := &heartbeat{ctx: ctx, redact: r, done: make(chan struct{})}
	h.wg.Go(func() {
		t := time.NewTicker(commandHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				h.mu.Lock()
				p := h.p
				h.mu.Unlock()
				activity.RecordHeartbeat(ctx, p)
			case <-h.done:
				return
			}
		}
	})
	return h
}

func (h *heartbeat) phase(name string) {
	h.mu.Lock()
	h.p.Phase = name
	h.mu.Unlock()
}

func (h *heartbeat) line(s string) {
	s = redact(h.redact, strings.TrimSpace(s))
	if s == "" {
		return
	}
	h.mu.Lock()
	h.p.Lines++
	h.p.Last = s
	phase := h.p.Phase
	h.mu.Unlock()
	activity.GetLogger(h.ctx).Info("image "+phase, "line", s)
}

// stop ends the heartbeats; none races the activity's completion after it.
func (h *heartbeat) stop() {
	close(h.done)
	h.wg.Wait()
}
