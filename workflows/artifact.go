package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// artifactActs are the artifact activities, called through a nil pointer; the worker registers the real struct.
var artifactActs *activities.Artifact

// pinDigestChange is the GetVersion change ID under which a release pins its image to a digest before the
// first environment: it builds and pushes the image, or resolves --image, and every environment deploys
// <repository>@<digest>. Releases begun before it deploy the image reference as given.
const pinDigestChange = "pin-image-digest"

// pinsDigest says whether a release pins its image to a digest: when the spec builds the image, or when its
// platform runs images itself (every platform but exec, whose commands may name images that no registry the
// worker can reach holds). On the exec platform without image.build, the image goes to the commands unresolved,
// as it always did.
func pinsDigest(in ReleaseInput) bool {
	kind := in.Spec.Platform.Kind()
	return in.Spec.Image.Build != nil || (kind != "" && kind != spec.PlatformExec)
}

// pinArtifact makes the release's image and pins it, once, in the release's first run (a continued run carries
// the digest in its status): with --image it resolves that reference and builds nothing; otherwise it builds
// and pushes image.build, or, without a build, resolves image.repository:version. The digest goes to the
// status, the FerryDigest search attribute and every environment's deploy. A failure fails the release before
// any environment, with the reason "build: ..." or "resolve the image: ...".
func (r *release) pinArtifact(ctx workflow.Context) error {
	if r.in.Resume != nil || !pinsDigest(r.in) ||
		workflow.GetVersion(ctx, pinDigestChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	var res activities.ArtifactResult
	switch {
	case r.in.Image != "" || r.in.Spec.Image.Build == nil:
		req := activities.ResolveRequest{Image: r.status.Image}
		err := workflow.ExecuteActivity(resolveOptions(ctx, "resolve "+req.Image), artifactActs.Resolve, req).Get(ctx, &res)
		if err != nil {
			return &artifactError{what: "resolve the image " + req.Image, err: err}
		}
	default:
		req := activities.BuildRequest{Service: r.in.Spec.Service, Version: r.in.Version, GitSHA: r.in.GitSHA,
			Repository: r.in.Spec.Image.Repository, Build: *r.in.Spec.Image.Build}
		err := workflow.ExecuteActivity(buildOptions(ctx, "build "+r.status.Image), artifactActs.Build, req).Get(ctx, &res)
		if err != nil {
			return &artifactError{what: "build", err: err}
		}
	}
	r.status.ImageTag = r.status.Image
	r.status.Image = res.Image
	r.status.Digest = res.Digest
	r.publish(ctx)
	return nil
}

// artifactError ends a release whose image could not be built or resolved: nothing was deployed.
type artifactError struct {
	what string
	err  error
}

// Error names the step first ("build: ..."): the release's reason says where it failed, not only why.
func (e *artifactError) Error() string { return e.what + ": " + errorMessage(e.err) }
