package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
)

// lockSignalLimit makes the EnvLock continue as new well before its history gets heavy: each signal costs
// about five events (the signal, a workflow task, the signals it sends). LockInput.SignalLimit overrides it.
const lockSignalLimit = 400

// GetVersion change IDs of EnvLock.
const (
	// livenessChange: the lock checks that its holder still runs (a timer re-armed every selector round).
	livenessChange = "lock-holder-liveness"
	// checkDeadlineChange: the liveness check has one deadline that signals do not push back. Asked when a
	// run starts, so a run keeps one behaviour; a run that started before it adopts it at its next
	// continue-as-new.
	checkDeadlineChange = "lock-holder-check-deadline"
	// regrantChange: a holder asking again from another run (continued as new, or reset) is granted again,
	// since that run may not know it holds the environment. Asked when a run starts.
	regrantChange = "lock-regrant-holder-from-new-run"
	// awaitSignalsChange: the lock waits for the signals it sent before it continues as new, because the
	// server drops a signal whose sender has closed. Asked when a run is about to continue as new with
	// signals in flight, so a run that started before the change adopts it at once.
	awaitSignalsChange = "lock-await-signals-before-continue-as-new"
	// commitOrderChange: two releases that both know their commit time are ordered by it, not by when they
	// started. Asked the first time two requests with distinct commit times are compared, so a running lock
	// adopts it at once, and a run whose history compared such requests by start (on an older worker) keeps
	// doing so.
	commitOrderChange = "lock-order-by-commit-time"
	// keepDeployedChange: before the liveness check frees a holder that has ended, the lock handles the
	// release signals that have arrived, so the Deployed version of a holder that released just before it
	// ended is kept as stable. Asked only when a check finds its holder gone.
	keepDeployedChange = "lock-keep-deployed-of-freed-holder"
	// asyncCheckChange: the liveness check runs beside the selector loop and reports back through a
	// channel, so a check that retries for minutes never holds up grants. Asked when a run starts.
	asyncCheckChange = "lock-holder-check-async"
	// orderKeyChange: a release that knows its commit time and one that does not are ordered by one key
	// (the commit time when known, else the start), so "newer" stays transitive. Asked the first time two
	// such requests are compared.
	orderKeyChange = "lock-order-by-one-key"
	// adoptImageChange: an adopt without an image is ignored. Asked only when such an adopt arrives.
	adoptImageChange = "lock-adopt-needs-image"
)

