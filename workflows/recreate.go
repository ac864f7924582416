package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/internal/spec"
)

// recreate replaces the stable set in place: the platform stops the old version and starts the new one.
// The new version takes all traffic as soon as it is deployed; rollback redeploys the stable version.
type recreate struct{}

var _ strategy = recreate{}

func init() { strategies[spec.StrategyRecreate] = recreate{} }

func (recreate) track() string { return TrackStable }

func (recreate) shift(ctx workflow.Context, r *release, e *envRun) error {
	e.weight, r.status.Weight = 100, 100
	return nil
}

func (recreate) finalize(ctx workflow.Context, r *release, e *envRun) error {
	e.promoted = true
	return nil
}
