package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// envRun is one environment's deploy within a release.
type envRun struct {
	spec     *spec.Environment
	platform spec.Platform
	strategy strategy
	// stable is what served the environment before this release: from the lock, or else from the platform's
	// current command. nil when nothing ran there (nothingRuns) or when nobody knows.
	stable *Artifact
	// nothingRuns is set when the platform says no version runs on the stable track: removing the new
	// version is then the rollback.
	nothingRuns bool
	// deployed is set once the new version may be running: from then on a failure rolls back.
	deployed bool
	// promoted is set once the new version is the stable one: past it there is nothing to roll back.
	promoted bool
	weight   int
	// weightSince is when weight was last set: metric analysis' initialDelay and count start from it.
	weightSince time.Time
	// evidence tallies each kind/metric's measurements since evidenceSince, the start of the current weight
	// or verification window, for requireEvidence.
	evidence      map[string]windowTally
	evidenceSince time.Time
	// verdictWait is the time spent in inconclusive pauses for a person: the bake or verification window
	// under way lengthens by it.
	verdictWait time.Duration
	// digest is the release's pinned digest, which the platform's Deploy checks the image against.
	digest string
	// promoting is set once a promotion started (observedChange): the stable track may run the new version
	// from then on, so a rollback restores the stable version instead of only routing to the stable track.
	promoting bool
	// abortable is set while a promotion or blue-green's scale-down delay accepts an abort (observedChange).
	abortable bool
	// engine is the ID of the Docker engine the environment is bound to (bindEngine), and engineQueue that
	// engine's task queue, where its Docker activities go; both empty when it is not bound.
	engine, engineQueue string
}

// rolledBackError ends a release whose environment was rolled back after a failure.
type rolledBackError struct {
	env    string
	reason string
	to     string
}

func (e *rolledBackError) Error() string {
	to := "removed the new version"
	if e.to != "" {
		to = "back on " + e.to
	}
	return fmt.Sprintf("%s: %s; rolled back (%s)", e.env, e.reason, to)
}

