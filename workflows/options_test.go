package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/internal/spec"
)

// Every platform activity is waited for when cancelled, so a rollback never starts beside the command it
// cancelled, and heartbeats against a timeout short enough to retry a lost worker's command soon.
func TestPlatformActivitiesWaitForCancellation(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	type got struct {
		Name      string
		Wait      bool
		Heartbeat time.Duration
	}
	env.ExecuteWorkflow(func(ctx workflow.Context) ([]got, error) {
		p := spec.Platform{Exec: &spec.ExecPlatform{}}
		var out []got
		for _, o := range []struct {
			name string
			ctx  workflow.Context
		}{
			{"platform", platformOptions(ctx, p, "deploy")},
			{"rollback", rollbackOptions(ctx, p, "rollback")},
			{"ready", readyOptions(ctx, p, "ready")},
		} {
			opts := workflow.GetActivityOptions(o.ctx)
			out = append(out, got{o.name, opts.WaitForCancellation, opts.HeartbeatTimeout})
		}
		return out, nil
	})
	var res []got
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	for _, g := range res {
		if !g.Wait || g.Heartbeat != commandHeartbeat {
			t.Errorf("%s options: got WaitForCancellation %v, heartbeat timeout %s; want true, %s",
				g.Name, g.Wait, g.Heartbeat, commandHeartbeat)
		}
	}
	if len(res) != 3 {
		t.Errorf("got %d option sets, want 3", len(res))
	}
}
