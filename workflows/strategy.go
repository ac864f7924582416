package workflows

import "go.temporal.io/sdk/workflow"

// strategy is how a new version replaces the old one in an environment. Each strategy lives in its own file
// and registers itself in strategies, so adding one means adding one file.
//
// The environment pipeline is: deploy the new version on track() → wait until ready → smoke checks →
// shift → e2e checks → verification → finalize. A failure before finalize has made the new version
// stable rolls back.
type strategy interface {
	// track is where the new version runs until it is promoted (stable, canary or preview).
	track() string
	// shift moves traffic to the new version: canary steps, a blue-green switch, or nothing.
	shift(ctx workflow.Context, r *release, e *envRun) error
	// finalize makes the new version the stable one and removes what it replaced. It must set e.promoted
	// once the new version is stable.
	finalize(ctx workflow.Context, r *release, e *envRun) error
}

// strategies maps spec.Strategy.Type to its implementation; filled by each strategy's file.
var strategies = map[string]strategy{}
