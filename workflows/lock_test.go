package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
)

// lockHarness runs one EnvLock and records what it tells releases: "signal workflowID [detail]".
type lockHarness struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	mu      sync.Mutex
	sent    []string
	base    time.Time
	gone    map[string]bool // releases that ended without releasing the lock
	checked []string        // liveness checks: workflow IDs
	runIDs  []string        // the run ID of every signal sent, in order
	// checkTakes is how long each liveness check takes, on the workflow clock.
	checkTakes time.Duration
	// sentAt is the workflow time of every signal sent, in order.
	sentAt []time.Time
}

func newLockHarness(t *testing.T) *lockHarness {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	h := &lockHarness{t: t, env: s.NewTestWorkflowEnvironment(), base: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), gone: map[string]bool{}}
	h.env.SetStartTime(h.base)
	h.env.RegisterWorkflowWithOptions(EnvLock, workflow.RegisterOptions{Name: EnvLockWorkflow})
	h.env.RegisterActivity(&activities.Temporal{})
	h.env.OnActivity(temporalActs.WorkflowRunning, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.WorkflowRunningInput) (bool, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.checked = append(h.checked, in.WorkflowID)
			return !h.gone[in.WorkflowID], nil
		}).AfterFn(func() time.Duration {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.checkTakes
	})
	h.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, workflowID, runID, signal string, arg any) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.runIDs = append(h.runIDs, runID)
			h.sentAt = append(h.sentAt, h.env.Now())
			detail := ""
			switch a := arg.(type) {
			case LockGrantedSignal:
				if a.Stable != nil {
					detail = " stable=" + a.Stable.Version
				}
			case SupersededSignal:
				detail = " by=" + a.By
				if a.Reason != "" {
					detail += " (" + a.Reason + ")"
				}
			}
			h.sent = append(h.sent, signal+" "+workflowID+detail)
			return nil
		})
	return h
}

// req is a release of version v started minute m after the base time.
func (h *lockHarness) req(v string, m int) LockRequest {
	return LockRequest{WorkflowID: "r-" + v, RunID: "run", Version: v, StartedAt: h.base.Add(time.Duration(m) * time.Minute)}
}

// at sends a signal at workflow time d.
func (h *lockHarness) at(d time.Duration, name string, arg any) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(name, arg) }, d)
}

func (h *lockHarness) run(until time.Duration) LockState {
	var st LockState
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(QueryLock)
		if err != nil {
			h.t.Fatalf("query lock: %v", err)
		}
		if err := v.Get(&st); err != nil {
			h.t.Fatal(err)
		}
		h.env.CancelWorkflow()
	}, until)
	h.env.ExecuteWorkflow(EnvLock, LockInput{Service: "checkout", Env: "production"})
	return st
}

func (h *lockHarness) want(want ...string) {
	h.t.Helper()
	if got, w := strings.Join(h.sent, "\n"), strings.Join(want, "\n"); got != w {
		h.t.Errorf("signals sent:\ngot:\n%s\n\nwant:\n%s", got, w)
	}
}

func TestEnvLockGrantsInOrderAndRemembersStable(t *testing.T) {
	h := newLockHarness(t)
	h.at(time.Second, SignalLockAcquire, h.req("1.0", 0))
	h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.0", AtGate: false})
	h.at(3*time.Second, SignalLockAcquire, h.req("1.1", 1))
	h.at(4*time.Second, SignalLockAcquire, h.req("1.1", 1)) // a retried request changes nothing
	h.at(5*time.Second, SignalLockRelease, LockReleaseSignal{WorkflowID: "r-1.0", Deployed: &Artifact{Version: "1.0"}})
	st := h.run(time.Minute)
	h.want("lock-granted r-1.0", "lock-granted r-1.1 stable=1.0")
	if st.Holder == nil || st.Holder.Version != "1.1" || len(st.Queue) != 0 || st.Stable.Version != "1.0" {
		t.Errorf("state: got %+v", st)
	}
	if want := h.base.Add(5 * time.Second); !st.Stable.DeployedAt.Equal(want) {
		t.Errorf("stable since: got %v, want %v (when 1.0 gave the lock back)", st.Stable.DeployedAt, want)
	}
}