// EnvLock serialises deploys to one service environment (workflow ID EnvLockWorkflowID). Releases ask for
// it with SignalLockAcquire (signal-with-start), are granted it in order with SignalLockGranted, report
// with SignalLockStage whether they wait at the gate, and give it back with SignalLockRelease.
//
// Supersede: when a newer release asks, older releases still queued, and the holder if it waits at its
// gate, get SignalSuperseded and leave. A holder that deploys is never interrupted; the newer release
// waits for it. An older release that asks while a newer one holds or waits is superseded at once. "Newer"
// orders releases by one key: the commit time when the release has one (LockRequest.CommitTime), so a re-run
// of an old CI job never replaces a later commit, and otherwise its start; equal keys by start.
//
// The lock also remembers the last version that completed in the environment (the stable one), which it
// hands to the next holder; SignalLockAdopt sets it for an environment Ferry did not deploy.
//
// A release is known by its workflow ID: the lock signals its current run, and counts it as running while
// any run of that ID is open (a release ID is never reused, so a later run is the same release continued).
//
// It runs for as long as the service exists, continuing as new to bound its history. It never continues as
// new while a signal it sent is still in flight.
func EnvLock(ctx workflow.Context, in LockInput) error {
	st := in.State
	if st == nil {
		st = &LockState{}
	}
	if err := workflow.SetQueryHandler(ctx, QueryLock, func() (LockState, error) { return *st, nil }); err != nil {
		return err
	}
	limit := in.SignalLimit
	if limit <= 0 {
		limit = lockSignalLimit
	}
	l := &envLock{st: st, service: in.Service, env: in.Env,
		regrant:       workflow.GetVersion(ctx, regrantChange, workflow.DefaultVersion, 1) == 1,
		checkDeadline: workflow.GetVersion(ctx, checkDeadlineChange, workflow.DefaultVersion, 1) == 1,
	}
	l.asyncCheck = l.checkDeadline && workflow.GetVersion(ctx, asyncCheckChange, workflow.DefaultVersion, 1) == 1
	l.checks = workflow.NewChannel(ctx)
	acquire := workflow.GetSignalChannel(ctx, SignalLockAcquire)
	stage := workflow.GetSignalChannel(ctx, SignalLockStage)
	release := workflow.GetSignalChannel(ctx, SignalLockRelease)
	l.releases = release
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
			l.onRelease(ctx, s)
		})
		sel.AddReceive(adopt, func(c workflow.ReceiveChannel, _ bool) {
			var s LockAdoptSignal
			c.Receive(ctx, &s)
			l.onAdopt(ctx, s)
		})
		if l.asyncCheck {
			sel.AddReceive(l.checks, func(c workflow.ReceiveChannel, _ bool) {
				var res holderCheck
				c.Receive(ctx, &res)
				l.onCheck(ctx, res)
			})
		}
		stopTimer := func() {}
		if l.checkDeadline {
			l.scheduleHolderCheck(ctx, sel)
		} else {
			stopTimer = l.watchHolder(ctx, sel)
		}
		sel.Select(ctx)
		stopTimer()
		l.grant(ctx)
		if handled >= limit || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			l.drain(ctx, sel)
			return workflow.NewContinueAsNewError(ctx, EnvLockWorkflow, LockInput{Service: in.Service, Env: in.Env, State: st, SignalLimit: in.SignalLimit})
		}
	}
}

// drain handles what has arrived, so no signal to the lock is lost across the new run, and waits until
// every signal the lock sent has been delivered or has failed, so none from the lock is lost either: the
// server drops a signal whose sender has closed. Signals that arrive while it waits are handled too, so it
// returns, and the run continues as new, only in a workflow task that has nothing pending and nothing in
// flight.
func (l *envLock) drain(ctx workflow.Context, sel workflow.Selector) {
	for {
		for sel.HasPending() {
			sel.Select(ctx)
			l.grant(ctx)
		}
		if l.inFlight == 0 ||
			workflow.GetVersion(ctx, awaitSignalsChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return
		}
		if err := workflow.Await(ctx, func() bool { return l.inFlight == 0 }); err != nil {
			return // cancelled: nothing more to wait for
		}
	}
}

// LockLivenessInterval is how often a lock with waiters checks that its holder still runs.
const LockLivenessInterval = time.Minute

// scheduleHolderCheck keeps one liveness timer while releases wait behind a holder and adds it to sel: a
// release that was terminated never gives the lock back. The deadline (LockState.HolderCheckAt) is set
// once, when the wait begins or the last check ends; signals arriving in between do not push it back, so
// a busy lock checks as often as an idle one. With nobody waiting there is nothing to check.
func (l *envLock) scheduleHolderCheck(ctx workflow.Context, sel workflow.Selector) {
	st := l.st
	if l.checking {
		return // the running check re-arms the deadline when it reports
	}
	if st.Holder == nil || len(st.Queue) == 0 {
		if l.checkTimer != nil {
			l.cancelCheck()
			l.checkTimer, l.cancelCheck = nil, nil
		}
		st.HolderCheckAt = time.Time{}
		return
	}
	if l.checkTimer == nil {
		now := workflow.Now(ctx)
		if st.HolderCheckAt.IsZero() {
			st.HolderCheckAt = now.Add(LockLivenessInterval)
		}
		// A deadline carried over continue-as-new may have passed; a timer needs a positive duration.
		d := max(st.HolderCheckAt.Sub(now), time.Second)
		tctx, cancel := workflow.WithCancel(ctx)
		l.checkTimer = workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: "is the lock holder still running?"})
		l.cancelCheck = cancel
	}
	sel.AddFuture(l.checkTimer, func(f workflow.Future) {
		l.checkTimer, l.cancelCheck = nil, nil
		st.HolderCheckAt = time.Time{}
		if f.Get(ctx, nil) != nil || st.Holder == nil {
			return
		}
		if l.asyncCheck {
			l.startCheck(ctx, st.Holder)
			return
		}
		l.checkHolder(ctx, st.Holder)
	})
}

