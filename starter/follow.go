package starter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/workflows"
)

// DefaultReconnectTimeout is how long a follower rides out an outage of Temporal unless told otherwise.
const DefaultReconnectTimeout = 2 * time.Minute

// followRead bounds each read of a follower that needs no worker. Within it the SDK retries a Temporal that
// does not answer; past it the follower counts an outage, says so, and tries again with its own backoff.
const followRead = 5 * time.Second

// Backoff between attempts to reach Temporal again: it starts at firstRetry and doubles up to maxRetry.
const (
	firstRetry = 500 * time.Millisecond
	maxRetry   = 10 * time.Second
)

// FollowOptions say how Follow follows a release.
type FollowOptions struct {
	// Interval is the time between two status polls; zero means a second.
	Interval time.Duration
	// ReconnectTimeout bounds one outage of Temporal: past it the follower gives up with a *LostError. Zero
	// means DefaultReconnectTimeout.
	ReconnectTimeout time.Duration
	// OnReconnect, if set, hears of each failed attempt during an outage, and once of its end.
	OnReconnect func(Outage)
}

// Outage is a loss of Temporal while following a release, as FollowOptions.OnReconnect hears of it.
type Outage struct {
	// Since is when the first call of the outage failed.
	Since time.Time
	// Attempt counts the failed calls of the outage, from 1. Zero means Temporal answers again.
	Attempt int
	// Retry is the wait before the next attempt, and Left how long the follower tries before it gives up.
	Retry, Left time.Duration
	// Err is the latest failure.
	Err error
}

// LostError says Temporal stayed unreachable past the reconnect timeout while a release was followed. The
// release itself lives on the server and may well go on.
type LostError struct {
	Run Run
	// For is how long Temporal was unreachable.
	For time.Duration
	// Last is the release's last known status; its State is empty when none was seen.
	Last workflows.Status
	Err  error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("lost Temporal for %s while following %s %s: %v", e.For.Round(time.Second), e.Run.Service, e.Run.Version, e.Err)
}

func (e *LostError) Unwrap() error { return e.Err }

// backoff is the wait before attempt n+1 to reach Temporal after n failed ones (n >= 1): firstRetry, doubling
// up to maxRetry.
func backoff(n int) time.Duration {
	d := firstRetry
	for i := 1; i < n && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}

// permanent reports an error that asking again cannot change: no such release, a request the server refuses
// as malformed or not allowed, or ctx's own end. A follower reports it; every other error it rides out.
func permanent(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	var (
		notFound     *NotFoundError
		srvNotFound  *serviceerror.NotFound
		denied       *serviceerror.PermissionDenied
		invalid      *serviceerror.InvalidArgument
		nsNotAllowed *serviceerror.NamespaceInvalidState
	)
	return errors.As(err, &notFound) || errors.As(err, &srvNotFound) || errors.As(err, &denied) ||
		errors.As(err, &invalid) || errors.As(err, &nsNotAllowed)
}

// workerTrouble reports an error that says no worker answered for the release, or the one that did failed
// to: the server says no worker polls its queue (as it does for a while after it restarted), the query timed
// out, or the worker failed it. The release is durable and its outcome does not depend on a worker answering
// now, so a follower keeps watching.
func workerTrouble(err error) bool {
	var (
		noWorker     *NoWorkerError
		queryFailed  *serviceerror.QueryFailed
		precondition *serviceerror.FailedPrecondition
	)
	return errors.As(err, &noWorker) || errors.As(err, &queryFailed) || errors.As(err, &precondition)
}

// follower rides out outages of Temporal for one follow.
type follower struct {
	run   Run
	opts  FollowOptions
	since time.Time
	tries int
	// last is the latest status seen, for a *LostError.
	last workflows.Status
}

