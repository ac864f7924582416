package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/internal/spec"
)

// blueGreen runs the new version as a full preview set beside the stable one, switches all traffic to it
// at once, and keeps the old set for ScaleDownDelay after promotion: an abort meanwhile switches all traffic
// back to it in one routing change (observedChange). With analysis configured, it watches the switched
// traffic for FailureLimit+1 intervals before promoting (after the metrics' initialDelay, under
// failClosedChange), and the watch must end with a judged measurement of every metric (requireEvidence).
type blueGreen struct{}

var _ strategy = blueGreen{}

func init() { strategies[spec.StrategyBlueGreen] = blueGreen{} }

func (blueGreen) track() string { return TrackPreview }

func (blueGreen) shift(ctx workflow.Context, r *release, e *envRun) error {
	r.setStage(ctx, StageSwitch, "")
	if err := r.platformOp(ctx, e, opSetWeight, TrackPreview, 100); err != nil {
		return fmt.Errorf("switch: %s", errorMessage(err))
	}
	a := e.spec.Strategy.Analysis
	if a == nil {
		return nil
	}
	watch := time.Duration(a.FailureLimit+1) * orDefault(a.Interval.D(), time.Minute)
	if len(a.Metrics) > 0 && r.failsClosed(ctx) {
		watch += a.InitialDelay.D() // the intervals count once metrics may be measured
	}
	return r.bake(ctx, e, watch, a)
}

func (blueGreen) finalize(ctx workflow.Context, r *release, e *envRun) error {
	r.setStage(ctx, StagePromote, "")
	if err := r.promoteTrack(ctx, e, TrackPreview); err != nil {
		return err
	}
	e.promoted = true
	if e.stable == nil {
		return nil
	}
	delay := orDefault(e.spec.Strategy.ScaleDownDelay.D(), 30*time.Second)
	e.abortable = e.promoting
	r.setStage(ctx, StageScaleDown, "")
	timer := workflow.NewTimerWithOptions(ctx, delay, workflow.TimerOptions{
		Summary: fmt.Sprintf("keep %s %s for %s", e.spec.Name, e.stable.Version, spec.FormatDuration(delay)),
	})
	err := timer.Get(ctx, nil)
	e.abortable = false
	if err != nil && e.promoting && r.abort != nil {
		// Aborted while the old set is kept: switch back to it. The rollback routes to it in one change.
		e.promoted = false
		return err
	}
	if err != nil {
		if !temporal.IsCanceledError(err) ||
			workflow.GetVersion(ctx, scaleDownOnCancelChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return err
		}
		// Cancelled while the old set waits: no one will switch back to it through this release, so scale it
		// down now rather than leave it running.
		ctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	old := r.vars(e, TrackPrevious, 0)
	old.Version, old.Image = e.stable.Version, e.stable.Image
	if err := r.platformOpVars(ctx, e, opRemove, old); err != nil {
		return fmt.Errorf("scale down %s: %s (%s may still run on the %s track)",
			e.stable.Version, errorMessage(err), e.stable.Version, TrackPrevious)
	}
	return nil
}

// scaleDownOnCancelChange is the GetVersion change ID under which a cancel during the scale-down delay still
// scales the old set down, on a disconnected context.
const scaleDownOnCancelChange = "blue-green-scale-down-on-cancel"
