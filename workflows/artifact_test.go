package workflows

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

const (
	pinnedDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pinnedImage  = "registry.local/checkout@" + pinnedDigest
)

// twoAutoEnvs are staging and a production without a gate, so the release runs through unattended.
func twoAutoEnvs() []spec.Environment {
	prod := staging()
	prod.Name = "production"
	return []spec.Environment{staging(), prod}
}

// artifactCalls records the artifact activities a release runs and answers them as told.
type artifactCalls struct {
	builds   []activities.BuildRequest
	resolves []activities.ResolveRequest
	buildErr error
}

func (a *artifactCalls) register(h *harness) {
	h.env.OnActivity(artifactActs.Build, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.BuildRequest) (activities.ArtifactResult, error) {
			a.builds = append(a.builds, in)
			if a.buildErr != nil {
				return activities.ArtifactResult{}, a.buildErr
			}
			return activities.ArtifactResult{Image: pinnedImage, Digest: pinnedDigest,
				Tags: []string{"registry.local/checkout:1.4.2", "registry.local/checkout:sha-abc1234"}}, nil
		})
	h.env.OnActivity(artifactActs.Resolve, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ResolveRequest) (activities.ArtifactResult, error) {
			a.resolves = append(a.resolves, in)
			repo, _, _ := strings.Cut(in.Image, ":")
			return activities.ArtifactResult{Image: repo + "@" + pinnedDigest, Digest: pinnedDigest, Tags: []string{in.Image}}, nil
		})
}

// wantDeploys checks that the release deployed to envs, in order, each time with image, the release's digest
// and tag. Platform requests and calls are recorded in step.
func wantDeploys(t *testing.T, h *harness, image, tag string, envs ...string) {
	t.Helper()
	var deployed []string
	for i, req := range h.requests {
		if !strings.HasPrefix(h.calls[i], opDeploy+" ") {
			continue
		}
		deployed = append(deployed, req.Vars.Env)
		if req.Vars.Image != image || req.Digest != pinnedDigest || req.Vars.Digest != pinnedDigest || req.Vars.ImageTag != tag {
			t.Errorf("deploy to %s: got image %q, digest %q (vars %q), tag %q; want %q, %q, %q", req.Vars.Env,
				req.Vars.Image, req.Digest, req.Vars.Digest, req.Vars.ImageTag, image, pinnedDigest, tag)
		}
	}
	if strings.Join(deployed, " ") != strings.Join(envs, " ") {
		t.Errorf("got deploys to %v, want %v", deployed, envs)
	}
}

// A spec with image.build builds once, before any environment; every environment deploys the pushed digest,
// and the status and result record it.
func TestBuildPinsTheDigestForEveryEnvironment(t *testing.T) {
	h := newHarness(t)
	var a artifactCalls
	a.register(h)
	in := releaseInput(twoAutoEnvs()...)
	in.Spec.Image.Build = &spec.Build{Context: "app", Dockerfile: "Dockerfile"}
	h.run(in)

	res, errType := h.result()
	if errType != "" || res.State != StateSucceeded {
		t.Fatalf("got %s (%s): %s, want succeeded", res.State, errType, res.Reason)
	}
	want := activities.BuildRequest{Service: "checkout", Version: "1.4.2", GitSHA: "abc1234", Repository: "registry.local/checkout",
		Build: spec.Build{Context: "app", Dockerfile: "Dockerfile"}}
	if len(a.builds) != 1 || a.builds[0] != want || len(a.resolves) != 0 {
		t.Fatalf("got builds %+v and resolves %+v, want one build %+v", a.builds, a.resolves, want)
	}
	wantDeploys(t, h, pinnedImage, "registry.local/checkout:1.4.2", "staging", "production")
	if res.Image != pinnedImage || res.Digest != pinnedDigest {
		t.Errorf("got result image %q digest %q, want %q %q", res.Image, res.Digest, pinnedImage, pinnedDigest)
	}
	st := h.status()
	if st.Image != pinnedImage || st.Digest != pinnedDigest || st.ImageTag != "registry.local/checkout:1.4.2" {
		t.Errorf("got status image %q digest %q tag %q", st.Image, st.Digest, st.ImageTag)
	}
	// The lock records the pinned image as what now serves, so the next release rolls back to that digest.
	if got := h.released["production"]; got == nil || got.Image != pinnedImage {
		t.Errorf("got %+v released to the production lock, want image %s", got, pinnedImage)
	}
}