// holderCheck is what a liveness check found out about the holder it checked.
type holderCheck struct {
	WorkflowID string
	RunID      string
	Running    bool
	Failed     bool // the check itself failed: nothing is known
}

// startCheck asks whether holder h still runs, beside the selector loop: the activity retries for minutes
// while the server is away, and grants, releases and supersedes go on meanwhile. The answer comes back on
// l.checks, which the loop hands to onCheck.
func (l *envLock) startCheck(ctx workflow.Context, h *LockRequest) {
	l.checking = true
	req := *h
	workflow.Go(ctx, func(ctx workflow.Context) {
		var running bool
		in := activities.WorkflowRunningInput{WorkflowID: req.WorkflowID, RunID: req.RunID}
		actx := withOptions(ctx, "check that "+req.Version+" still runs", 30*time.Second, 0, lockRetry)
		err := workflow.ExecuteActivity(actx, temporalActs.WorkflowRunning, in).Get(ctx, &running)
		if err != nil {
			workflow.GetLogger(ctx).Warn("check lock holder", "workflow", req.WorkflowID, "error", err)
		}
		l.checks.Send(ctx, holderCheck{WorkflowID: req.WorkflowID, RunID: req.RunID, Running: running, Failed: err != nil})
	})
}

// onCheck frees the lock when the check found that the release it checked still holds it and has ended. A
// check that failed tries again at the next deadline.
func (l *envLock) onCheck(ctx workflow.Context, res holderCheck) {
	l.checking = false
	h := l.st.Holder
	if res.Failed || res.Running || h == nil || h.WorkflowID != res.WorkflowID {
		return
	}
	l.freeHolder(ctx, h)
}

// watchHolder arms a timer, while releases wait behind a holder, after which the lock checks that the holder
// still runs. It returns the timer's cancel. Runs from before checkDeadlineChange use it: every selector
// round re-arms it, so a lock signalled more often than LockLivenessInterval never checks.
func (l *envLock) watchHolder(ctx workflow.Context, sel workflow.Selector) workflow.CancelFunc {
	h := l.st.Holder
	if h == nil || len(l.st.Queue) == 0 ||
		workflow.GetVersion(ctx, livenessChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return func() {}
	}
	tctx, cancel := workflow.WithCancel(ctx)
	timer := workflow.NewTimerWithOptions(tctx, LockLivenessInterval, workflow.TimerOptions{
		Summary: "is " + h.Version + " still running?",
	})
	sel.AddFuture(timer, func(f workflow.Future) {
		if f.Get(ctx, nil) == nil {
			l.checkHolder(ctx, h)
		}
	})
	return cancel
}

// checkHolder frees the lock if its holder h has ended without releasing it. WorkflowRunning counts any
// open run of h's workflow ID, so a holder that continued as new keeps the lock.
func (l *envLock) checkHolder(ctx workflow.Context, h *LockRequest) {
	var running bool
	in := activities.WorkflowRunningInput{WorkflowID: h.WorkflowID, RunID: h.RunID}
	actx := withOptions(ctx, "check that "+h.Version+" still runs", 30*time.Second, 0, lockRetry)
	if err := workflow.ExecuteActivity(actx, temporalActs.WorkflowRunning, in).Get(ctx, &running); err != nil {
		workflow.GetLogger(ctx).Warn("check lock holder", "workflow", h.WorkflowID, "error", err)
		return // try again at the next interval
	}
	if !running && l.st.Holder == h {
		l.freeHolder(ctx, h)
	}
}

