package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// ErrTypeEngineMismatch is a Docker activity refused because the engine that the worker's host name reaches
// is not the engine the release's environment is bound to (PlatformRequest.Engine): acting there would start,
// route or remove containers on another machine than the one that runs the environment's containers.
const ErrTypeEngineMismatch = "EngineMismatch"

// EngineQueue is the task queue that the workers of engine engineID poll beside queue, their main task queue:
// the Docker activities of an environment bound to that engine go there, so that only a worker that reaches
// that engine runs them.
func EngineQueue(queue, engineID string) string { return queue + "/docker/" + engineID }

// EngineResult is the output of Engine.
type EngineResult struct {
	// ID is the engine's ID, as `docker info` shows it.
	ID string `json:"id"`
	// Host is the worker's name for it, as the request's platform.docker.host named it.
	Host string `json:"host"`
}

// engineIdentifier is what a driver implements when its platform runs on engines that can differ from worker
// to worker (Docker: each worker's host "local" is its own engine).
type engineIdentifier interface {
	Engine(ctx context.Context, in PlatformRequest) (EngineResult, error)
}

// Engine names the engine that this worker reaches for the request's platform host, so that the release can
// bind the environment's later activities to it (EngineQueue). With PlatformRequest.Engine set it refuses
// another engine, non-retryable ErrTypeEngineMismatch. A platform without engines (exec) is a non-retryable
// ErrTypeInvalidSpec. It only reads, so it is idempotent.
func (p *Platform) Engine(ctx context.Context, in PlatformRequest) (EngineResult, error) {
	d, err := p.Drivers.driver(in.kind())
	if err != nil {
		return EngineResult{}, redactError(p.Redact, err)
	}
	id, ok := d.(engineIdentifier)
	if !ok {
		return EngineResult{}, invalidSpec(fmt.Sprintf("the %s platform has no engines to bind to", in.kind()), nil)
	}
	res, err := id.Engine(ctx, in)
	return res, redactError(p.Redact, err)
}

var _ engineIdentifier = (*Docker)(nil)

// Engine returns the ID of the engine that platform.docker.host names on this worker. Before it answers, the
// worker polls that engine's task queue (Poll), so that the activities the release sends there next find a
// worker. It only reads.
func (p *Docker) Engine(ctx context.Context, in PlatformRequest) (EngineResult, error) {
	t, err := p.target(ctx, in, false)
	if err != nil {
		return EngineResult{}, p.fail("engine", err)
	}
	id, err := t.eng.EngineID(ctx)
	if err != nil {
		return EngineResult{}, p.fail("engine", err)
	}
	if p.Poll != nil {
		if err := p.Poll(id); err != nil {
			return EngineResult{}, p.fail("engine", fmt.Errorf("poll the task queue of engine %s: %w", id, err))
		}
	}
	return EngineResult{ID: id, Host: t.host}, nil
}

// checkEngine refuses a request bound to another engine than eng, the engine of the request's host name here.
func (p *Docker) checkEngine(ctx context.Context, eng DockerEngine, host string, in PlatformRequest) error {
	if in.Engine == "" {
		return nil // not bound: a release begun before engines were bound
	}
	id, err := eng.EngineID(ctx)
	if err != nil {
		return err
	}
	if id == in.Engine {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("refused: %s/%s runs on Docker engine %s, and this "+
		"worker's host %q is engine %s; Ferry acts only on the engine that runs an environment's containers",
		in.Vars.Service, in.Vars.Env, in.Engine, host, id), ErrTypeEngineMismatch, nil)
}
