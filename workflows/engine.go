package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// engineChange is the GetVersion change ID under which an environment on the Docker platform is bound to one
// Docker engine before its gate: the release asks which engine runs its containers (the Engine activity), then
// sends every later Docker activity of the environment (current, deploy, ready, set-weight, promote,
// rollback, remove, observe, and the checks that reach a track's replicas) to that engine's task queue, with
// the engine's ID in the request, so that two workers whose host "local" are different engines never split
// one environment between them. The engine is recorded in the environment's status and in the version the
// lock keeps, and the next release binds to it or is refused. Before it, any worker ran any activity on its own
// host of that name.
const engineChange = "docker-engine-binding"

// engineWait is how long a release waits for a worker of the stable version's engine to take the activity
// that binds it, before it refuses the environment.
const engineWait = 30 * time.Second

// ErrTypeEngineMismatch is the type of the error that refuses an environment whose stable version runs on
// another Docker engine than the workers can reach. The release fails with ErrTypeFailed; this is its cause.
const ErrTypeEngineMismatch = activities.ErrTypeEngineMismatch

// bindEngine binds an environment on the Docker platform to the engine that runs its containers: the stable
// version's, when the lock recorded one, or else the engine that a worker's host of the spec's name is. It runs
// before the gate, so nobody approves a release that cannot run where the environment runs.
func (r *release) bindEngine(ctx workflow.Context, e *envRun, es *EnvStatus) error {
	if e.platform.Docker == nil ||
		workflow.GetVersion(ctx, engineChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	id, err := r.pickEngine(ctx, e)
	if err != nil {
		return err
	}
	e.engine = id
	e.engineQueue = activities.EngineQueue(workflow.GetInfo(ctx).TaskQueueName, id)
	es.Engine = id
	return nil
}

// pickEngine returns the engine the environment binds to, or the refusal of the stable version's engine.
func (r *release) pickEngine(ctx workflow.Context, e *envRun) (string, error) {
	var want string
	if e.stable != nil {
		want = e.stable.Engine
	}
	if want == "" {
		res, err := r.askEngine(ctx, e, "")
		if err != nil {
			return "", fmt.Errorf("find the Docker engine of %s: %s", e.spec.Name, errorMessage(err))
		}
		return res.ID, nil
	}
	res, err := r.askEngine(ctx, e, want)
	switch {
	case err == nil:
		return res.ID, nil
	case !noWorker(err):
		return "", r.engineRefused(e, want, errorMessage(err))
	}
	// No worker of that engine answered: say what the workers here reach instead.
	here, err := r.askEngine(ctx, e, "")
	switch {
	case err != nil:
		return "", r.engineRefused(e, want, fmt.Sprintf("no worker of that engine answered within %s, and "+
			"the engine of this worker's host %q could not be found either: %s", engineWait, e.dockerHost(), errorMessage(err)))
	case here.ID == want:
		return "", r.engineRefused(e, want, fmt.Sprintf("a worker's host %q is that engine, but no worker took "+
			"an activity on that engine's task queue within %s", here.Host, engineWait))
	}
	return "", r.engineRefused(e, want, fmt.Sprintf("this worker's host %q is engine %s, and no worker of "+
		"engine %s answered within %s", here.Host, here.ID, want, engineWait))
}

// askEngine runs the Engine activity: on the main task queue when want is empty, else on want's queue, where it
// waits engineWait at most for a worker, with want as the engine to check.
func (r *release) askEngine(ctx workflow.Context, e *envRun, want string) (activities.EngineResult, error) {
	opts := platformOptions(ctx, e.platform, "docker engine of "+e.spec.Name)
	req := e.request(r.vars(e, TrackStable, 0))
	if want != "" {
		ao := workflow.GetActivityOptions(opts)
		ao.TaskQueue = activities.EngineQueue(workflow.GetInfo(ctx).TaskQueueName, want)
		ao.ScheduleToStartTimeout = engineWait
		opts = workflow.WithActivityOptions(opts, ao)
		req.Engine = want
	}
	var res activities.EngineResult
	err := workflow.ExecuteActivity(opts, platformActs.Engine, req).Get(ctx, &res)
	return res, err
}

// noWorker reports whether err is an activity that no worker took in time.
func noWorker(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START
}

// engineRefused refuses an environment whose stable version runs on engine want, which the release cannot
// reach (why), with the remedies.
func (r *release) engineRefused(e *envRun, want, why string) error {
	msg := fmt.Sprintf("%[1]s's stable version %[2]s runs on Docker engine %[3]s; %[4]s. Nothing was changed. Run "+
		"a worker whose host %[5]q reaches engine %[3]s, or, if %[1]s now runs on another engine, record what serves "+
		"there with `ferry adopt %[6]s --env %[1]s --version VERSION --image REPOSITORY@sha256:...`",
		e.spec.Name, e.stable.Version, want, why, e.dockerHost(), r.in.Spec.Service)
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeEngineMismatch, nil)
}

// dockerHost is the spec's name of the environment's Docker host.
func (e *envRun) dockerHost() string {
	if e.platform.Docker.Host == "" {
		return spec.DefaultDockerHost
	}
	return e.platform.Docker.Host
}

// onEngine sends the activities of ctx to the environment's engine queue, once it is bound.
func (e *envRun) onEngine(ctx workflow.Context) workflow.Context {
	if e.engineQueue == "" {
		return ctx
	}
	ao := workflow.GetActivityOptions(ctx)
	ao.TaskQueue = e.engineQueue
	return workflow.WithActivityOptions(ctx, ao)
}