func TestEnvLockSupersedes(t *testing.T) {
	tests := []struct {
		name    string
		signals []any
		want    []string
	}{
		{
			name: "holder at gate",
			signals: []any{
				h0(SignalLockAcquire, "1.0", 0), stage("1.0", true), h0(SignalLockAcquire, "1.1", 1),
			},
			want: []string{"lock-granted r-1.0", "superseded r-1.0 by=1.1"},
		},
		{
			name: "holder reaches the gate after a newer release queued",
			signals: []any{
				h0(SignalLockAcquire, "1.0", 0), h0(SignalLockAcquire, "1.1", 1), stage("1.0", true),
			},
			want: []string{"lock-granted r-1.0", "superseded r-1.0 by=1.1"},
		},
		{
			name: "holder deploying is never interrupted, older waiters are",
			signals: []any{
				h0(SignalLockAcquire, "1.0", 0), stage("1.0", false),
				h0(SignalLockAcquire, "1.1", 1), h0(SignalLockAcquire, "1.2", 2),
			},
			want: []string{"lock-granted r-1.0", "superseded r-1.1 by=1.2"},
		},
		{
			name: "an older release arriving late",
			signals: []any{
				h0(SignalLockAcquire, "1.2", 2), stage("1.2", false), h0(SignalLockAcquire, "1.1", 1),
			},
			want: []string{"lock-granted r-1.2", "superseded r-1.1 by=1.2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLockHarness(t)
			for i, s := range tt.signals {
				sig := s.(lockSignal)
				arg := sig.arg
				if r, ok := arg.(LockRequest); ok {
					r.StartedAt = h.base.Add(r.StartedAt.Sub(time.Time{}))
					arg = r
				}
				h.at(time.Duration(i+1)*time.Second, sig.name, arg)
			}
			h.run(time.Minute)
			h.want(tt.want...)
		})
	}
}

type lockSignal struct {
	name string
	arg  any
}

// h0 is an acquire of version v started m minutes after the harness base time.
func h0(name, v string, m int) lockSignal {
	return lockSignal{name, LockRequest{WorkflowID: "r-" + v, RunID: "run", Version: v, StartedAt: time.Time{}.Add(time.Duration(m) * time.Minute)}}
}

func stage(v string, atGate bool) lockSignal {
	return lockSignal{SignalLockStage, LockStageSignal{WorkflowID: "r-" + v, AtGate: atGate}}
}

func TestEnvLockContinuesAsNewWithState(t *testing.T) {
	const limit = 20
	h := newLockHarness(t)
	for i := 0; i < 15; i++ {
		v := fmt.Sprintf("1.%d", i)
		h.at(time.Duration(2*i+1)*time.Second, SignalLockAcquire, h.req(v, i))
		h.at(time.Duration(2*i+2)*time.Second, SignalLockRelease, LockReleaseSignal{WorkflowID: "r-" + v, Deployed: &Artifact{Version: v}})
	}
	h.env.ExecuteWorkflow(EnvLock, LockInput{Service: "checkout", Env: "production", SignalLimit: limit})
	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("got %v, want continue-as-new after %d signals", err, limit)
	}
	var next LockInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	// 20 signals: 10 full acquire/release pairs; the state carries the last deployed version.
	if next.State == nil || next.State.Stable == nil || next.State.Stable.Version != "1.9" || next.State.Holder != nil {
		t.Errorf("carried state: got %+v", next.State)
	}
	if next.SignalLimit != limit {
		t.Errorf("carried signal limit: got %d, want %d", next.SignalLimit, limit)
	}
}

func TestEnvLockFreesTheLockOfAReleaseThatIsGone(t *testing.T) {
	h := newLockHarness(t)
	h.gone["r-1.0"] = true // terminated while holding the lock
	h.at(time.Second, SignalLockAcquire, h.req("1.0", 0))
	h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.0", AtGate: false})
	h.at(3*time.Second, SignalLockAcquire, h.req("1.1", 1))
	st := h.run(5 * time.Minute)
	h.want("lock-granted r-1.0", "lock-granted r-1.1")
	if st.Holder == nil || st.Holder.Version != "1.1" {
		t.Errorf("holder: got %+v, want 1.1", st.Holder)
	}
	if len(h.checked) != 1 {
		t.Errorf("liveness checks: got %q, want one (no waiters after the grant)", h.checked)
	}
}

