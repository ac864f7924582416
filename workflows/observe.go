package workflows

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
)

// observedChange is the GetVersion change ID under which:
//   - canary and blue-green promotions run on a disconnected context, so an abort or a cancel never stops one
//     halfway, and an abort is accepted while one runs (the rollback then starts from what it left);
//   - a rollback after a promotion started restores the stable version with the platform's rollback (by
//     digest), and one before routes back with ExpectStable, so that it never routes 100 % to a stable track
//     that runs the new version;
//   - an abort during blue-green's scale-down delay switches back to the kept set (a cancel still scales it
//     down, as under scaleDownOnCancelChange);
//   - the environment's outcome is what the platform's Observe shows afterwards: a rollback that does not
//     leave the stable version serving all traffic, or a success that does not leave the new one, fails.
const observedChange = "observed-outcomes"

// observed reports whether this run has the observedChange behaviour.
func observed(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, observedChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// expectation is what should serve an environment: one version (of one digest, when known) at 100 %, or
// nothing at all.
type expectation struct {
	version, digest string
	nothing         bool
}

func (x expectation) String() string {
	switch {
	case x.nothing:
		return "nothing"
	case x.digest != "":
		return x.version + " (" + x.digest + ")"
	}
	return x.version
}

// notServingError ends an environment whose outcome the platform does not show: the release fails, naming
// what serves instead.
type notServingError struct {
	env    string
	detail string
}

func (e *notServingError) Error() string { return e.env + ": " + e.detail }

// observe asks the platform what serves the environment and compares it with want. It returns "" when the
// platform shows want, or cannot tell (the exec platform without a current command); otherwise what serves,
// as a sentence: "production serves 2.0.0 (sha256:…) at 100 %, expected 1.0.0".
func (r *release) observe(ctx workflow.Context, e *envRun, want expectation) string {
	opts := e.onEngine(rollbackOptions(ctx, e.platform, "observe "+e.spec.Name))
	var obs activities.Observation
	if err := workflow.ExecuteActivity(opts, platformActs.Observe, e.request(r.vars(e, TrackStable, 0))).Get(ctx, &obs); err != nil {
		return fmt.Sprintf("what serves %s could not be observed (%s), expected %s", e.spec.Name, errorMessage(err), want)
	}
	if !obs.Known || serves(obs.Serving, want) {
		return ""
	}
	now := "nothing"
	if len(obs.Serving) > 0 {
		parts := make([]string, len(obs.Serving))
		for i, s := range obs.Serving {
			parts[i] = s.String()
		}
		now = strings.Join(parts, " and ")
	}
	return fmt.Sprintf("%s serves %s, expected %s", e.spec.Name, now, want)
}

// serves reports whether shares are exactly want at 100 %.
func serves(shares []activities.Share, want expectation) bool {
	if want.nothing {
		return len(shares) == 0
	}
	total := 0.0
	for _, s := range shares {
		if s.Version != want.version || (want.digest != "" && s.Digest != "" && s.Digest != want.digest) {
			return false
		}
		total += s.Percent
	}
	return math.Abs(total-100) < 0.5
}

// stableExpectation is what a rollback must leave serving; ok is false when nobody knows.
func (e *envRun) stableExpectation() (x expectation, ok bool) {
	switch {
	case e.stable != nil:
		_, digest, _ := strings.Cut(e.stable.Image, "@")
		return expectation{version: e.stable.Version, digest: digest}, true
	case e.nothingRuns:
		return expectation{nothing: true}, true
	}
	return expectation{}, false
}

// canRollback reports whether the platform restores a stable version itself: Docker always, exec with a
// rollback command.
func (e *envRun) canRollback() bool {
	return e.platform.Docker != nil || (e.platform.Exec != nil && len(e.platform.Exec.Rollback) > 0)
}

// routeBack sends all traffic back to the stable version and removes the new version's track. Before a
// promotion started, stable still runs the stable version and routing is enough, verified by ExpectStable;
// once one started, stable may run the new version, so the platform's rollback restores the stable image by
// digest (routing back to the stable set at once where it still runs). left says what may still run when it
// fails.
func (r *release) routeBack(ctx workflow.Context, e *envRun, track string) (left string, err error) {
	switch {
	case e.promoting && e.stable == nil && e.nothingRuns:
		// Nothing served before: the new version on stable goes, route and all.
		if err = r.platformOp(ctx, e, opRemove, TrackStable, 0); err != nil {
			return fmt.Sprintf("%s may still run on the stable track and serve traffic", r.in.Version), err
		}
	case e.promoting && e.stable != nil && e.canRollback():
		err = r.platformOp(ctx, e, opRollback, TrackStable, 0)
	case e.stable != nil:
		req := e.request(r.vars(e, track, 0))
		req.ExpectStable = true
		err = r.platformCall(ctx, e, opSetWeight, req)
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == activities.ErrTypeStableMismatch && e.canRollback() {
			err = r.platformOp(ctx, e, opRollback, TrackStable, 0)
		}
	default:
		err = r.platformOp(ctx, e, opSetWeight, track, 0)
	}
	if err != nil {
		return fmt.Sprintf("traffic may still go to %s on the %s track (last confirmed at %d%%)", r.in.Version, track, e.weight), err
	}
	if err = r.platformOp(ctx, e, opRemove, track, 0); err != nil {
		return fmt.Sprintf("all traffic is back on stable, but %s may still run on the %s track", r.in.Version, track), err
	}
	return "", nil
}

// promoteTrack makes the new version on track the stable one. Under observedChange it records that a promotion
// started, accepts an abort meanwhile, and runs the promotion to its end on a disconnected context: an abort
// or a cancel then rolls back from what the promotion left, never from a command stopped halfway.
func (r *release) promoteTrack(ctx workflow.Context, e *envRun, track string) error {
	if !observed(ctx) {
		if err := r.platformOp(ctx, e, opPromote, track, 100); err != nil {
			return fmt.Errorf("promote: %s", errorMessage(err))
		}
		return nil
	}
	e.promoting, e.abortable = true, true
	whole, _ := workflow.NewDisconnectedContext(ctx)
	err := r.platformOp(whole, e, opPromote, track, 100)
	e.abortable = false
	if err != nil {
		return fmt.Errorf("promote: %s", errorMessage(err))
	}
	// An abort that came while the promotion ran rolls it back now.
	return ctx.Err()
}
