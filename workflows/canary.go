package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/internal/spec"
)

// canary runs the new version on a canary track beside stable and moves traffic to it step by step. Each
// step holds its weight for a durable bake while analysis runs (a step without a bake is analysed once);
// a pause step waits for a human, analysis still running. Promote skips ahead (one step, or --full to
// 100 %); pause freezes the bake.
type canary struct{}

var _ strategy = canary{}

func init() { strategies[spec.StrategyCanary] = canary{} }

func (canary) track() string { return TrackCanary }

func (canary) shift(ctx workflow.Context, r *release, e *envRun) error {
	steps := e.spec.Strategy.Steps
	r.status.Steps = len(steps)
	r.setStage(ctx, StageCanary, "")
	for i, step := range steps {
		if r.promoteFull {
			break
		}
		r.status.Step = i + 1
		if step.Pause != nil {
			if err := r.pauseStep(ctx, e, step.Pause); err != nil {
				return err
			}
			continue
		}
		if step.Weight != e.weight {
			if err := r.platformOp(ctx, e, opSetWeight, TrackCanary, step.Weight); err != nil {
				return fmt.Errorf("set weight %d%%: %s", step.Weight, errorMessage(err))
			}
		}
		a := e.spec.Strategy.Analysis
		switch {
		case step.Bake > 0:
			if err := r.bake(ctx, e, step.Bake.D(), a); err != nil {
				return err
			}
		case a != nil && r.onCadence(ctx):
			// A step without a bake still gets its verdict before traffic moves on.
			if err := r.stepVerdict(ctx, e, a); err != nil {
				return err
			}
		}
	}
	if e.weight < 100 {
		r.status.Step = len(steps)
		if err := r.platformOp(ctx, e, opSetWeight, TrackCanary, 100); err != nil {
			return fmt.Errorf("set weight 100%%: %s", errorMessage(err))
		}
	}
	return nil
}

// canaryCleanupChange is the GetVersion change ID under which the canary's cleanup after promotion runs on a
// disconnected context.
const canaryCleanupChange = "canary-cleanup-disconnected"

// finalize makes the canary's version stable, sends all traffic to stable, and removes the canary set.
func (canary) finalize(ctx workflow.Context, r *release, e *envRun) error {
	r.setStage(ctx, StagePromote, "")
	if err := r.promoteTrack(ctx, e, TrackCanary); err != nil {
		return err
	}
	e.promoted = true
	if workflow.GetVersion(ctx, canaryCleanupChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		// The new version is stable now: an abort or a cancel must not leave the canary set half removed.
		ctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	if err := r.platformOp(ctx, e, opSetWeight, TrackCanary, 0); err != nil {
		return fmt.Errorf("promote: route to stable: %s", errorMessage(err))
	}
	r.status.Weight = 100 // the new version is stable now and serves everything
	if err := r.platformOp(ctx, e, opRemove, TrackCanary, 0); err != nil {
		return fmt.Errorf("promote: remove canary: %s", errorMessage(err))
	}
	return nil
}