// --image skips the build: the release resolves that reference and deploys it by digest.
func TestImageFlagResolvesInsteadOfBuilding(t *testing.T) {
	h := newHarness(t)
	var a artifactCalls
	a.register(h)
	in := releaseInput(twoAutoEnvs()...)
	in.Spec.Image.Build = &spec.Build{Context: ".", Dockerfile: "Dockerfile"}
	in.Image = "registry.local/checkout:edge"
	h.run(in)

	res, errType := h.result()
	if errType != "" {
		t.Fatalf("got %s (%s): %s, want succeeded", res.State, errType, res.Reason)
	}
	if len(a.builds) != 0 || len(a.resolves) != 1 || a.resolves[0].Image != "registry.local/checkout:edge" {
		t.Fatalf("got builds %+v and resolves %+v, want one resolve of registry.local/checkout:edge", a.builds, a.resolves)
	}
	wantDeploys(t, h, pinnedImage, "registry.local/checkout:edge", "staging", "production")
}

// A failed build fails the release before any environment, with the build's error and the stage in its reason.
func TestBuildFailureFailsTheRelease(t *testing.T) {
	h := newHarness(t)
	a := artifactCalls{buildErr: temporal.NewNonRetryableApplicationError(
		"image.build: COPY failed: file not found in build context", activities.ErrTypeBuildFailed, nil)}
	a.register(h)
	in := releaseInput(twoAutoEnvs()...)
	in.Spec.Image.Build = &spec.Build{Context: ".", Dockerfile: "Dockerfile"}
	h.run(in)

	res, errType := h.result()
	if errType != ErrTypeFailed || res.State != StateFailed {
		t.Fatalf("got %s (%s), want failed", res.State, errType)
	}
	if want := "build: image.build: COPY failed: file not found in build context"; res.Reason != want {
		t.Errorf("got reason %q, want %q", res.Reason, want)
	}
	if len(a.builds) != 1 {
		t.Errorf("got %d builds, want 1: a failed build is not retried", len(a.builds))
	}
	h.wantCalls()
	for _, e := range res.Environments {
		if e.State != "pending" {
			t.Errorf("environment %s: got %s, want pending", e.Name, e.State)
		}
	}
	if len(h.signals) != 0 {
		t.Errorf("got signals %v to the locks, want none", h.signals)
	}
	if res.Digest != "" {
		t.Errorf("got digest %q, want none", res.Digest)
	}
}

// On the exec platform without image.build nothing is built or resolved: the image goes to the commands as
// given, as before, even when no registry holds it.
func TestExecWithoutBuildPinsNothing(t *testing.T) {
	h := newHarness(t)
	var a artifactCalls
	a.register(h)
	in := releaseInput(twoAutoEnvs()...)
	in.Image = "registry.example.com/nowhere:1.4.2"
	h.run(in)

	if res, errType := h.result(); errType != "" {
		t.Fatalf("got %s (%s): %s, want succeeded", res.State, errType, res.Reason)
	}
	if len(a.builds)+len(a.resolves) != 0 {
		t.Fatalf("got builds %+v and resolves %+v, want none", a.builds, a.resolves)
	}
	for _, req := range h.requests {
		if req.Vars.Image != in.Image || req.Digest != "" || req.Vars.Digest != "" || req.Vars.ImageTag != "" {
			t.Errorf("got image %q digest %q tag %q, want %q unpinned", req.Vars.Image, req.Digest, req.Vars.ImageTag, in.Image)
		}
	}
}

// A release that continued as new between environments builds nothing again: its next run deploys the digest
// its status carries.
func TestContinuedRunKeepsTheDigest(t *testing.T) {
	h := newHarness(t)
	var a artifactCalls
	a.register(h)
	in := releaseInput(twoAutoEnvs()...)
	in.Spec.Image.Build = &spec.Build{Context: ".", Dockerfile: "Dockerfile"}
	in.Resume = &ReleaseProgress{NextEnv: 1, Status: Status{
		Service: "checkout", Version: "1.4.2", GitSHA: "abc1234", Image: pinnedImage, Digest: pinnedDigest,
		ImageTag: "registry.local/checkout:1.4.2", State: StateRunning, Stage: StageLock,
		Environments: []EnvStatus{{Name: "staging", State: StateSucceeded}, {Name: "production", State: "pending"}},
	}}
	h.run(in)

	res, errType := h.result()
	if errType != "" {
		t.Fatalf("got %s (%s): %s, want succeeded", res.State, errType, res.Reason)
	}
	if len(a.builds)+len(a.resolves) != 0 {
		t.Fatalf("got builds %+v and resolves %+v, want none", a.builds, a.resolves)
	}
	wantDeploys(t, h, pinnedImage, "registry.local/checkout:1.4.2", "production")
	if res.Digest != pinnedDigest {
		t.Errorf("got digest %q, want %q", res.Digest, pinnedDigest)
	}
}
