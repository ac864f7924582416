package workflows

import (
	"github.com/ferryhq/ferry/internal/spec"
)

// rolling replaces the stable set a few replicas at a time. The platform does the rolling (its deploy
// command gets MaxUnavailable and MaxSurge); for the workflow it behaves like recreate: the new version
// serves all traffic once ready, and rollback redeploys the stable version.
type rolling struct{ recreate }

var _ strategy = rolling{}

func init() { strategies[spec.StrategyRolling] = rolling{} }