func newFollower(run Run, opts FollowOptions) *follower {
	if opts.ReconnectTimeout <= 0 {
		opts.ReconnectTimeout = DefaultReconnectTimeout
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	return &follower{run: run, opts: opts}
}

// do calls fn until it returns nil, a permanent error or worker trouble, waiting between attempts, and
// returns its error: any other error (an outage of Temporal, or one the follower cannot place) is tried
// again, for no error that Temporal may answer differently a moment later is the release's outcome. Past the
// reconnect timeout it returns a *LostError, and once ctx is done ctx's error.
func (f *follower) do(ctx context.Context, fn func(ctx context.Context) error) error {
	for {
		began := time.Now()
		err := fn(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil || permanent(ctx, err) || workerTrouble(err) {
			f.answered()
			return err
		}
		wait, lost := f.failed(err, began, time.Now())
		if lost != nil {
			return lost
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// failed counts an attempt that began at began and failed at now, and returns the wait before the next one, or
// a *LostError once the outage has lasted the reconnect timeout. An outage begins with its first failed attempt:
// that one may have waited out most of a read bound.
func (f *follower) failed(err error, began, now time.Time) (time.Duration, *LostError) {
	if f.tries == 0 {
		f.since = began
	}
	f.tries++
	gone := now.Sub(f.since)
	left := f.opts.ReconnectTimeout - gone
	if left <= 0 {
		return 0, &LostError{Run: f.run, For: gone, Last: f.last, Err: err}
	}
	wait := min(backoff(f.tries), left)
	if f.opts.OnReconnect != nil {
		f.opts.OnReconnect(Outage{Since: f.since, Attempt: f.tries, Retry: wait, Left: left, Err: err})
	}
	return wait, nil
}

// answered ends the outage, if any.
func (f *follower) answered() {
	if f.tries == 0 {
		return
	}
	if f.opts.OnReconnect != nil {
		f.opts.OnReconnect(Outage{Since: f.since})
	}
	f.tries = 0
}

// Watch polls run every interval and calls fn with each status until the release ends or ctx is done. It
// returns the last status; on ctx's end also ctx's error. While no worker answers (a worker restart), it keeps
// watching and reports the last known status with Waiting saying so, and so it does while the worker fails the
// status query (the outcome does not depend on it). While Temporal does not answer (a server
// restart), or answers with an error that is not permanent, it tries again with backoff for up to
// DefaultReconnectTimeout, and then returns a *LostError: no such error is taken for the release's outcome.
func Watch(ctx context.Context, c client.Client, run Run, interval time.Duration, fn func(workflows.Status)) (workflows.Status, error) {
	return newFollower(run, FollowOptions{Interval: interval}).watch(ctx, c, fn)
}

func (f *follower) watch(ctx context.Context, c client.Client, fn func(workflows.Status)) (workflows.Status, error) {
	t := time.NewTicker(f.opts.Interval)
	defer t.Stop()
	for {
		var st workflows.Status
		err := f.do(ctx, func(ctx context.Context) error {
			var err error
			var run Run
			st, run, err = statusOf(ctx, c, f.run, followRead)
			if err == nil {
				f.run = run // the latest run: the first may pass retention while the release goes on
			}
			return err
		})
		var (
			noWorker    *NoWorkerError
			queryFailed *serviceerror.QueryFailed
		)
		switch {
		case errors.As(err, &noWorker):
			// The release is durable: a worker restart does not end it, so neither does the watch.
			st = f.stale()
			st.Waiting = "a worker (" + noWorker.Error() + "; the release resumes when one runs)"
		case errors.As(err, &queryFailed):
			// The worker failed to answer, again and again: the release's outcome does not depend on it.
			st = f.stale()
			st.Waiting = "a status answer (the worker failed the status query: " + queryFailed.Message + ")"
		case err != nil && workerTrouble(err):
			st = f.stale()
			st.Waiting = "a worker (" + err.Error() + "; the release resumes when one runs)"
		case err != nil:
			return f.last, err
		default:
			f.last = st
		}
		fn(st)
		if st.State != workflows.StateRunning {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}

// stale is the last status seen, for when no fresh one is to be had while the release runs.
func (f *follower) stale() workflows.Status {
	st := f.last
	st.Service, st.Version, st.State = f.run.Service, f.run.Version, workflows.StateRunning
	return st
}

// Follow watches run as Watch does, every opts.Interval, until it ends, and returns its ReleaseResult as Wait
// does: with an *OutcomeError when the release did not succeed. Outages of Temporal are ridden out for up to
// opts.ReconnectTimeout each, telling opts.OnReconnect. A *LostError or ctx's error means the outcome is
// unknown; the release goes on without the follower.
func Follow(ctx context.Context, c client.Client, run Run, opts FollowOptions, fn func(workflows.Status)) (workflows.ReleaseResult, error) {
	f := newFollower(run, opts)
	if _, err := f.watch(ctx, c, fn); err != nil {
		return workflows.ReleaseResult{}, err
	}
	run = f.run // the run the watch saw end
	var res workflows.ReleaseResult
	var outcome *OutcomeError
	err := f.do(ctx, func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, followRead)
		defer cancel()
		var err error
		res, err = Wait(wctx, c, run)
		if errors.As(err, &outcome) {
			return nil
		}
		return err
	})
	if err != nil {
		return workflows.ReleaseResult{}, err
	}
	if outcome != nil {
		return res, outcome
	}
	return res, nil
}