func TestEnvLockKeepsTheLockOfARunningHolder(t *testing.T) {
	h := newLockHarness(t)
	h.at(time.Second, SignalLockAcquire, h.req("1.0", 0))
	h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.0", AtGate: false})
	h.at(3*time.Second, SignalLockAcquire, h.req("1.1", 1))
	st := h.run(5*time.Minute + 30*time.Second)
	h.want("lock-granted r-1.0")
	if st.Holder.Version != "1.0" || len(st.Queue) != 1 {
		t.Errorf("state: got holder %+v queue %d, want 1.0 holding and 1.1 waiting", st.Holder, len(st.Queue))
	}
	if len(h.checked) != 5 {
		t.Errorf("liveness checks in 5m30s: got %d, want 5 (one a minute)", len(h.checked))
	}
}

func TestEnvLockAdoptSetsStable(t *testing.T) {
	h := newLockHarness(t)
	adopt := func(v, image string) LockAdoptSignal {
		return LockAdoptSignal{Stable: Artifact{Version: v, Image: image}, Identity: "alice", Reason: "running before Ferry"}
	}
	h.at(time.Second, SignalLockAdopt, adopt("0.9", "reg/checkout:0.9"))
	h.at(2*time.Second, SignalLockAcquire, h.req("1.0", 0))
	h.at(3*time.Second, SignalLockAdopt, adopt("", ""))                            // no version: ignored
	h.at(4*time.Second, SignalLockRelease, LockReleaseSignal{WorkflowID: "r-1.0"}) // rolled back: nothing deployed
	h.at(5*time.Second, SignalLockAcquire, h.req("1.1", 1))
	h.at(6*time.Second, SignalLockRelease, LockReleaseSignal{WorkflowID: "r-1.1", Deployed: &Artifact{Version: "1.1", Image: "reg/checkout:1.1"}})
	h.at(7*time.Second, SignalLockAcquire, h.req("1.2", 2))
	h.at(8*time.Second, SignalLockAdopt, adopt("1.1-hotfix", "reg/checkout@sha256:"+strings.Repeat("a", 64))) // while 1.2 holds; its release overrides it
	h.at(9*time.Second, SignalLockRelease, LockReleaseSignal{WorkflowID: "r-1.2", Deployed: &Artifact{Version: "1.2"}})
	h.at(10*time.Second, SignalLockAcquire, h.req("1.3", 3))
	h.at(11*time.Second, SignalLockRelease, LockReleaseSignal{WorkflowID: "r-1.3"})
	h.at(12*time.Second, SignalLockAdopt, adopt("1.4", "reg/checkout:1.4"))
	h.at(13*time.Second, SignalLockAdopt, adopt("1.5", "")) // no image: a rollback to it could deploy nothing
	h.at(14*time.Second, SignalLockAcquire, h.req("1.5", 5))
	st := h.run(time.Minute)
	h.want("lock-granted r-1.0 stable=0.9", "lock-granted r-1.1 stable=0.9", "lock-granted r-1.2 stable=1.1",
		"lock-granted r-1.3 stable=1.2", "lock-granted r-1.5 stable=1.4")
	if st.Stable == nil || *st.Stable != (Artifact{Version: "1.4", Image: "reg/checkout:1.4"}) {
		t.Errorf("stable: got %+v, want version 1.4 as adopted", st.Stable)
	}
}

