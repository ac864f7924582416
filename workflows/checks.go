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
	req := activities.CheckRequest{Check: c, BaseURL: e.spec.URL, Dir: e.checkDir(), Vars: r.vars(e, track, e.weight)}
	opts := checkOptions(ctx, c, fmt.Sprintf("%s %s: %s", kind, e.spec.Name, c.Name))
	if spec.ReachesTrack(c, e.spec.URL) {
		// The check probes the track's replicas directly, not the router's mix of versions: from a worker of
		// the engine that runs them.
		p := e.request(req.Vars)
		req.Platform = &p
		opts = e.onEngine(opts)
	}
	return workflow.ExecuteActivity(opts, checkActs.RunCheck, req)
}

func (r *release) noteCheck(ctx workflow.Context, kind string, res activities.CheckResult) {
	r.status.LastCheck = &CheckStatus{
		Name: res.Name, Kind: kind, Passed: res.Passed, Detail: res.Detail, At: workflow.Now(ctx),
	}
}

// analyze runs one analysis round: the checks, then the metrics. A failed round of checks counts against
// the FailureLimit; past it the step fails. Metrics apply their own limits (see measureRound).
func (r *release) analyze(ctx workflow.Context, e *envRun, a *spec.Analysis) error {
	failed, err := r.checkRound(ctx, e, "analysis", e.strategy.track(), a.Checks)
	if err != nil {
		return fmt.Errorf("analysis: %s", errorMessage(err))
	}
	if failed != nil {
		r.status.AnalysisFailures++
		if r.status.AnalysisFailures > a.FailureLimit {
			return fmt.Errorf("analysis failed at %d%%: %q: %s (%d failed runs, limit %d)",
				e.weight, failed.Name, failed.Detail, r.status.AnalysisFailures, a.FailureLimit)
		}
	}
	if !r.measuresMetrics(ctx, &a.MetricAnalysis) {
		return nil
	}
	return r.measureRound(ctx, e, analysisRound(e, a))
}

// analysisRound is the metric round of analysis a at the current weight.
func analysisRound(e *envRun, a *spec.Analysis) metricRound {
	return metricRound{kind: "analysis", ma: &a.MetricAnalysis, failureLimit: a.FailureLimit,
		interval: orDefault(a.Interval.D(), time.Minute), since: e.weightSince}
}

// analyzeLast runs the round that ends a bake or a bakeless step, then, for metrics, asks for its evidence
// (requireEvidence, which passes releases before failClosedChange): every metric judged at least once at
// this weight.
func (r *release) analyzeLast(ctx workflow.Context, e *envRun, a *spec.Analysis) error {
	if err := r.analyze(ctx, e, a); err != nil {
		return err
	}
	if !r.measuresMetrics(ctx, &a.MetricAnalysis) {
		return nil
	}
	return r.requireEvidence(ctx, e, analysisRound(e, a))
}

// stepVerdict analyses a canary step without a bake once, before traffic moves on. Under failClosedChange,
// with an initialDelay still running, the step holds its weight until the delay is over (as a bake of the
// rest of it), so that its round measures data of this weight and can be judged.
func (r *release) stepVerdict(ctx workflow.Context, e *envRun, a *spec.Analysis) error {
	if r.measuresMetrics(ctx, &a.MetricAnalysis) && r.failsClosed(ctx) {
		if rest := e.weightSince.Add(a.InitialDelay.D()).Sub(workflow.Now(ctx)); rest > 0 {
			return r.bake(ctx, e, rest, a)
		}
		return r.analyzeLast(ctx, e, a)
	}
	return r.analyze(ctx, e, a)
}

// analysisCadenceChange is the GetVersion change ID under which analysis started running on a fixed
// cadence (start + k·interval, and once when each bake ends), once for a step without a bake, and on
// through pause steps.
const analysisCadenceChange = "analysis-cadence"

