package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
)

// contractRun is what a contract did by the end of a run of it: whether it contracted, when, and its status
// at statusAt (a time after the contract started).
type contractRun struct {
	contracted bool
	after      time.Duration
	status     ContractStatus
}

// runContract runs a contract whose migration completed at 1h by signal, approved at 2h (minAge is 72h),
// with setup applied first; at statusAt it reads the status, at change (if any) it applies change, and at
// end it cancels what still waits.
func runContract(t *testing.T, c *contractEnv, signal ContractSignal, statusAt, change time.Duration, fn func(), end time.Duration) contractRun {
	t.Helper()
	start := c.env.Now()
	var out contractRun
	c.env.RegisterDelayedCallback(func() { c.env.SignalWorkflow(SignalContractCompleted, signal) }, time.Hour)
	c.env.RegisterDelayedCallback(func() { c.update(ContractApproveInput{Identity: "dba"}) }, 2*time.Hour)
	c.env.RegisterDelayedCallback(func() { out.status = c.status(t) }, statusAt)
	if fn != nil {
		c.env.RegisterDelayedCallback(func() { c.set(fn) }, change)
	}
	c.env.RegisterDelayedCallback(func() {
		if !c.env.IsWorkflowCompleted() {
			c.env.CancelWorkflow()
		}
	}, end)
	c.env.ExecuteWorkflow(Contract, contractInput(start))
	var done activities.ContractDone
	if err := c.env.GetWorkflowResult(&done); err == nil {
		out.contracted, out.after = true, done.ContractedAt.Sub(start)
	}
	return out
}

// TestContractWaitsWhileAnUnorderedVersionRuns is the acceptance case: build-42 completes the migration while
// production still runs build-41. Neither is a semantic version and production's lock knows no commit time
// for build-41, so nothing proves build-41 no older: the contract waits, saying so, until build-41 is gone.
// Before contractOrderChange it ran at minAge (72h), with build-41 serving production.
func TestContractWaitsWhileAnUnorderedVersionRuns(t *testing.T) {
	c := newContractEnv(t)
	commit := c.env.Now().Add(-24 * time.Hour)
	c.running["staging"], c.running["production"] = "build-42", "build-41"
	c.locks[EnvLockWorkflowID("checkout", "production")] = activities.DeployedVersions{Stable: &activities.DeployedVersion{Version: "build-41"}}
	got := runContract(t, c, ContractSignal{Version: "build-42", CommitTime: commit, Service: "checkout"},
		75*time.Hour, 80*time.Hour, func() { c.running["production"] = "build-42" }, 100*time.Hour)
	if !got.contracted || got.after < 80*time.Hour || got.after > 80*time.Hour+contractRecheck+time.Minute {
		t.Errorf("contracted %v after %s, want just after build-41 left production at 80h", got.contracted, got.after)
	}
	want := "cannot prove that build-41, which runs in production, is not older than build-42: they are not both " +
		"semantic versions, and the environment lock of production records no commit time for build-41"
	if got.status.Reason != want || got.status.State.OldGone {
		t.Errorf("status at 75h: got reason %q (old gone %v), want %q", got.status.Reason, got.status.State.OldGone, want)
	}
}

// TestContractOrdersByCommitTime: versions that are not semantic versions are ordered by commit times, the
// running one's from its environment lock; without the completing release's commit time nothing is proved.
func TestContractOrdersByCommitTime(t *testing.T) {
	base := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		completing time.Time
		lock       activities.DeployedVersions
		running    string
		contracted bool
		reason     string
	}{
		{"committed before", base, activities.DeployedVersions{Stable: &activities.DeployedVersion{Version: "build-41", CommitTime: base.Add(-time.Hour)}},
			"build-41", false, "production still runs build-41, committed 2026-12-01T11:00:00Z, before build-42's 2026-12-01T12:00:00Z"},
		{"committed after, the lock's holder", base, activities.DeployedVersions{
			Stable: &activities.DeployedVersion{Version: "build-42", CommitTime: base},
			Holder: &activities.DeployedVersion{Version: "build-43", CommitTime: base.Add(time.Hour)}},
			"build-43", true, ""},
		{"no commit time for the completing version", time.Time{}, activities.DeployedVersions{Stable: &activities.DeployedVersion{Version: "build-43", CommitTime: base}},
			"build-43", false, "the release of build-42 gave no commit time (ferry start --commit-time)"},
		{"semantic version against a tag", base, activities.DeployedVersions{}, "1.4.1", false, "records no commit time for 1.4.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newContractEnv(t)
			c.running["staging"], c.running["production"] = "build-42", tt.running
			c.locks[EnvLockWorkflowID("checkout", "production")] = tt.lock
			got := runContract(t, c, ContractSignal{Version: "build-42", CommitTime: tt.completing}, 73*time.Hour, 0, nil, 74*time.Hour)
			if got.contracted != tt.contracted {
				t.Errorf("contracted: got %v (after %s), want %v", got.contracted, got.after, tt.contracted)
			}
			if !tt.contracted && !strings.Contains(got.status.Reason, tt.reason) {
				t.Errorf("reason: got %q, want it to say %q", got.status.Reason, tt.reason)
			}
		})
	}
}

