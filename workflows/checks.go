package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// runChecks runs a list of checks one after another; the first failure fails the environment.
func (r *release) runChecks(ctx workflow.Context, e *envRun, kind, track string, checks []spec.Check) error {
	if len(checks) == 0 {
		return nil
	}
	r.setStage(ctx, kind, "")
	for _, c := range checks {
		res, err := r.check(ctx, e, kind, track, c)
		if err != nil {
			return err
		}
		if !res.Passed {
			return fmt.Errorf("%s check %q failed: %s", kind, res.Name, res.Detail)
		}
	}
	return nil
}

// checkRound runs checks in parallel and returns the first failed result, if any.
func (r *release) checkRound(ctx workflow.Context, e *envRun, kind, track string, checks []spec.Check) (*activities.CheckResult, error) {
	futures := make([]workflow.Future, len(checks))
	for i, c := range checks {
		futures[i] = r.startCheck(ctx, e, kind, track, c)
	}
	var failed *activities.CheckResult
	for _, f := range futures {
		var res activities.CheckResult
		if err := f.Get(ctx, &res); err != nil {
			return nil, err
		}
		r.noteCheck(ctx, kind, res)
		if !res.Passed && failed == nil {
			failed = &res
		}
	}
	return failed, nil
}

func (r *release) check(ctx workflow.Context, e *envRun, kind, track string, c spec.Check) (activities.CheckResult, error) {
	var res activities.CheckResult
	if err := r.startCheck(ctx, e, kind, track, c).Get(ctx, &res); err != nil {
		return res, fmt.Errorf("%s check %q: %s", kind, c.Name, errorMessage(err))
	}
	r.noteCheck(ctx, kind, res)
	return res, nil
}

func (r *release) startCheck(ctx workflow.Context, e *envRun, kind, track string, c spec.Check) workflow.Future {
	req := activities.CheckRequest{Check: c, BaseURL: e.spec.URL, Dir: e.exec.Dir, Vars: r.vars(e, track, e.weight)}
	opts := checkOptions(ctx, c, fmt.Sprintf("%s %s: %s", kind, e.spec.Name, c.Name))
	return workflow.ExecuteActivity(opts, checkActs.RunCheck, req)
}

func (r *release) noteCheck(ctx workflow.Context, kind string, res activities.CheckResult) {
	r.status.LastCheck = &CheckStatus{
		Name: res.Name, Kind: kind, Passed: res.Passed, Detail: res.Detail, At: workflow.Now(ctx),
	}
}

// analyze runs one analysis round. A failed round counts against the FailureLimit; past it the step fails.
func (r *release) analyze(ctx workflow.Context, e *envRun, a *spec.Analysis) error {
	failed, err := r.checkRound(ctx, e, "analysis", e.strategy.track(), a.Checks)
	if err != nil {
		return fmt.Errorf("analysis: %s", errorMessage(err))
	}
	if failed == nil {
		return nil
	}
	r.status.AnalysisFailures++
	if r.status.AnalysisFailures > a.FailureLimit {
		return fmt.Errorf("analysis failed at %d%%: %q: %s (%d failed runs, limit %d)",
			e.weight, failed.Name, failed.Detail, r.status.AnalysisFailures, a.FailureLimit)
	}
	return nil
}

