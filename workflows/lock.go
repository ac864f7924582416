package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
)

// lockSignalLimit makes the EnvLock continue as new well before its history gets heavy: each signal costs
// about five events (the signal, a workflow task, the signals it sends).
var lockSignalLimit = 400

// EnvLock serialises deploys to one service environment (workflow ID EnvLockWorkflowID). Releases ask for
// it with SignalLockAcquire (signal-with-start), are granted it in order with SignalLockGranted, report
// with SignalLockStage whether they wait at the gate, and give it back with SignalLockRelease.
//
// Supersede: when a newer release asks, older releases still queued, and the holder if it waits at its
// gate, get SignalSuperseded and leave. A holder that deploys is never interrupted; the newer release
// waits for it. The lock also remembers the last version that completed in the environment (the stable
// one), which it hands to the next holder; SignalLockAdopt sets it for an environment Ferry did not deploy.
//
// It runs for as long as the service exists, continuing as new to bound its history.
func EnvLock(ctx workflow.Context, in LockInput) error {
	st := in.State
	if st == nil {
		st = &LockState{}
	}
	if err := workflow.SetQueryHandler(ctx, QueryLock, func() (LockState, error) { return *st, nil }); err != nil {
		return err
	}
	l := &envLock{st: st, service: in.Service, env: in.Env}
	acquire := workflow.GetSignalChannel(ctx, SignalLockAcquire)
	stage := workflow.GetSignalChannel(ctx, SignalLockStage)
	release := workflow.GetSignalChannel(ctx, SignalLockRelease)
	adopt := workflow.GetSignalChannel(ctx, SignalLockAdopt)

	for handled := 1; ; handled++ {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(acquire, func(c workflow.ReceiveChannel, _ bool) {
			var req LockRequest
			c.Receive(ctx, &req)
			l.onAcquire(ctx, &req)
		})
		sel.AddReceive(stage, func(c workflow.ReceiveChannel, _ bool) {
			var s LockStageSignal
			c.Receive(ctx, &s)
			l.onStage(ctx, s)
		})
		sel.AddReceive(release, func(c workflow.ReceiveChannel, _ bool) {
			var s LockReleaseSignal
			c.Receive(ctx, &s)
			l.onRelease(s)
		})
		sel.AddReceive(adopt, func(c workflow.ReceiveChannel, _ bool) {
			var s LockAdoptSignal
			c.Receive(ctx, &s)
			l.onAdopt(ctx, s)
		})
		stopTimer := l.watchHolder(ctx, sel)
		sel.Select(ctx)
		stopTimer()
		l.grant(ctx)
		if handled >= lockSignalLimit || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Drain what has arrived so no signal is lost across the new run.
			for sel.HasPending() {
				sel.Select(ctx)
				l.grant(ctx)
			}
			return workflow.NewContinueAsNewError(ctx, EnvLockWorkflow, LockInput{Service: in.Service, Env: in.Env, State: st})
		}
	}
}

// lockLivenessInterval is how often a lock with waiters checks that its holder still runs.
const lockLivenessInterval = time.Minute

// livenessChange is the GetVersion change ID under which EnvLock started checking on its holder.
const livenessChange = "lock-holder-liveness"

// watchHolder arms a timer, while releases wait behind a holder, after which the lock checks that the holder
// still runs: a release that was terminated never gives the lock back. It returns the timer's cancel.
func (l *envLock) watchHolder(ctx workflow.Context, sel workflow.Selector) workflow.CancelFunc {
	h := l.st.Holder
	if h == nil || len(l.st.Queue) == 0 ||
		workflow.GetVersion(ctx, livenessChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return func() {}
	}
	tctx, cancel := workflow.WithCancel(ctx)
	timer := workflow.NewTimerWithOptions(tctx, lockLivenessInterval, workflow.TimerOptions{
		Summary: "is " + h.Version + " still running?",
	})
	sel.AddFuture(timer, func(f workflow.Future) {
		if f.Get(ctx, nil) == nil {
			l.checkHolder(ctx, h)
		}
	})
	return cancel
}

// checkHolder frees the lock if its holder h has ended without releasing it.
func (l *envLock) checkHolder(ctx workflow.Context, h *LockRequest) {
	var running bool
	in := activities.WorkflowRunningInput{WorkflowID: h.WorkflowID, RunID: h.RunID}
	actx := withOptions(ctx, "check that "+h.Version+" still runs", 30*time.Second, 0, lockRetry)
	if err := workflow.ExecuteActivity(actx, temporalActs.WorkflowRunning, in).Get(ctx, &running); err != nil {
		workflow.GetLogger(ctx).Warn("check lock holder", "workflow", h.WorkflowID, "error", err)
		return // try again at the next interval
	}
	if !running && l.st.Holder == h {
		workflow.GetLogger(ctx).Warn("lock holder ended without releasing; freeing the lock", "workflow", h.WorkflowID)
		l.st.Holder, l.st.AtGate = nil, false
	}
}

