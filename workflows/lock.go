package workflows

import "go.temporal.io/sdk/workflow"

// EnvLock serialises deploys to one service environment. TODO: being written.
func EnvLock(ctx workflow.Context, in LockInput) error {
	return nil
}
