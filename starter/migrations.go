package starter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/workflows"
)

// liveBackfill replaces the backfill progress of a running release's status with the latest heartbeat of its
// running backfill activity, which the workflow itself does not see between batches.
func liveBackfill(st *workflows.Status, desc *workflowservice.DescribeWorkflowExecutionResponse) {
	if st.Backfill == nil {
		return
	}
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityType().GetName() != "Backfill" || pa.GetHeartbeatDetails() == nil {
			continue
		}
		var p activities.BackfillProgress
		if converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &p) == nil {
			st.Backfill.Progress = p
		}
	}
}

// maxMigrations bounds how many Contract workflows MigrationStatuses reads.
const maxMigrations = 500

// MigrationStatuses returns the status of every migration that has a Contract workflow (one is started when
// the expand of a migration with a contract first runs), and of every migration whose backfill a running
// release runs, sorted by database, name and service: Contract workflows that run as they answer
// QueryContract, closed ones from their result. A running one that no worker answers shows its phase as
// "unknown".
func MigrationStatuses(ctx context.Context, c client.Client) ([]workflows.ContractStatus, error) {
	out, err := contractStatuses(ctx, c)
	if err != nil {
		return nil, err
	}
	if out, err = addBackfills(ctx, c, out); err != nil {
		return nil, err
	}
	sortMigrations(out)
	return out, nil
}

// contractStatuses returns the status of every Contract workflow, sorted by database, name and service, as
// MigrationStatuses describes it, without the backfills of running releases.
func contractStatuses(ctx context.Context, c client.Client) ([]workflows.ContractStatus, error) {
	var out []workflows.ContractStatus
	var token []byte
	for len(out) < maxMigrations {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: "WorkflowType = '" + workflows.ContractWorkflow + "'", NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list migrations: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			id, runID := e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()
			st := workflows.ContractStatus{Phase: "unknown"}
			st.Service, st.Database, st.Migration, _ = workflows.ParseContractWorkflowID(id)
			switch e.GetStatus() {
			case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
				qctx, cancel := queryContext(ctx, queryTimeout)
				v, err := c.QueryWorkflow(qctx, id, runID, workflows.QueryContract)
				if err == nil {
					_ = v.Get(&st)
				}
				cancel()
			case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
				var done activities.ContractDone
				if err := c.GetWorkflow(ctx, id, runID).Get(ctx, &done); err == nil {
					st.Service, st.Phase, st.Result = done.Service, workflows.ContractContracted, &done
				}
			case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
				continue // its next run is listed too
			default:
				st.Phase = workflows.ContractFailed
				st.Reason = strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))
			}
			st.WorkflowID = id
			out = append(out, st)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	sortMigrations(out)
	return out, nil
}

func sortMigrations(out []workflows.ContractStatus) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].Database != out[j].Database {
			return out[i].Database < out[j].Database
		}
		if out[i].Migration != out[j].Migration {
			return out[i].Migration < out[j].Migration
		}
		return out[i].Service < out[j].Service
	})
}

// addBackfills attaches to each migration still waiting for its contract the backfills that running releases
// run or hold paused, with their latest progress, and adds the migrations without a contract that such a
// backfill belongs to. It reads the statuses of at most 100 running releases.
func addBackfills(ctx context.Context, c client.Client, all []workflows.ContractStatus) ([]workflows.ContractStatus, error) {
	rows, err := list(ctx, c, filter{running: true}, 100)
	if err != nil {
		return nil, err
	}
	running, err := statuses(ctx, c, rows)
	if err != nil {
		return nil, err
	}
	for _, r := range running {
		b := r.Status.Backfill
		if b == nil || b.State == "done" {
			continue
		}
		i := slices.IndexFunc(all, func(st workflows.ContractStatus) bool {
			return st.Service == r.Run.Service && st.Migration == b.Migration
		})
		if i < 0 {
			all = append(all, workflows.ContractStatus{Service: r.Run.Service, Migration: b.Migration, Phase: workflows.ContractNone})
			i = len(all) - 1
		}
		all[i].Backfills = append(all[i].Backfills, workflows.ReleaseBackfill{Version: r.Run.Version, BackfillStatus: *b})
	}
	return all, nil
}

// ContractRef names the migration whose contract ApproveContract approves: Name, and Service and Database where
// several services or databases have a migration of that name (empty when there is one).
type ContractRef struct {
	Service, Database, Name string
}

// ApproveContract approves the contract of the migration ref names. A migration with no running Contract
// workflow, several that ref fits, or one whose workflow refuses to take the approval, is a *RejectedError.
func ApproveContract(ctx context.Context, c client.Client, ref ContractRef, in workflows.ContractApproveInput) (workflows.UpdateResult, error) {
	var res workflows.UpdateResult
	all, err := contractStatuses(ctx, c) // an approval needs no backfill progress
	if err != nil {
		return res, err
	}
	var match []workflows.ContractStatus
	for _, st := range all {
		if st.Migration == ref.Name && (ref.Database == "" || st.Database == ref.Database) && (ref.Service == "" || st.Service == ref.Service) {
			match = append(match, st)
		}
	}
	name := ref.Name
	switch {
	case len(match) == 0:
		return res, &RejectedError{Update: workflows.UpdateApproveContract, Reason: "no migration " + name + " has been expanded (no contract workflow)"}
	case len(match) > 1:
		where := make([]string, len(match))
		for i, m := range match {
			where[i] = m.Service + " in database " + m.Database
		}
		return res, &RejectedError{Update: workflows.UpdateApproveContract, Reason: fmt.Sprintf(
			"migration %s exists for %s: name one with --service and --database", name, strings.Join(where, ", "))}
	case match[0].Phase != workflows.ContractWaiting:
		return res, &RejectedError{Update: workflows.UpdateApproveContract, Reason: fmt.Sprintf(
			"contract %s is %s, not waiting for approval", name, match[0].Phase)}
	}
	err = sendUpdate(ctx, c, match[0].WorkflowID, workflows.UpdateApproveContract, in, &res)
	var rejected *RejectedError
	var noWorker *NoWorkerError
	if err == nil || errors.As(err, &rejected) || errors.As(err, &noWorker) {
		return res, err
	}
	return res, fmt.Errorf("approve contract %s: %w", name, err)
}