// freeHolder frees the lock of holder h, which has ended. A release gives the lock back (with the version it
// deployed) before it ends, so that signal may have arrived while the check ran: it is handled first, and the
// deployed version becomes stable rather than being dropped with the holder (since keepDeployedChange).
func (l *envLock) freeHolder(ctx workflow.Context, h *LockRequest) {
	if workflow.GetVersion(ctx, keepDeployedChange, workflow.DefaultVersion, 1) == 1 {
		for {
			var s LockReleaseSignal
			if !l.releases.ReceiveAsync(&s) {
				break
			}
			l.onRelease(ctx, s)
		}
	}
	if l.st.Holder != h {
		return // it gave the lock back after all
	}
	workflow.GetLogger(ctx).Warn("lock holder ended without releasing; freeing the lock", "workflow", h.WorkflowID)
	l.st.Holder, l.st.AtGate = nil, false
}

type envLock struct {
	st      *LockState
	service string
	env     string

	regrant       bool // regrantChange
	checkDeadline bool // checkDeadlineChange

	asyncCheck bool // asyncCheckChange

	inFlight    int             // signals sent and not yet delivered or failed
	checkTimer  workflow.Future // the pending liveness timer (checkDeadline), nil when none
	cancelCheck workflow.CancelFunc
	checking    bool                    // a liveness check runs (asyncCheck)
	checks      workflow.Channel        // results of liveness checks (asyncCheck)
	releases    workflow.ReceiveChannel // SignalLockRelease, drained before a gone holder is freed
}

