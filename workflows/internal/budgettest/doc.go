// Package budgettest measures real Release histories on the embedded Temporal server against the worst-case
// estimate that validation enforces (spec.EstimateHistory), and checks that a release continues as new
// between environments and that a paused step's analysis stays out of the release's history. It has tests
// only.
package budgettest
