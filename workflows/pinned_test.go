package workflows

import (
	"testing"
	"time"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// TestReleasePassesPinnedDigests: the expand request carries the expand file's pinned digest, and the signal
// that completes the migration carries the contract's; a release that pinned none sends none.
func TestReleasePassesPinnedDigests(t *testing.T) {
	for _, pinned := range []bool{true, false} {
		h := migrationHarness(t, func(activities.BackfillRequest) (activities.BackfillProgress, error) {
			return activities.BackfillProgress{Done: true}, nil
		})
		in := releaseInput(staging())
		in.Spec.Migrations = []spec.Migration{addEmailVerified()}
		in.Spec.Requires = []string{"add-email-verified"}
		in.Spec.Completes = []string{"add-email-verified"}
		wantExpand, wantContract := "", ""
		if pinned {
			wantExpand, wantContract = "e1e1", "c2c2"
			in.MigrationDigests = map[string]string{
				MigrationDigestKey("add-email-verified", DigestExpand):   wantExpand,
				MigrationDigestKey("add-email-verified", DigestContract): wantContract,
			}
		}
		h.run(in)
		if len(h.expandRequests) != 1 || h.expandRequests[0].Digest != wantExpand {
			t.Errorf("pinned %v: expand requests %+v, want one with digest %q", pinned, h.expandRequests, wantExpand)
		}
		var completed []string
		for _, req := range h.contractRequests {
			if req.Signal == SignalContractCompleted {
				sig, _ := req.SignalArg.(map[string]any) // the activity's input, decoded
				d, _ := sig["contractDigest"].(string)
				completed = append(completed, d)
			}
		}
		if len(completed) != 1 || completed[0] != wantContract {
			t.Errorf("pinned %v: completion signals carry contract digests %q, want [%q]", pinned, completed, wantContract)
		}
	}
}

// TestContractRunsTheCompletingReleasesDigest: the Contract activity gets the contract digest of the release
// that completed the migration, in every environment.
func TestContractRunsTheCompletingReleasesDigest(t *testing.T) {
	c := newContractEnv(t)
	c.running["staging"], c.running["production"] = "1.4.2", "1.4.2"
	run := runContract(t, c, ContractSignal{Version: "1.4.2", ContractDigest: "c2c2"}, 3*time.Hour, 0, nil, 100*time.Hour)
	if !run.contracted || len(c.requests) != 2 {
		t.Fatalf("contracted %v with requests %+v, want both environments", run.contracted, c.requests)
	}
	for _, req := range c.requests {
		if req.Digest != "c2c2" {
			t.Errorf("contract in %s: digest %q, want c2c2", req.Env, req.Digest)
		}
	}
	if run.status.State.ContractDigest != "c2c2" {
		t.Errorf("status: contract digest %q, want c2c2", run.status.State.ContractDigest)
	}
}