type envLock struct {
	st      *LockState
	service string
	env     string
}

func (l *envLock) onAcquire(ctx workflow.Context, req *LockRequest) {
	st := l.st
	if st.Holder != nil && st.Holder.WorkflowID == req.WorkflowID {
		return // a retried request from the holder
	}
	for _, q := range st.Queue {
		if q.WorkflowID == req.WorkflowID {
			return // a retried request from a waiter
		}
	}
	// An older release arriving after a newer one has nothing left to do here.
	if newest := l.newest(); newest != nil && newest.StartedAt.After(req.StartedAt) {
		l.supersede(ctx, req, newest.Version)
		return
	}
	kept := st.Queue[:0]
	for _, q := range st.Queue {
		if q.StartedAt.Before(req.StartedAt) {
			l.supersede(ctx, q, req.Version)
			continue
		}
		kept = append(kept, q)
	}
	st.Queue = append(kept, req)
	l.supersedeHolderAtGate(ctx)
}

func (l *envLock) onStage(ctx workflow.Context, s LockStageSignal) {
	if l.st.Holder == nil || l.st.Holder.WorkflowID != s.WorkflowID {
		return
	}
	l.st.AtGate = s.AtGate
	l.supersedeHolderAtGate(ctx)
}

func (l *envLock) onRelease(s LockReleaseSignal) {
	st := l.st
	if st.Holder != nil && st.Holder.WorkflowID == s.WorkflowID {
		st.Holder, st.AtGate = nil, false
		if s.Deployed != nil {
			st.Stable = s.Deployed
		}
		return
	}
	kept := st.Queue[:0]
	for _, q := range st.Queue {
		if q.WorkflowID != s.WorkflowID {
			kept = append(kept, q)
		}
	}
	st.Queue = kept
}

// onAdopt records what a person says serves the environment now, for an environment Ferry did not deploy
// (or whose lock lost its state). It changes only Stable: the next grant hands it out, and a holder that
// later releases with Deployed replaces it as usual. An adopt without a version is ignored.
func (l *envLock) onAdopt(ctx workflow.Context, s LockAdoptSignal) {
	if s.Stable.Version == "" {
		workflow.GetLogger(ctx).Warn("adopt without a version ignored", "identity", s.Identity)
		return
	}
	a := s.Stable
	l.st.Stable = &a
	workflow.GetLogger(ctx).Info("stable version adopted", "version", a.Version, "image", a.Image,
		"identity", s.Identity, "reason", s.Reason)
}

// supersedeHolderAtGate tells a holder waiting at its gate that a newer release is queued. The holder
// decides: if it has already left the gate, it ignores the signal and keeps the lock until it is done.
func (l *envLock) supersedeHolderAtGate(ctx workflow.Context) {
	h := l.st.Holder
	if h == nil || !l.st.AtGate {
		return
	}
	for _, q := range l.st.Queue {
		if q.StartedAt.After(h.StartedAt) {
			l.supersede(ctx, h, q.Version)
			l.st.AtGate = false // signalled once; the holder releases when it leaves
			return
		}
	}
}

// grant hands the environment to the first waiter when it is free.
func (l *envLock) grant(ctx workflow.Context) {
	st := l.st
	if st.Holder != nil || len(st.Queue) == 0 {
		return
	}
	st.Holder, st.Queue, st.AtGate = st.Queue[0], st.Queue[1:], false
	l.signal(ctx, st.Holder, SignalLockGranted, LockGrantedSignal{Env: l.env, Stable: st.Stable})
}

// newest is the latest-started release holding or waiting for the lock.
func (l *envLock) newest() *LockRequest {
	n := l.st.Holder
	for _, q := range l.st.Queue {
		if n == nil || q.StartedAt.After(n.StartedAt) {
			n = q
		}
	}
	return n
}

func (l *envLock) supersede(ctx workflow.Context, req *LockRequest, by string) {
	l.signal(ctx, req, SignalSuperseded, SupersededSignal{By: by})
}

// signal tells a release something, without waiting: a release that has closed needs nothing more.
func (l *envLock) signal(ctx workflow.Context, req *LockRequest, name string, arg any) {
	signalAsync(ctx, req.WorkflowID, req.RunID, name, arg)
}