// runEnv takes environment i through lock, gate, strategy, checks and verification. ctx is cancelled by
// abort or supersede; root is the workflow context, used (disconnected) for cleanup that must always happen.
func (r *release) runEnv(ctx, root workflow.Context, i int) (err error) {
	env := &r.in.Spec.Environments[i]
	es := r.envStatus(i)
	es.State = StateRunning
	es.Started = workflow.Now(ctx)
	r.status.Env = env.Name
	r.status.Strategy = env.Strategy.Type
	r.status.Step, r.status.Steps, r.status.Weight = 0, 0, 0
	r.status.Approvals, r.status.LastCheck, r.status.AnalysisFailures = nil, nil, 0
	r.status.Measurements, r.status.Score = nil, nil
	r.scopeDecisions(ctx)

	if r.in.Spec.Platform.Kind() == "" {
		return temporal.NewNonRetryableApplicationError("spec has no platform", ErrTypeInvalid, nil)
	}
	e := &envRun{spec: env, platform: r.in.Spec.Platform, strategy: strategies[env.Strategy.Type], digest: r.status.Digest}
	r.env = e
	if e.strategy == nil {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("environments[%d].strategy.type: unknown strategy %q", i, env.Strategy.Type), ErrTypeInvalid, nil)
	}

	defer func() {
		cleanup, _ := workflow.NewDisconnectedContext(root)
		var deployed *Artifact
		var cleanupFailed *cleanupError
		var backfillFailed *backfillError
		if err == nil || errors.As(err, &cleanupFailed) || errors.As(err, &backfillFailed) {
			// A promoted version serves the environment even when its cleanup failed: the next release must
			// roll back to it, not to the version it replaced.
			deployed = &Artifact{Version: r.in.Version, Image: r.status.Image, CommitTime: r.in.CommitTime,
				Settings: &Settings{Config: env.Config, Secrets: env.Secrets}, Engine: e.engine}
		}
		r.releaseLock(cleanup, env.Name, deployed)
		es.Finished = workflow.Now(cleanup)
		es.State, es.Reason = r.envOutcome(root, err)
		r.publish(cleanup)
	}()

	if e.stable, err = r.acquireLock(ctx, env.Name); err != nil {
		return err
	}
	// A downgrade is refused before the gate, so nobody approves what cannot run.
	if err = r.checkDowngrade(ctx, e); err != nil {
		return err
	}
	// So is a release that cannot run on the engine that runs the environment.
	if err = r.bindEngine(ctx, e, es); err != nil {
		return err
	}
	if err = r.gate(ctx, env); err != nil {
		return err
	}
	lockKnew := e.stable != nil
	if err = r.askCurrent(ctx, e); err != nil {
		return err
	}
	if !lockKnew {
		// The platform named what runs: check against that.
		if err = r.checkDowngrade(ctx, e); err != nil {
			return err
		}
	}
	if err = r.pinStableImage(ctx, e); err != nil {
		return err
	}
	if err = r.refuseCanaryWithoutStable(ctx, e); err != nil {
		return err
	}
	if err = r.checkContracts(ctx); err != nil {
		return err
	}
	if err = r.resolveConfig(ctx, e, es); err != nil {
		return err
	}
	if err = r.expand(ctx, e, i); err != nil {
		return err
	}
	err = r.deploy(ctx, e)
	switch {
	case err == nil:
	case e.deployed && !e.promoted:
		return r.rollback(root, e, err)
	case e.promoted && workflow.GetVersion(root, promotedFailureChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion:
		return &cleanupError{env: env.Name, version: r.in.Version, err: err}
	}
	if err == nil && observed(root) {
		// Say "succeeded" only once the platform shows the new version serving all traffic.
		cleanup, _ := workflow.NewDisconnectedContext(root)
		want := expectation{version: r.in.Version, digest: r.status.Digest}
		if now := r.observe(cleanup, e, want); now != "" {
			return &notServingError{env: env.Name, detail: fmt.Sprintf("%s was promoted, but %s", r.in.Version, now)}
		}
	}
	if err == nil {
		// The new version serves 100 %: fill the new shape. A failure here rolls nothing back.
		err = r.backfill(ctx, e)
	}
	// Past the last environment's work an abort could change nothing: refuse it rather than report it taken.
	r.finishing = err == nil && i == len(r.in.Spec.Environments)-1
	return err
}

// promotedFailureChange is the GetVersion change ID under which a failure after promotion records the new
// version as the environment's stable one and fails the release with the cleanup failure, even when an
// abort or a cancel caused it. Before it, the lock kept the replaced version as stable.
const promotedFailureChange = "promoted-failure-keeps-new-stable"

// cleanupError ends an environment whose new version was promoted, so it serves there, but whose cleanup
// (routing, removing the replaced set) failed. Nothing rolls back past promotion: a person cleans up.
type cleanupError struct {
	env     string
	version string
	err     error
}

func (e *cleanupError) Error() string {
	return fmt.Sprintf("%s: %s is promoted and serves all traffic, but its cleanup failed: %s",
		e.env, e.version, errorMessage(e.err))
}

// configChange is the GetVersion change ID under which a release resolves each environment's configuration
// (its secrets included) in an activity of its own before anything deploys there: a missing secret fails the
// environment before any migration, deploy or traffic shift, and the activity's result, the salted hash of
// the resolved configuration, records in history which configuration the environment got.
const configChange = "resolve-config-before-deploy"