// TestContractSeesOneStaleContainer: the platform's current version is the majority's, 1.4.2, but one
// container of production's stable track still runs 1.4.1: the contract waits for it. Before
// contractOrderChange it asked Current, and ran at minAge.
func TestContractSeesOneStaleContainer(t *testing.T) {
	c := newContractEnv(t)
	c.running["staging"], c.running["production"] = "1.4.2", "1.4.2"
	ct := func(name, v string) activities.ObservedContainer {
		return activities.ObservedContainer{Name: name, Version: v, State: "running"}
	}
	stale := activities.Observation{Known: true,
		Tracks:  []activities.ObservedTrack{{Track: TrackStable, Containers: []activities.ObservedContainer{ct("a", "1.4.2"), ct("b", "1.4.2"), ct("c", "1.4.1")}}},
		Serving: []activities.Share{{Version: "1.4.2", Percent: 100}}}
	c.observed["production"] = stale
	got := runContract(t, c, ContractSignal{Version: "1.4.2"}, 74*time.Hour, 76*time.Hour, func() { delete(c.observed, "production") }, 90*time.Hour)
	if !got.contracted || got.after < 76*time.Hour {
		t.Errorf("contracted %v after %s, want after the stale container left at 76h", got.contracted, got.after)
	}
	if want := "production still runs 1.4.1, older than 1.4.2 (by semantic version)"; got.status.Reason != want {
		t.Errorf("status at 74h: got %q, want %q", got.status.Reason, want)
	}
}

// TestContractRefusedUntilBackfillRecorded is the acceptance case: the release that ran the backfill failed
// at key 500 in production, and a later one completed the migration. The contract refuses, naming the
// backfill and where it stopped, until production's database records the backfill finished. Before
// contractBackfillChange it ran at minAge and dropped the column the rows above 500 had not been copied from.
func TestContractRefusedUntilBackfillRecorded(t *testing.T) {
	c := newContractEnv(t)
	c.running["staging"], c.running["production"] = "1.4.2", "1.4.2"
	c.backfills["production"] = activities.BackfillRecord{Cursor: "500"}
	got := runContract(t, c, ContractSignal{Version: "1.4.2"}, 80*time.Hour, 85*time.Hour,
		func() { c.backfills["production"] = activities.BackfillRecord{Done: true, Cursor: "1000"} }, 100*time.Hour)
	if !got.contracted || got.after < 85*time.Hour || got.after > 85*time.Hour+contractRecheck+time.Minute {
		t.Errorf("contracted %v after %s, want just after the backfill was recorded finished at 85h", got.contracted, got.after)
	}
	want := "contract add-email-verified refused: its backfill add-email-verified (table users) did not finish in production (stopped at key 500)"
	if !strings.HasPrefix(got.status.Reason, want) || got.status.State.BackfillDone {
		t.Errorf("status at 80h: got %q, want it to begin %q", got.status.Reason, want)
	}
	if w := strings.Join(got.status.Waiting, "; "); !strings.Contains(w, "the backfill of add-email-verified to be recorded finished") {
		t.Errorf("status at 80h: waiting for %q, want the backfill among it", w)
	}
	for _, req := range c.requests {
		if req.Service != "checkout" {
			t.Errorf("contract request in %s: got service %q, want checkout (its record is the service's)", req.Env, req.Service)
		}
	}
}

// TestContractIgnoresAnotherServicesCompletion: a release of orders, whose migration has the same name and
// database, signals the contract of checkout (as a release of orders reached it before contract IDs named the
// service). The contract does not count it.
func TestContractIgnoresAnotherServicesCompletion(t *testing.T) {
	c := newContractEnv(t)
	c.running["staging"], c.running["production"] = "1.4.2", "1.4.2"
	got := runContract(t, c, ContractSignal{Version: "1.4.2", Service: "orders"}, 80*time.Hour, 0, nil, 100*time.Hour)
	if got.contracted {
		t.Fatalf("contract of checkout ran after %s on a completion by orders", got.after)
	}
	if got.status.State.CompletedBy != "" || got.status.Phase != ContractWaiting {
		t.Errorf("status: got %s completed by %q, want waiting for a completing release of checkout", got.status.Phase, got.status.State.CompletedBy)
	}
}

// TestContractBegunBeforeTheChecksRenews: a run begun before contractOrderChange (its GetVersion answers the
// default version) continues as new when it comes to check what runs, instead of checking the old way, which
// would have passed build-41 and run the contract.
func TestContractBegunBeforeTheChecksRenews(t *testing.T) {
	c := newContractEnv(t)
	for _, id := range []string{contractOrderChange, contractBackfillChange, migrationServiceChange} {
		c.env.OnGetVersion(id, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	}
	c.running["staging"], c.running["production"] = "build-42", "build-41"
	got := runContract(t, c, ContractSignal{Version: "build-42"}, 71*time.Hour, 0, nil, 100*time.Hour)
	if got.contracted || len(c.contracted) > 0 {
		t.Fatalf("contract ran in %q after %s, want it to continue as new before it checks", c.contracted, got.after)
	}
	var can *workflow.ContinueAsNewError
	if err := c.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("got %v, want a continue-as-new", err)
	}
	var next ContractInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil || next.State == nil ||
		next.State.CompletedBy != "build-42" || len(next.State.Approvals) != 1 {
		t.Errorf("the next run's input: got %+v (%v), want the completion and the approval carried", next.State, err)
	}
}
