package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// watchInterval is how often a follow asks the release for its status.
const watchInterval = time.Second

// FollowOptions are the flags of `start --wait` and `status --watch` that bound following a release.
type FollowOptions struct {
	// Timeout bounds the whole follow; zero means none.
	Timeout time.Duration
	// ReconnectTimeout bounds each outage of Temporal during the follow.
	ReconnectTimeout time.Duration
}

// followFlags are --timeout and --reconnect-timeout; with says with which flag they apply.
func followFlags(opts *FollowOptions, with string) []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "timeout", Usage: "with " + with + ", stop following after `DURATION` and exit 8 while the release goes on",
			EnvVars: []string{"FERRY_FOLLOW_TIMEOUT"}, DefaultText: "no limit", Destination: &opts.Timeout},
		&cli.DurationFlag{Name: "reconnect-timeout", Usage: "with " + with + ", keep reconnecting to Temporal for up to `DURATION` after it went away, then exit 3",
			EnvVars: []string{"FERRY_RECONNECT_TIMEOUT"}, Value: starter.DefaultReconnectTimeout, Destination: &opts.ReconnectTimeout},
	}
}

// check refuses negative limits.
func (o FollowOptions) check(command string) error {
	if o.Timeout < 0 {
		return usagef(command, "--timeout is %s, want 0 (no limit) or more", o.Timeout)
	}
	if o.ReconnectTimeout <= 0 {
		return usagef(command, "--reconnect-timeout is %s, want more than 0", o.ReconnectTimeout)
	}
	return nil
}

// stillRunningError says --timeout ran out while the followed release still ran. Following it was all that
// stopped: the release goes on.
type stillRunningError struct {
	run     starter.Run
	timeout time.Duration
	// last is the release's last known status; State is empty when none was seen.
	last workflows.Status
}

func (e *stillRunningError) Error() string {
	s := fmt.Sprintf("%s %s still running after --timeout %s", e.run.Service, e.run.Version, spec.FormatDuration(e.timeout))
	if e.last.State == workflows.StateRunning {
		// The line without the bake countdown, which would be stale by the time anyone reads it.
		where := strings.TrimPrefix(starter.StatusLine(e.last, time.Time{}), e.last.Service+" "+e.last.Version+": ")
		s += " (" + where + ")"
	}
	return s
}

// follow follows run until it ends, calling show with each status and notice with each word about the
// connection to Temporal, and returns the release's result. The error is the release's *starter.OutcomeError
// when it did not succeed, a *stillRunningError when opts.Timeout ran out first, and a *starter.LostError when
// Temporal stayed away past opts.ReconnectTimeout.
func follow(ctx context.Context, c client.Client, run starter.Run, opts FollowOptions, show func(workflows.Status), notice func(string)) (workflows.ReleaseResult, error) {
	fctx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	var last workflows.Status
	res, err := starter.Follow(fctx, c, run, starter.FollowOptions{
		Interval:         watchInterval,
		ReconnectTimeout: opts.ReconnectTimeout,
		OnReconnect:      func(o starter.Outage) { notice(outageText(o)) },
	}, func(st workflows.Status) {
		last = st
		show(st)
	})
	if err != nil && ctx.Err() == nil && errors.Is(fctx.Err(), context.DeadlineExceeded) {
		return res, &stillRunningError{run: run, timeout: opts.Timeout, last: last}
	}
	return res, err
}

// outageText tells of one failed attempt to reach Temporal during an outage, or of its end.
func outageText(o starter.Outage) string {
	if o.Attempt == 0 {
		return fmt.Sprintf("reconnected to Temporal after %s", spec.FormatDuration(time.Since(o.Since).Round(time.Second)))
	}
	return fmt.Sprintf("lost Temporal (%s); reconnecting in %s (attempt %d, giving up in %s)",
		outageCause(o.Err), spec.FormatDuration(o.Retry.Round(100*time.Millisecond)), o.Attempt, spec.FormatDuration(o.Left.Round(time.Second)))
}

// outageCause is why a call failed during an outage, in a few words.
func outageCause(err error) string {
	var deadline *serviceerror.DeadlineExceeded
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline) {
		return "no answer"
	}
	return causeText(err)
}
