package workflows

import "go.temporal.io/sdk/workflow"

// Release moves one artifact through the service's environments. TODO: being written.
func Release(ctx workflow.Context, in ReleaseInput) (ReleaseResult, error) {
	return ReleaseResult{}, nil
}
