package activities

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// TemplateVars are the values platform commands and checks are templated with ({{.Image}}) and the FERRY_*
// environment variables they receive (FERRY_IMAGE, FERRY_CONFIG_<KEY>, ...).
//
// Image is the reference to deploy. When the release pinned its image to a digest (it built one, or resolved
// --image), Image is "<repository>@sha256:...", Digest is that digest and ImageTag the artifact by tag (--image
// as given, or image.repository:version); otherwise both are empty.
type TemplateVars struct {
	Service        string            `json:"service"`
	Env            string            `json:"env"`
	Version        string            `json:"version"`
	GitSHA         string            `json:"gitSha,omitempty"`
	Image          string            `json:"image"`
	ImageTag       string            `json:"imageTag,omitempty"`
	Digest         string            `json:"digest,omitempty"`
	Track          string            `json:"track"`
	Weight         int               `json:"weight"`
	Replicas       int               `json:"replicas"`
	Strategy       string            `json:"strategy,omitempty"`
	MaxUnavailable int               `json:"maxUnavailable,omitempty"`
	MaxSurge       int               `json:"maxSurge,omitempty"`
	StableVersion  string            `json:"stableVersion,omitempty"`
	StableImage    string            `json:"stableImage,omitempty"`
	Config         map[string]string `json:"config,omitempty"`
	// TrackURL is the base URL of one replica of Version on Track, "http://host:port", past the router. Only
	// http checks have it: the check activity sets it for each replica in turn, so it never enters history.
	TrackURL string `json:"-"`
}

// PlatformResult is the output of every platform activity, and the details of a command's failure.
type PlatformResult struct {
	// Output is empty when the command succeeded: what it printed goes to the worker's log, not into workflow
	// history. In a failure's details it is the redacted end of the output, at most failureOutput bytes.
	Output string `json:"output,omitempty"`
}

// CurrentResult is the output of Current.
type CurrentResult struct {
	// Known is false when the platform cannot say what runs (the exec platform without a current command).
	Known bool `json:"known"`
	// Version serves the stable track now; empty (with Known) means nothing runs there.
	Version string `json:"version,omitempty"`
	// Image is that version's image by digest, repository@sha256:..., when the platform records it (Docker
	// does, in each container's labels); empty otherwise. Never a tag.
	Image string `json:"image,omitempty"`
}

// Platform holds the platform activities. Each one picks the driver registered for the request's kind
// (PlatformRequest.Kind) and runs its operation, so that the activity names stay the same whatever the
// platform and recorded histories replay. A kind with no driver is a non-retryable ErrTypeInvalidSpec that
// names the kind and the kinds the worker knows. Idempotence, retryability and cancellation are the driver's,
// as its doc comment says; every error leaves through Redact.
//
// The worker registers one &Platform{Drivers: ..., Exec: policy, Redact: redactor}; the Release workflow calls
// its methods.
type Platform struct {
	// Drivers are the platforms this worker can act on, by kind.
	Drivers Drivers
	// Exec is what the worker allows commands to do; Admit checks a release's commands against it. Nil allows
	// nothing.
	Exec *ExecPolicy
	// Redact sees every string the activities return. Nil redacts nothing. When it has an Add(...string)
	// method (SecretRedactor), every secret value the activities resolve is added to it.
	Redact Redactor
	// Secrets resolves the environments' secret references. Nil resolves none: a release with secrets then
	// fails with ErrTypeSecretMissing.
	Secrets SecretResolver
	// NoMetrics says why the worker cannot measure metrics (no Prometheus configured, a password it cannot
	// resolve); Admit then refuses a spec whose analysis or verification names metrics. Empty: it can.
	NoMetrics string
}

// callWithSecrets resolves the request's secrets, then runs op with the driver.
func (p *Platform) callWithSecrets(ctx context.Context, in PlatformRequest, op func(Driver, PlatformRequest) error) (PlatformResult, error) {
	d, err := p.Drivers.driver(in.kind())
	if err == nil {
		in, err = p.withSecrets(ctx, in)
	}
	if err == nil {
		err = op(d, in)
	}
	return PlatformResult{}, redactError(p.Redact, err)
}

// call runs op with the request's driver and redacts its error.
func (p *Platform) call(in PlatformRequest, op func(Driver) error) (PlatformResult, error) {
	d, err := p.Drivers.driver(in.kind())
	if err == nil {
		err = op(d)
	}
	return PlatformResult{}, redactError(p.Redact, err)
}

// Deploy starts the version's replica set on Vars.Track with the request's driver. A request that carries the
// release's pinned digest (Digest) must deploy exactly that digest: Vars.Image must be pinned to it. Anything
// else is refused with a non-retryable ErrTypeDigestMismatch before any driver runs, so that no environment
// deploys an image other than the one that passed the environments before it. The request's secrets are
// resolved before the driver runs, so a missing one (ErrTypeSecretMissing) deploys nothing.
func (p *Platform) Deploy(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	if err := in.checkDigest(); err != nil {
		return PlatformResult{}, redactError(p.Redact, err)
	}
	return p.callWithSecrets(ctx, in, func(d Driver, in PlatformRequest) error { return d.Deploy(ctx, in) })
}

// checkDigest refuses a request whose image is not pinned to the release's digest, when it has one.
func (in PlatformRequest) checkDigest() error {
	if in.Digest == "" {
		return nil // the release pins no digest (the exec platform without a build), or predates pinning
	}
	_, got, pinned := strings.Cut(in.Vars.Image, "@")
	if pinned && got == in.Digest {
		return nil
	}
	what := "is not pinned to a digest"
	if pinned {
		what = "has digest " + got
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"deploy %s %s to %s refused: image %s %s, but the release's digest is %s; every environment deploys that digest and nothing else",
		in.Vars.Service, in.Vars.Version, in.Vars.Env, in.Vars.Image, what, in.Digest), ErrTypeDigestMismatch, nil)
}

// WaitReady returns once the track's replicas are ready, as the request's driver decides, or fails with a
// non-retryable ErrTypeReadinessTimeout. It heartbeats; a retry resumes the wait from the heartbeat.
func (p *Platform) WaitReady(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return p.call(in, func(d Driver) error { return d.Ready(ctx, in) })
}

// SetWeight routes Vars.Weight percent of traffic to Vars.Track with the request's driver.
func (p *Platform) SetWeight(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return p.call(in, func(d Driver) error { return d.SetWeight(ctx, in) })
}

// Promote makes the track's version the stable one with the request's driver, which may start it there: the
// request's secrets are resolved first.
func (p *Platform) Promote(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return p.callWithSecrets(ctx, in, func(d Driver, in PlatformRequest) error { return d.Promote(ctx, in) })
}

// Rollback restores Vars.StableVersion on the stable track with the request's driver, with the request's
// secrets resolved first.
func (p *Platform) Rollback(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return p.callWithSecrets(ctx, in, func(d Driver, in PlatformRequest) error { return d.Rollback(ctx, in) })
}

// Remove deletes a version's replica set from Vars.Track with the request's driver.
func (p *Platform) Remove(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return p.call(in, func(d Driver) error { return d.Remove(ctx, in) })
}

// Current asks the request's driver which version serves Vars.Env's stable track, so a release that does not
// know its stable version never has to guess. It only reads state, so it is idempotent.
func (p *Platform) Current(ctx context.Context, in PlatformRequest) (CurrentResult, error) {
	d, err := p.Drivers.driver(in.kind())
	if err != nil {
		return CurrentResult{}, redactError(p.Redact, err)
	}
	res, err := d.Current(ctx, in)
	return res, redactError(p.Redact, err)
}
