package main

import (
	"context"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// recEngine is the ID of the recorder's Docker engine: every host name of the recorder is that engine.
const recEngine = "rec-engine-a"

// Engine says that the recorder's host is recEngine, on every queue that asks.
func (*recPlatform) Engine(context.Context, activities.PlatformRequest) (activities.EngineResult, error) {
	return activities.EngineResult{ID: recEngine, Host: spec.DefaultDockerHost}, nil
}

// recArtifact stands in for the artifact activities: every image resolves to one digest.
type recArtifact struct{}

func (*recArtifact) Resolve(_ context.Context, in activities.ResolveRequest) (activities.ArtifactResult, error) {
	repo, _, _ := strings.Cut(in.Image, ":")
	digest := "sha256:" + strings.Repeat("e", 64)
	return activities.ArtifactResult{Image: repo + "@" + digest, Digest: digest}, nil
}

// recordEngineBinding records releases on the Docker platform, whose environments are bound to an engine:
// 1.0.0 finds the engine of the workers' host (staging and production each), 1.1.0 binds to the engine the
// lock recorded, and 1.2.0 of another service, whose production runs on an engine no worker reaches (as an
// adopt said), deploys to staging and is refused in production once no worker of that engine took its
// activity in time (30 s).
func recordEngineBinding(ctx context.Context, c client.Client, queue string, p *recPlatform) {
	ew := worker.New(c, activities.EngineQueue(queue, recEngine), worker.Options{DisableWorkflowWorker: true})
	ew.RegisterActivity(p)
	ew.RegisterActivity(&recChecks{})
	if err := ew.Start(); err != nil {
		fatalf("engine queue: %v", err)
	}
	defer ew.Stop()
	const service = "rec-engine"
	release := func(service, version, name string) {
		s := recSpec(service, nil, spec.Environment{Gate: spec.Gate{Auto: true},
			Strategy: spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: spec.Duration(time.Second)}})
		s.Platform = spec.Platform{Docker: &spec.DockerPlatform{Host: spec.DefaultDockerHost, Port: 8080}}
		id := workflows.ReleaseWorkflowID(service, version)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ReleaseWorkflow,
			workflows.ReleaseInput{Spec: s, Version: version, GitSHA: "0123abc", StartedBy: "recorder"})
		if err != nil {
			fatalf("%s: start: %v", id, err)
		}
		_ = run.Get(ctx, nil) // the refused release fails
		writeHistory(ctx, c, id, run.GetRunID(), name)
	}
	release(service, "1.0.0", "engine-bound")
	release(service, "1.1.0", "engine-bound-stable")
	const moved = "rec-engine-moved"
	adopt := workflows.LockAdoptSignal{Identity: "recorder", Stable: workflows.Artifact{Version: "1.1.0",
		Image: "registry.local/" + moved + "@sha256:" + strings.Repeat("d", 64), Engine: "rec-engine-gone"}}
	lock := workflows.EnvLockWorkflowID(moved, "production")
	_, err := c.SignalWithStartWorkflow(ctx, lock, workflows.SignalLockAdopt, adopt,
		client.StartWorkflowOptions{ID: lock, TaskQueue: queue}, workflows.EnvLockWorkflow,
		workflows.LockInput{Service: moved, Env: "production"})
	if err != nil {
		fatalf("adopt: %v", err)
	}
	release(moved, "1.2.0", "engine-refused")
}