func (r *release) onCadence(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, analysisCadenceChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// cadence schedules analysis rounds at start + k·interval (k ≥ 1). The schedule does not drift with the
// time each round takes; a slot that a slow round overran is skipped rather than run late.
type cadence struct {
	start    time.Time
	interval time.Duration
	next     time.Time
}

// newCadence returns nil, a cadence that is never due, when there is no analysis.
func newCadence(a *spec.Analysis, start time.Time) *cadence {
	if a == nil {
		return nil
	}
	interval := orDefault(a.Interval.D(), time.Minute)
	return &cadence{start: start, interval: interval, next: start.Add(interval)}
}

func (c *cadence) due(now time.Time) bool { return c != nil && !now.Before(c.next) }

// ran moves the schedule to the first slot after now, when the round that just ran finished.
func (c *cadence) ran(now time.Time) {
	c.next = c.start.Add((now.Sub(c.start)/c.interval + 1) * c.interval)
}

// bake holds the current weight for d as a durable timer. Analysis runs at start + k·interval and once
// more when the bake ends, so every bake ends on a verdict about its whole length; under failClosedChange
// that verdict needs evidence (requireEvidence). ferry pause, and an inconclusive pause for a person, freeze
// the remaining bake time; ferry promote ends the bake at once, without that last round.
func (r *release) bake(ctx workflow.Context, e *envRun, d time.Duration, a *spec.Analysis) error {
	r.holding = true
	defer func() { r.holding, r.status.BakeUntil, r.status.BakeTotal = false, time.Time{}, 0 }()
	if !r.onCadence(ctx) {
		return r.bakeV0(ctx, e, d, a)
	}
	deadline := workflow.Now(ctx).Add(d)
	r.status.BakeTotal = d
	var pausedAt time.Time
	held := e.verdictWait
	// over also moves the deadline by the time spent paused, by ferry pause or for an inconclusive verdict,
	// and shows it in the status.
	over := func(now time.Time) bool {
		deadline, held = deadline.Add(e.verdictWait-held), e.verdictWait
		paused := r.status.Paused
		switch {
		case paused && pausedAt.IsZero():
			pausedAt = now
		case !paused && !pausedAt.IsZero():
			deadline = deadline.Add(now.Sub(pausedAt)) // a pause freezes the bake
			pausedAt = time.Time{}
		}
		if paused {
			r.status.BakeUntil = time.Time{}
			return false
		}
		r.status.BakeUntil = deadline
		return !now.Before(deadline)
	}
	until := func() time.Time {
		if r.status.Paused {
			return time.Time{}
		}
		return deadline
	}
	summary := fmt.Sprintf("bake %s at %d%%", spec.FormatDuration(d), e.weight)
	promoted, err := r.hold(ctx, e, a, summary, over, until)
	if err != nil || promoted || a == nil {
		return err
	}
	r.holding, r.status.BakeUntil = false, time.Time{}
	return r.analyzeLast(ctx, e, a)
}

// hold is the active wait of a bake or a pause step, the wait that ferry pause and promote act on. It
// returns once over(now) is true, or with promoted set as soon as ferry promote asks. Meanwhile analysis
// runs at start + k·interval. until is when over may next turn true by itself (zero: only a person can
// end the wait).
func (r *release) hold(ctx workflow.Context, e *envRun, a *spec.Analysis, summary string,
	over func(now time.Time) bool, until func() time.Time) (promoted bool, err error) {
	c := newCadence(a, workflow.Now(ctx))
	for {
		if r.promotePending {
			r.promotePending = false
			return true, nil
		}
		now := workflow.Now(ctx)
		if over(now) {
			return false, nil
		}
		if c.due(now) {
			if err := r.analyze(ctx, e, a); err != nil {
				return false, err
			}
			c.ran(workflow.Now(ctx))
			continue // the round took time: look again at the decisions and the clock
		}
		r.publish(ctx)
		wake := until()
		if c != nil && (wake.IsZero() || c.next.Before(wake)) {
			wake = c.next
		}
		paused := r.status.Paused
		changed := func() bool { return r.promotePending || r.status.Paused != paused }
		if paused && c != nil && until().IsZero() && len(a.Checks) == 0 {
			// Metrics alone pause with the release: a wait only a person ends adds nothing to the history.
			if err := workflow.Await(ctx, changed); err != nil {
				return false, err
			}
			continue
		}
		if paused && c != nil && until().IsZero() && r.analyzeInChild(ctx) {
			// A wait that only a person ends has no bound in time: its analysis runs in a child workflow,
			// on the same cadence, so the release's history grows by a constant (see analyzeWhilePaused).
			if _, err := r.analyzeWhilePaused(ctx, e, a, &c.next, changed); err != nil {
				return false, err
			}
			continue
		}
		if wake.IsZero() {
			err = workflow.Await(ctx, changed)
		} else {
			_, err = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
				Timeout: wake.Sub(now), TimerOptions: workflow.TimerOptions{Summary: summary},
			}, changed)
		}
		if err != nil {
			return false, err
		}
	}
}