// A lock run from before adoptImageChange takes an adopt without an image, as it did.
func TestEnvLockAdoptWithoutImageBeforeTheChange(t *testing.T) {
	h := newLockHarness(t)
	h.env.OnGetVersion(adoptImageChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	h.at(time.Second, SignalLockAdopt, LockAdoptSignal{Stable: Artifact{Version: "0.9"}, Identity: "alice"})
	h.at(2*time.Second, SignalLockAcquire, h.req("1.0", 0))
	h.run(time.Minute)
	h.want("lock-granted r-1.0 stable=0.9")
}

// A lock signalled more often than its liveness interval still checks on its holder: today's regression
// was a timer that every signal re-armed, so a busy lock never freed a terminated holder.
func TestEnvLockFreesAGoneHolderOnABusyLock(t *testing.T) {
	h := newLockHarness(t)
	h.gone["r-1.0"] = true // terminated while holding the lock
	h.at(time.Second, SignalLockAcquire, h.req("1.0", 0))
	h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.0", AtGate: false})
	h.at(3*time.Second, SignalLockAcquire, h.req("1.1", 1))
	// Every 20 s something arrives: a retried request from the waiter, which changes nothing.
	for d := 20 * time.Second; d < 70*time.Second; d += 20 * time.Second {
		h.at(d, SignalLockAcquire, h.req("1.1", 1))
	}
	// The check is due a minute after 1.1 queued, at 63 s; the retries do not move it.
	st := h.run(70 * time.Second)
	h.want("lock-granted r-1.0", "lock-granted r-1.1")
	if st.Holder == nil || st.Holder.Version != "1.1" {
		t.Errorf("holder: got %+v, want 1.1", st.Holder)
	}
	if got := strings.Join(h.checked, " "); got != "r-1.0" {
		t.Errorf("liveness checks: got %q, want one of r-1.0", got)
	}
	if !st.HolderCheckAt.IsZero() {
		t.Errorf("next check: got %v, want none (nobody waits)", st.HolderCheckAt)
	}
}

// The liveness deadline survives continue-as-new: a lock that continues as new more often than its
// liveness interval still checks on its holder.
func TestEnvLockCarriesTheCheckDeadline(t *testing.T) {
	const limit = 5
	h := newLockHarness(t)
	h.at(time.Second, SignalLockAcquire, h.req("1.0", 0))
	h.at(2*time.Second, SignalLockAcquire, h.req("1.1", 1))
	for i := 3; i <= limit; i++ {
		h.at(time.Duration(i)*time.Second, SignalLockAcquire, h.req("1.1", 1))
	}
	h.env.ExecuteWorkflow(EnvLock, LockInput{Service: "checkout", Env: "production", SignalLimit: limit})
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("got %v, want continue-as-new after %d signals", err, limit)
	}
	var next LockInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	// 1.1 queued at 2 s; the deadline is a minute later, whatever arrived since.
	if want := h.env.Now().Add(-(limit - 2) * time.Second).Add(LockLivenessInterval); next.State == nil || !next.State.HolderCheckAt.Equal(want) {
		t.Errorf("carried check deadline: got %+v, want %v", next.State, want)
	}
}

