package workflows_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
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
	replayer.RegisterWorkflowWithOptions(workflows.Contract, workflow.RegisterOptions{Name: workflows.ContractWorkflow})
	ids := historyIDs(t)
	logger := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			h, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatalf("read %s: %v", f, err)
			}
			opts := worker.ReplayWorkflowHistoryOptions{}
			if id := ids[filepath.Base(f)]; id != "" {
				opts.OriginalExecution = workflow.Execution{ID: id}
			}
			if err := replayer.ReplayWorkflowHistoryWithOptions(logger, h, opts); err != nil {
				t.Errorf("replay %s: %v", f, err)
			}
		})
	}
}

// historyIDs reads the workflow ID each history was recorded under (histories recorded before the file
// existed replay under the replayer's default ID, which they do not depend on).
func historyIDs(t *testing.T) map[string]string {
	data, err := os.ReadFile(filepath.Join(historyDir, "workflow-ids.tsv"))
	if err != nil {
		t.Fatalf("read the workflow IDs of the histories: %v", err)
	}
	ids := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		file, id, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("workflow-ids.tsv: bad line %q", line)
		}
		ids[file] = id
	}
	return ids
}