// bakeV0 is bake before analysisCadenceChange: analysis every interval after the end of the previous
// round, and at the end only when no round ran. Kept so that releases started before it replay.
func (r *release) bakeV0(ctx workflow.Context, e *envRun, d time.Duration, a *spec.Analysis) error {
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
// Analysis keeps running as in a bake, at start + k·interval and once when the step ends (but not on
// promote); at 0 %, before any step sent traffic, there is nothing to analyse.
func (r *release) pauseStep(ctx workflow.Context, e *envRun, p *spec.Pause) error {
	r.status.Paused = true
	r.pausedBy = "the spec"
	r.holding = true
	r.setStage(ctx, StageCanary, "ferry resume or ferry promote")
	defer func() {
		r.holding = false
		r.status.Paused = false
		r.promotePending = false
		r.status.Waiting = ""
	}()
	if !r.onCadence(ctx) {
		return r.pauseStepV0(ctx, p)
	}
	a := e.spec.Strategy.Analysis
	if e.weight == 0 {
		a = nil
	}
	var deadline time.Time
	summary := fmt.Sprintf("pause at %d%%", e.weight)
	if d := p.Duration.D(); d > 0 {
		deadline = workflow.Now(ctx).Add(d)
		summary = fmt.Sprintf("pause %s at %d%%", spec.FormatDuration(d), e.weight)
	}
	over := func(now time.Time) bool {
		return !r.status.Paused || (!deadline.IsZero() && !now.Before(deadline))
	}
	promoted, err := r.hold(ctx, e, a, summary, over, func() time.Time { return deadline })
	if err != nil || promoted || a == nil {
		return err
	}
	r.holding, r.status.Paused, r.status.Waiting = false, false, ""
	return r.analyze(ctx, e, a)
}

// pauseStepV0 is the pause step before analysisCadenceChange: no analysis while it holds.
func (r *release) pauseStepV0(ctx workflow.Context, p *spec.Pause) error {
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

// verify watches the new version for the verification window once it serves all traffic, before it is
// promoted (the old version still runs), running the checks and measuring the metrics at the start, every
// interval, and at the end. Any failure rolls back, and so does (under failClosedChange) a window without a
// judged measurement of every metric, unless onNoEvidence pauses it. An inconclusive pause for a person
// lengthens the window by its duration.
func (r *release) verify(ctx workflow.Context, e *envRun, track string) error {
	v := e.spec.Verify
	if v == nil {
		return nil
	}
	metrics := r.measuresMetrics(ctx, &v.MetricAnalysis)
	if len(v.Checks) == 0 && !metrics {
		return nil
	}
	r.setStage(ctx, StageVerify, "")
	start := workflow.Now(ctx)
	deadline := start.Add(v.Window.D())
	interval := orDefault(v.Interval.D(), min(time.Minute, v.Window.D()))
	held := e.verdictWait
	mr := metricRound{kind: StageVerify, ma: &v.MetricAnalysis, interval: interval, since: start}
	for {
		failed, err := r.checkRound(ctx, e, StageVerify, track, v.Checks)
		if err != nil {
			return fmt.Errorf("verify: %s", errorMessage(err))
		}
		if failed != nil {
			return fmt.Errorf("verification failed: %q: %s", failed.Name, failed.Detail)
		}
		if metrics {
			// Any failed measurement fails verification: the old version still runs, and a rollback is fast.
			if err := r.measureRound(ctx, e, mr); err != nil {
				return err
			}
		}
		deadline, held = deadline.Add(e.verdictWait-held), e.verdictWait // an inconclusive pause freezes the window
		now := workflow.Now(ctx)
		if !now.Before(deadline) {
			if metrics {
				return r.requireEvidence(ctx, e, mr)
			}
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