// A release is addressed by workflow ID, so a release that continued as new still gets its signals, and a
// holder asking again from a new run is granted again.
func TestEnvLockSignalsReleasesByWorkflowID(t *testing.T) {
	h := newLockHarness(t)
	h.at(time.Second, SignalLockAcquire, h.req("1.0", 0))
	h.at(2*time.Second, SignalLockAcquire, h.req("1.0", 0)) // a retry from the same run: nothing
	again := h.req("1.0", 0)
	again.RunID = "run-2"
	h.at(3*time.Second, SignalLockAcquire, again) // the holder continued as new and asks again
	h.at(4*time.Second, SignalLockAcquire, h.req("1.1", 1))
	h.at(5*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.0", AtGate: true})
	st := h.run(time.Minute)
	h.want("lock-granted r-1.0", "lock-granted r-1.0", "superseded r-1.0 by=1.1")
	for i, id := range h.runIDs {
		if id != "" {
			t.Errorf("signal %d: got run ID %q, want empty (the release's current run)", i, id)
		}
	}
	if st.Holder == nil || st.Holder.RunID != "run-2" {
		t.Errorf("holder: got %+v, want r-1.0 with run ID run-2", st.Holder)
	}
}

// commitReq is a release of version v started minute m after the base time and committed hour c after it.
func (h *lockHarness) commitReq(v string, m, c int) LockRequest {
	r := h.req(v, m)
	r.CommitTime = h.base.Add(time.Duration(c) * time.Hour)
	return r
}

// Releases that know their commit time are ordered by it: a re-run of an old CI job, started last, never
// replaces a release committed later; it is superseded itself, with the reason. Without both commit times
// the start order still decides.
func TestEnvLockOrdersByCommitTime(t *testing.T) {
	const later = "1.4.4 was committed later (2026-11-26T12:00:00Z) than 1.4.1 (2026-11-26T11:00:00Z), though 1.4.1 started later"
	tests := []struct {
		name   string
		send   func(h *lockHarness)
		want   []string
		holder string
		queue  []string
	}{
		{
			name: "an older commit asks while a newer one waits at its gate",
			send: func(h *lockHarness) {
				h.at(1*time.Second, SignalLockAcquire, h.commitReq("1.4.4", 0, 2))
				h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.4.4", AtGate: true})
				h.at(3*time.Second, SignalLockAcquire, h.commitReq("1.4.1", 5, 1))
			},
			want:   []string{"lock-granted r-1.4.4", "superseded r-1.4.1 by=1.4.4 (" + later + ")"},
			holder: "1.4.4",
		},
		{
			name: "an older commit asks while a newer one deploys",
			send: func(h *lockHarness) {
				h.at(1*time.Second, SignalLockAcquire, h.commitReq("1.4.4", 0, 2))
				h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.4.4", AtGate: false})
				h.at(3*time.Second, SignalLockAcquire, h.commitReq("1.4.1", 5, 1))
			},
			want:   []string{"lock-granted r-1.4.4", "superseded r-1.4.1 by=1.4.4 (" + later + ")"},
			holder: "1.4.4",
		},
		{
			name: "a newer commit that started earlier replaces an older one at the gate",
			send: func(h *lockHarness) {
				h.at(1*time.Second, SignalLockAcquire, h.commitReq("1.4.1", 5, 1))
				h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.4.1", AtGate: true})
				h.at(3*time.Second, SignalLockAcquire, h.commitReq("1.4.4", 0, 2))
			},
			want:   []string{"lock-granted r-1.4.1", "superseded r-1.4.1 by=1.4.4 (" + later + ")"},
			holder: "1.4.1", // until it leaves the gate and releases
			queue:  []string{"1.4.4"},
		},
		{
			name: "queued: the older commit leaves, whichever asked first",
			send: func(h *lockHarness) {
				h.at(1*time.Second, SignalLockAcquire, h.commitReq("1.0.0", 0, 0))
				h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.0.0", AtGate: false})
				h.at(3*time.Second, SignalLockAcquire, h.commitReq("1.4.4", 1, 2))
				h.at(4*time.Second, SignalLockAcquire, h.commitReq("1.4.1", 5, 1))
			},
			want:   []string{"lock-granted r-1.0.0", "superseded r-1.4.1 by=1.4.4 (" + later + ")"},
			holder: "1.0.0",
			queue:  []string{"1.4.4"},
		},
		{
			name: "one commit time missing: a start after the commit is newer",
			send: func(h *lockHarness) {
				h.at(1*time.Second, SignalLockAcquire, h.commitReq("1.4.4", 0, -1))
				h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.4.4", AtGate: true})
				h.at(3*time.Second, SignalLockAcquire, h.req("1.4.1", 5))
			},
			want: []string{"lock-granted r-1.4.4",
				"superseded r-1.4.4 by=1.4.1 (1.4.1 started (2026-11-26T10:05:00Z) after 1.4.4 was committed (2026-11-26T09:00:00Z))"},
			holder: "1.4.4",
			queue:  []string{"1.4.1"},
		},
		{
			name: "one commit time missing: a commit after the start is newer",
			send: func(h *lockHarness) {
				h.at(1*time.Second, SignalLockAcquire, h.commitReq("1.4.4", 0, 2))
				h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.4.4", AtGate: true})
				h.at(3*time.Second, SignalLockAcquire, h.req("1.4.1", 5))
			},
			want: []string{"lock-granted r-1.4.4",
				"superseded r-1.4.1 by=1.4.4 (1.4.4 was committed (2026-11-26T12:00:00Z) after 1.4.1 started (2026-11-26T10:05:00Z))"},
			holder: "1.4.4",
		},
		{
			// By pairs the old order had a cycle: 1.3 committed after 1.2, 1.2 started after 1.1, 1.1 started
			// after 1.3. One key puts 1.3 first, whichever arrives when.
			name: "mixed commit times: one total order",
			send: func(h *lockHarness) {
				h.at(1*time.Second, SignalLockAcquire, h.req("1.0", 0))
				h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.0", AtGate: false})
				h.at(3*time.Second, SignalLockAcquire, h.req("1.1", 2))
				h.at(4*time.Second, SignalLockAcquire, h.commitReq("1.3", 1, 10))
				h.at(5*time.Second, SignalLockAcquire, h.commitReq("1.2", 3, 5))
			},
			want: []string{"lock-granted r-1.0",
				"superseded r-1.1 by=1.3 (1.3 was committed (2026-11-26T20:00:00Z) after 1.1 started (2026-11-26T10:02:00Z))",
				"superseded r-1.2 by=1.3 (1.3 was committed later (2026-11-26T20:00:00Z) than 1.2 (2026-11-26T15:00:00Z), though 1.2 started later)"},
			holder: "1.0",
			queue:  []string{"1.3"},
		},
		{
			name: "equal commit times: start order",
			send: func(h *lockHarness) {
				h.at(1*time.Second, SignalLockAcquire, h.commitReq("1.4.4", 0, 2))
				h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.4.4", AtGate: true})
				h.at(3*time.Second, SignalLockAcquire, h.commitReq("1.4.4-rebuild", 5, 2))
			},
			want:   []string{"lock-granted r-1.4.4", "superseded r-1.4.4 by=1.4.4-rebuild"},
			holder: "1.4.4",
			queue:  []string{"1.4.4-rebuild"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLockHarness(t)
			tt.send(h)
			st := h.run(time.Minute)
			h.want(tt.want...)
			var queue []string
			for _, q := range st.Queue {
				queue = append(queue, q.Version)
			}
			if st.Holder == nil || st.Holder.Version != tt.holder || strings.Join(queue, " ") != strings.Join(tt.queue, " ") {
				t.Errorf("state: got holder %+v queue %q, want %s and %q", st.Holder, queue, tt.holder, tt.queue)
			}
		})
	}
}

// A lock run from before commitOrderChange keeps ordering by start, commit times or not.
func TestEnvLockBeforeCommitOrderKeepsStartOrder(t *testing.T) {
	h := newLockHarness(t)
	h.env.OnGetVersion(commitOrderChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	h.at(1*time.Second, SignalLockAcquire, h.commitReq("1.4.4", 0, 2))
	h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.4.4", AtGate: true})
	h.at(3*time.Second, SignalLockAcquire, h.commitReq("1.4.1", 5, 1))
	h.run(time.Minute)
	h.want("lock-granted r-1.4.4", "superseded r-1.4.4 by=1.4.1")
}

// A release from before downgradeChange deploys over a newer stable version, as it did.
func TestDowngradeCheckBeforeTheChange(t *testing.T) {
	h := newHarness(t)
	h.env.OnGetVersion(downgradeChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	h.stable["staging"] = &Artifact{Version: "1.4.4"}
	in := releaseInput(staging())
	in.Version = "1.4.1"
	h.run(in)
	if res, _ := h.result(); res.State != StateSucceeded {
		t.Fatalf("got %s: %s, want succeeded", res.State, res.Reason)
	}
}

// A holder that gives the lock back with the version it deployed, and ends, while a liveness check of it
// runs: the check finds it gone, and the version it deployed must still become stable, or the next release
// would roll back to the one before. Before the fix the check freed the lock first, granted 1.1 with no
// stable version, and then dropped 1.0's release signal as one from a release that no longer held the lock.
func TestEnvLockKeepsTheDeployedVersionOfAHolderTheCheckFrees(t *testing.T) {
	for _, tt := range []struct {
		name  string
		async workflow.Version
		// releaseAt is when 1.0 gives the lock back: the check runs from 63 s to 73 s.
		releaseAt time.Duration
	}{
		{"check in the loop, release during the check", workflow.DefaultVersion, 65 * time.Second},
		{"check beside the loop, release during the check", 1, 65 * time.Second},
		{"check beside the loop, release as the check ends", 1, 73 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newLockHarness(t)
			h.env.OnGetVersion(asyncCheckChange, workflow.DefaultVersion, 1).Return(tt.async)
			h.checkTakes = 10 * time.Second
			h.gone["r-1.0"] = true // it has ended by the time the check asks
			h.at(time.Second, SignalLockAcquire, h.req("1.0", 0))
			h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.0", AtGate: false})
			h.at(3*time.Second, SignalLockAcquire, h.req("1.1", 1))
			h.at(tt.releaseAt, SignalLockRelease, LockReleaseSignal{WorkflowID: "r-1.0", Deployed: &Artifact{Version: "1.0", Image: "reg/checkout@sha256:1"}})
			st := h.run(2 * time.Minute)
			h.want("lock-granted r-1.0", "lock-granted r-1.1 stable=1.0")
			if st.Stable == nil || st.Stable.Version != "1.0" {
				t.Errorf("stable: got %+v, want 1.0", st.Stable)
			}
		})
	}
}

// A liveness check that takes long (the server away, the activity retrying) holds up nothing: the holder's
// release grants the lock to the next waiter at once. Before the fix the check ran inside the selector's
// callback, and the grant waited for it: here ten minutes.
func TestEnvLockGrantsWhileALivenessCheckRuns(t *testing.T) {
	h := newLockHarness(t)
	h.checkTakes = 10 * time.Minute
	h.at(time.Second, SignalLockAcquire, h.req("1.0", 0))
	h.at(2*time.Second, SignalLockStage, LockStageSignal{WorkflowID: "r-1.0", AtGate: false})
	h.at(3*time.Second, SignalLockAcquire, h.req("1.1", 1))
	h.at(70*time.Second, SignalLockRelease, LockReleaseSignal{WorkflowID: "r-1.0", Deployed: &Artifact{Version: "1.0"}})
	h.at(80*time.Second, SignalLockAcquire, h.req("1.2", 2))
	st := h.run(2 * time.Minute)
	h.want("lock-granted r-1.0", "lock-granted r-1.1 stable=1.0")
	if len(h.sentAt) == 2 && !h.sentAt[1].Equal(h.base.Add(70*time.Second)) {
		t.Errorf("grant to 1.1 at %v, want at once when 1.0 released (%v)", h.sentAt[1].Sub(h.base), 70*time.Second)
	}
	if st.Holder == nil || st.Holder.Version != "1.1" || len(st.Queue) != 1 {
		t.Errorf("state: got holder %+v queue %d, want 1.1 holding and 1.2 waiting", st.Holder, len(st.Queue))
	}
}

// optionsSpy records the options of every activity a workflow schedules, by activity type.
type optionsSpy struct {
	interceptor.WorkerInterceptorBase
	mu   sync.Mutex
	seen map[string][]workflow.ActivityOptions
}

func (s *optionsSpy) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &spyInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, spy: s}
}

type spyInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	spy *optionsSpy
}

func (i *spyInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&spyOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, spy: i.spy})
}

type spyOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	spy *optionsSpy
}

func (o *spyOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.spy.mu.Lock()
	o.spy.seen[activityType] = append(o.spy.seen[activityType], workflow.GetActivityOptions(ctx))
	o.spy.mu.Unlock()
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

// An abort while the lock request is on its way waits for the request's activity to end before the release
// gives the lock back: a request that landed after the release signal would leave the lock held by a release
// that is gone, until a liveness check freed it. (The test environment cancels a mocked activity at once,
// so the test checks the option that makes the server wait.)
func TestLockRequestWaitsForCancellation(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version workflow.Version
		want    bool
	}{{"since the change", 1, true}, {"before the change", workflow.DefaultVersion, false}} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			spy := &optionsSpy{seen: map[string][]workflow.ActivityOptions{}}
			h.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{spy}})
			h.env.OnGetVersion(lockRequestWaitsChange, workflow.DefaultVersion, 1).Return(tt.version)
			h.run(releaseInput(staging()))
			reqs := spy.seen["SignalWithStart"]
			if len(reqs) != 1 || reqs[0].WaitForCancellation != tt.want {
				t.Fatalf("lock request options: got %+v, want one with WaitForCancellation %v", reqs, tt.want)
			}
		})
	}
}