func (l *envLock) onAcquire(ctx workflow.Context, req *LockRequest) {
	st := l.st
	if st.Holder != nil && st.Holder.WorkflowID == req.WorkflowID {
		if l.regrant && req.RunID != st.Holder.RunID {
			// The holder asks from a new run (continued as new, or reset): that run may not know it holds
			// the environment, so it is told again. A release ignores a grant it does not wait for.
			st.Holder.RunID = req.RunID
			l.signal(ctx, st.Holder, SignalLockGranted, LockGrantedSignal{Env: l.env, Stable: st.Stable})
		}
		return // otherwise a retried request from the holder
	}
	for _, q := range st.Queue {
		if q.WorkflowID == req.WorkflowID {
			if l.regrant {
				q.RunID = req.RunID
			}
			return // a retried request from a waiter
		}
	}
	// An older release arriving after a newer one has nothing left to do here.
	if newest := l.newest(ctx); newest != nil && l.newer(ctx, newest, req) {
		l.supersede(ctx, req, newest)
		return
	}
	kept := st.Queue[:0]
	for _, q := range st.Queue {
		if l.newer(ctx, req, q) {
			l.supersede(ctx, q, req)
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

// onRelease takes the lock back from its holder, or a waiter out of the queue. A holder's Deployed becomes
// the stable version, stamped with the time the lock learnt of it (Artifact.DeployedAt).
func (l *envLock) onRelease(ctx workflow.Context, s LockReleaseSignal) {
	st := l.st
	if st.Holder != nil && st.Holder.WorkflowID == s.WorkflowID {
		st.Holder, st.AtGate = nil, false
		if s.Deployed != nil {
			d := *s.Deployed
			d.DeployedAt = workflow.Now(ctx)
			st.Stable = &d
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
// later releases with Deployed replaces it as usual. An adopt without a version is ignored, and so (since
// adoptImageChange) is one without an image: a rollback to it would have nothing to deploy.
func (l *envLock) onAdopt(ctx workflow.Context, s LockAdoptSignal) {
	if s.Stable.Version == "" {
		workflow.GetLogger(ctx).Warn("adopt without a version ignored", "identity", s.Identity)
		return
	}
	if s.Stable.Image == "" && workflow.GetVersion(ctx, adoptImageChange, workflow.DefaultVersion, 1) == 1 {
		workflow.GetLogger(ctx).Warn("adopt without an image ignored", "version", s.Stable.Version, "identity", s.Identity)
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
		if l.newer(ctx, q, h) {
			l.supersede(ctx, h, q)
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

// newest is the newest release (see newer) holding or waiting for the lock.
func (l *envLock) newest(ctx workflow.Context) *LockRequest {
	n := l.st.Holder
	for _, q := range l.st.Queue {
		if n == nil || l.newer(ctx, q, n) {
			n = q
		}
	}
	return n
}

// newer reports whether release a is newer than release b: committed later when both know their commit
// time and the times differ (since commitOrderChange), otherwise started later. When only one of them knows
// its commit time (since orderKeyChange), each is placed by its order key, the commit time when known and the
// start otherwise, and then by start: one key for every release keeps "newer" transitive, so the newest of a
// queue does not depend on the order in which it is compared.
func (l *envLock) newer(ctx workflow.Context, a, b *LockRequest) bool {
	if l.byCommitTime(ctx, a, b) {
		return a.CommitTime.After(b.CommitTime)
	}
	if a.CommitTime.IsZero() != b.CommitTime.IsZero() &&
		workflow.GetVersion(ctx, orderKeyChange, workflow.DefaultVersion, 1) == 1 {
		if ka, kb := orderKey(a), orderKey(b); !ka.Equal(kb) {
			return ka.After(kb)
		}
	}
	return a.StartedAt.After(b.StartedAt)
}

// orderKey places a release in time: its commit time when it knows it, else its start (a commit is never
// later than the start of its release).
func orderKey(r *LockRequest) time.Time {
	if !r.CommitTime.IsZero() {
		return r.CommitTime
	}
	return r.StartedAt
}

// byCommitTime reports whether a and b are ordered by commit time. The GetVersion call happens only when
// both carry distinct commit times: requests from before the change carry none, so replaying their history
// never asks, and a run that decided by start order before keeps doing so.
func (l *envLock) byCommitTime(ctx workflow.Context, a, b *LockRequest) bool {
	if a.CommitTime.IsZero() || b.CommitTime.IsZero() || a.CommitTime.Equal(b.CommitTime) {
		return false
	}
	return workflow.GetVersion(ctx, commitOrderChange, workflow.DefaultVersion, 1) == 1
}

// supersede tells req that the newer release by replaces it, and why by counts as newer when commit times
// decided it.
func (l *envLock) supersede(ctx workflow.Context, req, by *LockRequest) {
	sig := SupersededSignal{By: by.Version}
	if by.CommitTime.IsZero() != req.CommitTime.IsZero() && !orderKey(by).Equal(orderKey(req)) &&
		workflow.GetVersion(ctx, orderKeyChange, workflow.DefaultVersion, 1) == 1 {
		sig.Reason = mixedOrderReason(by, req)
	}
	if l.byCommitTime(ctx, by, req) {
		sig.Reason = fmt.Sprintf("%s was committed later (%s) than %s (%s)", by.Version,
			by.CommitTime.UTC().Format(time.RFC3339), req.Version, req.CommitTime.UTC().Format(time.RFC3339))
		if by.StartedAt.Before(req.StartedAt) {
			sig.Reason += ", though " + req.Version + " started later"
		}
	}
	l.signal(ctx, req, SignalSuperseded, sig)
}

// mixedOrderReason says why by counts as newer than req when only one of them knows its commit time.
func mixedOrderReason(by, req *LockRequest) string {
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	if !by.CommitTime.IsZero() {
		return fmt.Sprintf("%s was committed (%s) after %s started (%s)", by.Version, at(by.CommitTime), req.Version, at(req.StartedAt))
	}
	return fmt.Sprintf("%s started (%s) after %s was committed (%s)", by.Version, at(by.StartedAt), req.Version, at(req.CommitTime))
}

// signal tells a release something, without waiting for it in the selector loop: a release that has closed
// needs nothing more, so a failure is only logged. It counts the signal in flight until it is delivered or
// fails (see drain).
//
// It addresses the release's current run (an empty run ID), so a release that continued as new still hears
// it. Runs from before that sent to the run ID of the request; the change needs no GetVersion, because the
// SDK matches a recorded signal by workflow ID and signal name only, and the commands are otherwise the
// same.
func (l *envLock) signal(ctx workflow.Context, req *LockRequest, name string, arg any) {
	f := workflow.SignalExternalWorkflow(ctx, req.WorkflowID, "", name, arg)
	l.inFlight++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { l.inFlight-- }()
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("signal release", "workflow", req.WorkflowID, "signal", name, "error", err)
		}
	})
}