// bake holds the current weight for d as a durable timer, running analysis every interval (and at least
// once). ferry pause freezes the remaining bake time (analysis keeps running); ferry promote ends it.
func (r *release) bake(ctx workflow.Context, e *envRun, d time.Duration, a *spec.Analysis) error {
	defer func() { r.status.BakeUntil, r.status.BakeTotal = time.Time{}, 0 }()
	start := workflow.Now(ctx)
	deadline := start.Add(d)
	r.status.BakeTotal = d
	var interval time.Duration
	var nextAnalysis time.Time
	if a != nil {
		interval = orDefault(a.Interval.D(), time.Minute)
		nextAnalysis = start.Add(interval)
	}
	analysed := false
	summary := fmt.Sprintf("bake %s at %d%%", spec.FormatDuration(d), e.weight)
	var pausedAt time.Time
	for {
		now := workflow.Now(ctx)
		if r.promotePending {
			r.promotePending = false
			return nil
		}
		paused := r.status.Paused
		switch {
		case paused && pausedAt.IsZero():
			pausedAt = now
		case !paused && !pausedAt.IsZero():
			deadline = deadline.Add(now.Sub(pausedAt)) // a pause freezes the bake
			pausedAt = time.Time{}
		}
		if !paused && !now.Before(deadline) {
			break
		}
		if paused {
			r.status.BakeUntil = time.Time{}
		} else {
			r.status.BakeUntil = deadline
		}
		r.publish(ctx)

		var wait time.Duration // 0: until a human acts
		if !paused {
			wait = deadline.Sub(now)
		}
		if a != nil && (wait == 0 || nextAnalysis.Sub(now) < wait) {
			wait = max(nextAnalysis.Sub(now), time.Millisecond)
		}
		changed := func() bool { return r.promotePending || r.status.Paused != paused }
		if paused && a != nil && r.analyzeInChild(ctx) {
			// A pause has no end in time: its analysis runs in a child workflow (see analyzeWhilePaused).
			ran, err := r.analyzeWhilePaused(ctx, e, a, &nextAnalysis, changed)
			analysed = analysed || ran
			if err != nil {
				return err
			}
			continue
		}
		var err error
		if wait > 0 {
			_, err = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
				Timeout: wait, TimerOptions: workflow.TimerOptions{Summary: summary},
			}, changed)
		} else {
			err = workflow.Await(ctx, changed)
		}
		if err != nil {
			return err
		}
		if a != nil && !workflow.Now(ctx).Before(nextAnalysis) {
			analysed = true
			if err := r.analyze(ctx, e, a); err != nil {
				return err
			}
			nextAnalysis = workflow.Now(ctx).Add(interval)
		}
	}
	if a != nil && !analysed {
		return r.analyze(ctx, e, a)
	}
	return nil
}

// pauseStep holds a canary step until ferry resume or promote, or for its duration if it has one.
func (r *release) pauseStep(ctx workflow.Context, p *spec.Pause) error {
	r.status.Paused = true
	r.pausedBy = "the spec"
	r.setStage(ctx, StageCanary, "ferry resume or ferry promote")
	defer func() {
		r.status.Paused = false
		r.promotePending = false
		r.status.Waiting = ""
	}()
	done := func() bool { return !r.status.Paused || r.promotePending }
	if d := p.Duration.D(); d > 0 {
		_, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      d,
			TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("pause %s at %d%%", spec.FormatDuration(d), r.status.Weight)},
		}, done)
		return err
	}
	return workflow.Await(ctx, done)
}

// verify watches the new version for the verification window once it serves all traffic, running the
// checks at the start, every interval, and at the end. Any failure rolls back.
func (r *release) verify(ctx workflow.Context, e *envRun, track string) error {
	v := e.spec.Verify
	if v == nil || len(v.Checks) == 0 {
		return nil
	}
	r.setStage(ctx, StageVerify, "")
	deadline := workflow.Now(ctx).Add(v.Window.D())
	interval := orDefault(v.Interval.D(), min(time.Minute, v.Window.D()))
	for {
		failed, err := r.checkRound(ctx, e, StageVerify, track, v.Checks)
		if err != nil {
			return fmt.Errorf("verify: %s", errorMessage(err))
		}
		if failed != nil {
			return fmt.Errorf("verification failed: %q: %s", failed.Name, failed.Detail)
		}
		now := workflow.Now(ctx)
		if !now.Before(deadline) {
			return nil
		}
		wait := min(interval, deadline.Sub(now))
		timer := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{
			Summary: fmt.Sprintf("verify %s for %s", e.spec.Name, spec.FormatDuration(v.Window.D())),
		})
		if err := timer.Get(ctx, nil); err != nil {
			return err
		}
	}
}