// resolveConfig resolves the environment's configuration on the worker and records its hash in es. No secret
// value reaches the workflow: the request holds references, the result a hash.
func (r *release) resolveConfig(ctx workflow.Context, e *envRun, es *EnvStatus) error {
	if workflow.GetVersion(ctx, configChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	opts := platformOptions(ctx, e.platform, "config "+e.spec.Name)
	req := activities.ConfigRequest{Service: r.in.Spec.Service, Env: e.spec.Name, Config: e.spec.Config, Secrets: e.spec.Secrets}
	var res activities.ConfigResult
	if err := workflow.ExecuteActivity(opts, platformActs.ResolveConfig, req).Get(ctx, &res); err != nil {
		return fmt.Errorf("resolve config: %s", errorMessage(err))
	}
	es.ConfigHash = res.Hash
	return nil
}

// currentChange is the GetVersion change ID under which a release that does not know the stable version
// asks the platform's current command before it deploys.
const currentChange = "ask-platform-current"

// askCurrent asks the platform what serves the environment when the lock does not know (the first release of
// a service that already runs, or a lock that was reset), so a rollback never has to guess what to remove. It
// asks only when the spec has a current command; without one the stable version stays unknown.
func (r *release) askCurrent(ctx workflow.Context, e *envRun) error {
	if e.stable != nil || !e.platform.TellsCurrent() ||
		workflow.GetVersion(ctx, currentChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	opts := e.onEngine(platformOptions(ctx, e.platform, "current "+e.spec.Name))
	req := e.request(r.vars(e, TrackStable, 0))
	var cur activities.CurrentResult
	if err := workflow.ExecuteActivity(opts, platformActs.Current, req).Get(ctx, &cur); err != nil {
		return fmt.Errorf("ask the platform what runs: %s", errorMessage(err))
	}
	switch {
	case !cur.Known:
	case cur.Version == "":
		e.nothingRuns = true
	default:
		// The platform's image by digest when it records one (Docker does); the exec platform's current
		// command names a version only, and its rollback command gets the version's tag.
		image := cur.Image
		if !pinned(image) {
			image = r.in.Spec.Image.Repository + ":" + cur.Version
		}
		e.stable = &Artifact{Version: cur.Version, Image: image}
	}
	return nil
}

// envOutcome is the state shown for an environment once it is done: a rollback shows as such even when an
// abort caused it.
func (r *release) envOutcome(root workflow.Context, err error) (state, reason string) {
	state, rb := r.classify(root, err)
	switch {
	case rb != nil:
		return StateRolledBack, rb.reason
	case state == StateSuperseded:
		return state, r.supersededText()
	case state == StateFailed:
		return state, errorMessage(err)
	}
	return state, ""
}

// deploy runs the strategy and the checks. Any error it returns after e.deployed is set is rolled back.
func (r *release) deploy(ctx workflow.Context, e *envRun) error {
	track := e.strategy.track()
	r.setStage(ctx, StageDeploy, "")
	e.deployed = true
	if err := r.platformOp(ctx, e, opDeploy, track, 0); err != nil {
		return fmt.Errorf("deploy: %s", errorMessage(err))
	}
	r.setStage(ctx, StageReady, "")
	if err := r.platformOp(ctx, e, opReady, track, 0); err != nil {
		return fmt.Errorf("readiness: %s", errorMessage(err))
	}
	if err := r.runChecks(ctx, e, StageSmoke, track, e.spec.Checks.Smoke); err != nil {
		return err
	}
	err := e.strategy.shift(ctx, r, e)
	r.scopeDecisions(ctx)
	if err != nil {
		return err
	}
	if err := r.runChecks(ctx, e, StageE2E, track, e.spec.Checks.E2E); err != nil {
		return err
	}
	if err := r.verify(ctx, e, track); err != nil {
		return err
	}
	return e.strategy.finalize(ctx, r, e)
}

// rollbackFailureChange is the GetVersion change ID under which a rollback that fails ends the release as
// failed, whatever caused the rollback (an abort or a cancel included), with a reason that says what may
// still run.
const rollbackFailureChange = "rollback-failure-fails-release"

// stableUnknownChange is the GetVersion change ID under which a rollback that does not know the stable
// version leaves the environment as it is, instead of removing the stable track.
const stableUnknownChange = "stable-unknown-no-remove"

// rollbackFailedError ends a release whose environment could not be rolled back: the new version may still
// run there, so the release fails even when an abort or a cancel started the rollback.
type rollbackFailedError struct {
	env    string
	reason string // why the environment was rolled back
	detail string // what went wrong while rolling back, and what may still run
}

func (e *rollbackFailedError) Error() string {
	return fmt.Sprintf("%s: %s; %s", e.env, e.reason, e.detail)
}

// rollback returns traffic to 100 % stable and removes the new version. It runs on a disconnected context,
// so an abort or a cancelled workflow still rolls back.
func (r *release) rollback(root workflow.Context, e *envRun, cause error) error {
	ctx, _ := workflow.NewDisconnectedContext(root)
	reason := errorMessage(cause)
	interrupted := r.abort != nil || errors.Is(root.Err(), workflow.ErrCanceled)
	if interrupted {
		reason = "aborted"
	}
	r.status.BakeUntil = time.Time{}
	r.status.Paused = false
	r.setStage(ctx, StageRollback, "")
	rb := &rolledBackError{env: e.spec.Name, reason: reason}
	if e.stable != nil {
		rb.to = e.stable.Version
	}
	var err error
	var left string // what may be left, should the rollback fail
	isObserved := observed(ctx)
	switch track := e.strategy.track(); {
	case track != TrackStable && isObserved:
		left, err = r.routeBack(ctx, e, track)
	case track != TrackStable:
		// The new version ran beside stable: send all traffic back, then remove it.
		if err = r.platformOp(ctx, e, opSetWeight, track, 0); err != nil {
			left = fmt.Sprintf("traffic may still go to %s on the %s track (last confirmed at %d%%)", r.in.Version, track, e.weight)
		} else if err = r.platformOp(ctx, e, opRemove, track, 0); err != nil {
			left = fmt.Sprintf("all traffic is back on stable, but %s may still run on the %s track", r.in.Version, track)
		}
	case e.stable != nil:
		err = r.platformOp(ctx, e, opRollback, TrackStable, 0)
		left = fmt.Sprintf("%s may still serve all traffic: %s was not restored", r.in.Version, e.stable.Version)
	case e.nothingRuns || workflow.GetVersion(ctx, stableUnknownChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion:
		// Nothing ran here before: removing the new version is the rollback.
		err = r.platformOp(ctx, e, opRemove, TrackStable, 0)
		left = fmt.Sprintf("%s may still run and serve traffic", r.in.Version)
	default:
		// Nobody knows what served before: removing the stable track might delete it. Leave it alone.
		if interrupted {
			reason = r.interruption()
		}
		return &rollbackFailedError{env: e.spec.Name, reason: reason, detail: fmt.Sprintf(
			"not rolled back: the version that served %[1]s before %[2]s is unknown, so %[1]s was left as it is "+
				"and %[2]s may serve all traffic; release the version that should serve again, and tell Ferry what "+
				"runs with `ferry adopt %[3]s --env %[1]s --version VERSION --image REPOSITORY@sha256:...` or a platform.exec.current command",
			e.spec.Name, r.in.Version, r.in.Spec.Service)}
	}
	if err == nil && isObserved {
		// "Rolled back" is said only once the platform shows the stable version serving all traffic.
		if want, ok := e.stableExpectation(); ok {
			if now := r.observe(ctx, e, want); now != "" {
				if interrupted {
					reason = r.interruption()
				}
				return &rollbackFailedError{env: e.spec.Name, reason: reason, detail: "rolled back, but " + now}
			}
		}
	}
	if err == nil {
		return rb
	}
	if workflow.GetVersion(ctx, rollbackFailureChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return fmt.Errorf("%s: %s; rollback failed: %s", e.spec.Name, reason, errorMessage(err))
	}
	if interrupted {
		reason = r.interruption()
	}
	return &rollbackFailedError{env: e.spec.Name, reason: reason,
		detail: fmt.Sprintf("rollback failed: %s; %s", errorMessage(err), left)}
}

// interruption says who stopped the release: an abort (by whom, and why) or a cancel.
func (r *release) interruption() string {
	if r.abort != nil {
		return fmt.Sprintf("aborted by %s: %s", r.abort.Identity, r.abort.Reason)
	}
	return "cancelled"
}

// Platform operations, as FERRY_OP names them.
const (
	opDeploy    = "deploy"
	opReady     = "ready"
	opSetWeight = "set-weight"
	opPromote   = "promote"
	opRollback  = "rollback"
	opRemove    = "remove"
)

// platformOp runs one platform activity for the new version on a track (or, for rollback and removal of
// the previous version, for the stable one).
func (r *release) platformOp(ctx workflow.Context, e *envRun, op, track string, weight int) error {
	return r.platformOpVars(ctx, e, op, r.vars(e, track, weight))
}

// platformActivities maps each operation to its activity (method values on a nil pointer, as usual).
var platformActivities = map[string]any{
	opDeploy:    platformActs.Deploy,
	opReady:     platformActs.WaitReady,
	opSetWeight: platformActs.SetWeight,
	opPromote:   platformActs.Promote,
	opRollback:  platformActs.Rollback,
	opRemove:    platformActs.Remove,
}

// platformOpVars runs one platform activity with explicit template values. Everything run while rolling
// back gets the rollback retry policy.
func (r *release) platformOpVars(ctx workflow.Context, e *envRun, op string, vars activities.TemplateVars) error {
	return r.platformCall(ctx, e, op, e.request(vars))
}

// platformCall runs one platform activity with a request built by the caller, on the environment's engine
// once it is bound.
func (r *release) platformCall(ctx workflow.Context, e *envRun, op string, req activities.PlatformRequest) error {
	vars := req.Vars
	summary := fmt.Sprintf("%s %s %s %s", op, e.spec.Name, vars.Track, vars.Version)
	switch op {
	case opSetWeight:
		summary = fmt.Sprintf("set-weight %s %d%% to %s", e.spec.Name, vars.Weight, vars.Track)
	case opRollback:
		summary = fmt.Sprintf("rollback %s to %s", e.spec.Name, vars.StableVersion)
		req = e.withStableSettings(req)
	}
	var opts workflow.Context
	switch {
	case op == opReady:
		opts = readyOptions(ctx, e.platform, summary)
	case op == opRollback || r.status.Stage == StageRollback:
		opts = rollbackOptions(ctx, e.platform, summary)
	default:
		opts = platformOptions(ctx, e.platform, summary)
	}
	err := workflow.ExecuteActivity(e.onEngine(opts), platformActivities[op], req).Get(ctx, nil)
	if err == nil && op == opSetWeight {
		e.weight, r.status.Weight = vars.Weight, vars.Weight
		e.weightSince = workflow.Now(ctx)
	}
	return err
}

// request is the input of a platform activity: the platform's kind and its spec section, which the worker's
// driver for that kind reads, the platform-neutral coordinates in vars, and the engine the environment is
// bound to.
func (e *envRun) request(vars activities.TemplateVars) activities.PlatformRequest {
	return activities.PlatformRequest{Kind: e.platform.Kind(), Digest: e.digest, Platform: e.platform, Vars: vars,
		Secrets: e.spec.Secrets, Engine: e.engine}
}

// withStableSettings gives a rollback the configuration and secret references that the stable version was
// released with, when its lock recorded them: a redeployed stable version runs as it ran, not with the
// settings of the release that failed. Without a record (an adopted version), the release's own apply.
func (e *envRun) withStableSettings(req activities.PlatformRequest) activities.PlatformRequest {
	if e.stable == nil || e.stable.Settings == nil {
		return req
	}
	req.Vars.Config, req.Secrets = e.stable.Settings.Config, e.stable.Settings.Secrets
	return req
}

// checkDir is the working directory of exec checks: the exec platform's dir, which the worker resolves against
// its exec root; empty (the root) on other platforms.
func (e *envRun) checkDir() string {
	if e.platform.Exec != nil {
		return e.platform.Exec.Dir
	}
	return ""
}

// vars are the template values of a platform command or check.
func (r *release) vars(e *envRun, track string, weight int) activities.TemplateVars {
	st := e.spec.Strategy
	v := activities.TemplateVars{
		Service:        r.in.Spec.Service,
		Env:            e.spec.Name,
		Version:        r.in.Version,
		GitSHA:         r.in.GitSHA,
		Image:          r.status.Image,
		ImageTag:       r.status.ImageTag,
		Digest:         r.status.Digest,
		Track:          track,
		Weight:         weight,
		Replicas:       e.spec.Replicas,
		Strategy:       st.Type,
		MaxUnavailable: st.MaxUnavailable,
		MaxSurge:       st.MaxSurge,
		Config:         e.spec.Config,
	}
	if e.stable != nil {
		v.StableVersion, v.StableImage = e.stable.Version, e.stable.Image
	}
	return v
}
