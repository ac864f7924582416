package starter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/workflows"
)

// States lists the values of the FerryState search attribute, in the order the CLI documents them.
var States = []string{
	workflows.StateRunning, workflows.StateSucceeded, workflows.StateFailed, workflows.StateAborted,
	workflows.StateRolledBack, workflows.StateSuperseded,
}

// ListOptions filters List. Zero values match everything.
type ListOptions struct {
	Service string
	// State is one of States.
	State string
	// Limit caps the rows; 0 means 20.
	Limit int
}

// Row is one release as the visibility store sees it (search attributes, not a query of the workflow).
type Row struct {
	Service string `json:"service"`
	Version string `json:"version"`
	State   string `json:"state"`
	Stage   string `json:"stage"`
	Env     string `json:"env,omitempty"`
	// StartTime and CloseTime are named as in a release's status: startedAt, closedAt.
	StartTime  time.Time `json:"startedAt,omitzero"`
	CloseTime  time.Time `json:"closedAt,omitzero"`
	WorkflowID string    `json:"workflowId"`
	RunID      string    `json:"runId"`
}

// Run returns the row's release.
func (r Row) Run() Run {
	return Run{Service: r.Service, Version: r.Version, WorkflowID: r.WorkflowID, RunID: r.RunID}
}

// filter selects Release workflows in the visibility store.
type filter struct {
	service string
	state   string
	// running restricts to open executions (ExecutionStatus), whatever FerryState says.
	running bool
}

// query renders the filter as a visibility query. It has no ORDER BY: the SQL visibility store of `ferry dev`
// rejects one, and every store already returns open executions first, newest start first.
func (f filter) query() string {
	q := []string{fmt.Sprintf("WorkflowType = %s", quote(workflows.ReleaseWorkflow))}
	if f.service != "" {
		q = append(q, fmt.Sprintf("%s = %s", workflows.SearchAttrService, quote(f.service)))
	}
	if f.state != "" {
		q = append(q, fmt.Sprintf("%s = %s", workflows.SearchAttrState, quote(f.state)))
	}
	if f.running {
		q = append(q, `ExecutionStatus = "Running"`)
	} else {
		// A release that continued as new left a closed run behind; its latest run is the release.
		q = append(q, `ExecutionStatus != "ContinuedAsNew"`)
	}
	return strings.Join(q, " AND ")
}

// quote renders s as a double-quoted visibility query literal.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// List returns releases, open ones first, then the most recently closed. More is true when Limit cut the list
// short: more releases match.
func List(ctx context.Context, c client.Client, opts ListOptions) (rows []Row, more bool, err error) {
	if opts.State != "" && !slices.Contains(States, opts.State) {
		return nil, false, &RejectedError{Reason: fmt.Sprintf("unknown state %q (want one of %s)", opts.State, strings.Join(States, ", "))}
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = 20
	}
	// One row more than asked tells a full page from a truncated one.
	rows, err = list(ctx, c, filter{service: opts.Service, state: opts.State}, limit+1)
	if len(rows) > limit {
		return rows[:limit], true, err
	}
	return rows, false, err
}

func list(ctx context.Context, c client.Client, f filter, limit int) ([]Row, error) {
	dc := converter.GetDefaultDataConverter()
	var rows []Row
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         f.query(),
			PageSize:      int32(min(limit-len(rows), 1000)),
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list releases: %w", err)
		}
		for _, info := range resp.GetExecutions() {
			rows = appendRow(rows, rowFromInfo(info, dc))
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 || len(rows) >= limit {
			return rows[:min(len(rows), limit)], nil
		}
	}
}

// appendRow adds r to rows, one row per release: the visibility store lags behind a continue-as-new, and can
// list a release's closed run beside its new one (both as running, for a while). The later start is the
// release's current run.
func appendRow(rows []Row, r Row) []Row {
	for i, o := range rows {
		if o.WorkflowID == r.WorkflowID {
			if r.StartTime.After(o.StartTime) {
				rows[i] = r
			}
			return rows
		}
	}
	return append(rows, r)
}

// rowFromInfo reads a row from the search attributes of one execution. A release that closed without setting
// its final FerryState (terminated, timed out) reports the state its close status implies.
func rowFromInfo(info *workflowpb.WorkflowExecutionInfo, dc converter.DataConverter) Row {
	keyword := keywords(info.GetSearchAttributes(), dc)
	r := Row{
		Service:    keyword(workflows.SearchAttrService),
		Version:    keyword(workflows.SearchAttrVersion),
		State:      keyword(workflows.SearchAttrState),
		Stage:      keyword(workflows.SearchAttrStage),
		Env:        keyword(workflows.SearchAttrEnvironment),
		StartTime:  info.GetStartTime().AsTime(),
		WorkflowID: info.GetExecution().GetWorkflowId(),
		RunID:      info.GetExecution().GetRunId(),
	}
	if info.GetCloseTime() != nil {
		r.CloseTime = info.GetCloseTime().AsTime()
	}
	if status := info.GetStatus(); status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && (r.State == "" || r.State == workflows.StateRunning) {
		r.State = stateOfClosed(status)
	}
	return r
}

// keywords returns a reader of Keyword search attributes in sa; a missing or unreadable one reads "".
func keywords(sa *commonpb.SearchAttributes, dc converter.DataConverter) func(name string) string {
	return func(name string) string {
		var s string
		if p := sa.GetIndexedFields()[name]; p != nil {
			_ = dc.FromPayload(p, &s)
		}
		return s
	}
}

// stateOfClosed maps the close status of a release that did not record its own final state.
func stateOfClosed(status enumspb.WorkflowExecutionStatus) string {
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return workflows.StateSucceeded
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return workflows.StateAborted
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return workflows.StateRunning // the release goes on in its next run
	default:
		return workflows.StateFailed
	}
}

// Resolve finds the release to act on: service at version, or with an empty version the newest running release
// of service. It returns a *NotFoundError when there is none.
func Resolve(ctx context.Context, c client.Client, service, version string) (Run, error) {
	if version != "" {
		return ReleaseRun(service, version), nil
	}
	return newest(ctx, c, filter{service: service, running: true})
}

// Newest is Resolve for read commands: with an empty version it falls back to the newest release of service in
// any state when none is running.
func Newest(ctx context.Context, c client.Client, service, version string) (Run, error) {
	run, err := Resolve(ctx, c, service, version)
	var notFound *NotFoundError
	if errors.As(err, &notFound) {
		return newest(ctx, c, filter{service: service})
	}
	return run, err
}

func newest(ctx context.Context, c client.Client, f filter) (Run, error) {
	rows, err := list(ctx, c, f, 100)
	if err != nil {
		return Run{}, err
	}
	if len(rows) == 0 {
		return Run{}, &NotFoundError{Service: f.service, Running: f.running}
	}
	// Stores order closed executions by close time, and not every store promises an order at all: pick the
	// newest start explicitly.
	best := rows[0]
	for _, r := range rows[1:] {
		if r.StartTime.After(best.StartTime) {
			best = r
		}
	}
	return best.Run(), nil
}
