package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// canaryNeedsStableChange is the GetVersion change ID under which a canary release refuses an environment
// where no stable version serves, before anything runs there. Asked only when that is so.
const canaryNeedsStableChange = "canary-needs-stable"

// ErrTypeNoStable is the type of the error that ends an environment where a canary has no stable version to
// send the rest of the traffic to. The release fails with ErrTypeFailed; this is its cause.
const ErrTypeNoStable = "NoStableVersion"

// refuseCanaryWithoutStable refuses a canary where nothing serves: its first step would send the new version
// all traffic, not the step's share, and a rollback would have nothing to return to. It runs once the lock
// and the platform were asked, and before anything runs in the environment, so the refusal leaves it as it
// was. The exec platform without a current command cannot tell: its own commands route as they see fit.
func (r *release) refuseCanaryWithoutStable(ctx workflow.Context, e *envRun) error {
	if e.spec.Strategy.Type != spec.StrategyCanary || e.stable != nil || (!e.nothingRuns && e.platform.Docker == nil) ||
		workflow.GetVersion(ctx, canaryNeedsStableChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	msg := fmt.Sprintf("%[1]s: a canary needs a stable version to send the rest of the traffic to, and no "+
		"version serves %[1]s: release the first version with another strategy (rolling, recreate or blue-green), "+
		"or, if a version does serve there, record it with `ferry adopt %[2]s --env %[1]s --version VERSION "+
		"--image REPOSITORY@sha256:...`", e.spec.Name, r.in.Spec.Service)
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeNoStable, nil)
}

// stableDigestChange is the GetVersion change ID under which a release whose lock knows the stable version
// but not its image by digest (an adopt without one, say) asks the Docker platform for it, so that a rollback
// restores the digest that served and never a tag that may have moved.
const stableDigestChange = "stable-image-by-digest"

// pinned reports whether an image reference names a digest.
func pinned(image string) bool { return strings.Contains(image, "@sha256:") }

// pinStableImage takes the stable version's image by digest from the platform's labels when the lock knows
// the version only. The platform's answer counts only when it runs that version.
func (r *release) pinStableImage(ctx workflow.Context, e *envRun) error {
	if e.stable == nil || pinned(e.stable.Image) || e.platform.Docker == nil ||
		workflow.GetVersion(ctx, stableDigestChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	opts := e.onEngine(platformOptions(ctx, e.platform, "current "+e.spec.Name))
	var cur activities.CurrentResult
	if err := workflow.ExecuteActivity(opts, platformActs.Current, e.request(r.vars(e, TrackStable, 0))).Get(ctx, &cur); err != nil {
		return fmt.Errorf("ask the platform what runs: %s", errorMessage(err))
	}
	if cur.Version == e.stable.Version && pinned(cur.Image) {
		stable := *e.stable
		stable.Image = cur.Image
		e.stable = &stable
	}
	return nil
}
