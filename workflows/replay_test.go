package workflows_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/workflows"
)

// The histories are recorded on the embedded Temporal server by `go run ./workflows/internal/record`
// (from the repository root). Only re-record when a change is meant to alter recorded behaviour, and guard
// the old path with workflow.GetVersion so that running releases keep replaying.
const historyDir = "../testdata/histories"

func TestReplayHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(historyDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("got %d recorded histories in %s, want at least 3 (record with -record)", len(files), historyDir)
	}
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.Release, workflow.RegisterOptions{Name: workflows.ReleaseWorkflow})
	replayer.RegisterWorkflowWithOptions(workflows.EnvLock, workflow.RegisterOptions{Name: workflows.EnvLockWorkflow})
	replayer.RegisterWorkflowWithOptions(workflows.PausedAnalysis, workflow.RegisterOptions{Name: workflows.PausedAnalysisWorkflow})
	logger := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := replayer.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Errorf("replay %s: %v", f, err)
			}
		})
	}
}
