package workflows

import (
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/internal/spec"
)

// metricAnalysisChange is the GetVersion change ID under which analysis rounds and verification also
// measure the spec's metrics (MeasureMetric). It is asked only by releases whose spec names metrics, which no
// release before it could.
const metricAnalysisChange = "metric-analysis"

var metricActs *activities.Metrics

// measureOptions run one measurement: a query or two against Prometheus. A measurement that cannot reach
// Prometheus is a result (an error verdict), so retries only cover a lost worker.
func measureOptions(ctx workflow.Context, summary string) workflow.Context {
	return withOptions(ctx, summary, 30*time.Second, 0, probeRetry)
}

// MeasurementStatus is the latest measurement of one metric in the current environment, by analysis or by
// verification, with the counters its limits apply to. A release keeps one per metric and kind.
type MeasurementStatus struct {
	Metric string `json:"metric"`
	// Kind is analysis or verify.
	Kind    string           `json:"kind"`
	Verdict analysis.Verdict `json:"verdict"`
	// Value is the new version's value; Baseline the stable version's, for comparisons and throughput.
	Value    *float64  `json:"value,omitempty"`
	Baseline *float64  `json:"baseline,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Query    string    `json:"query,omitempty"`
	At       time.Time `json:"at"`
	DryRun   bool      `json:"dryRun,omitempty"`
	// Measured counts the measurements; Failures, Inconclusive and Errors the verdicts that the limits
	// count (Errors in a row only).
	Measured     int `json:"measured"`
	Failures     int `json:"failures,omitempty"`
	Inconclusive int `json:"inconclusive,omitempty"`
	Errors       int `json:"errors,omitempty"`
}

// ScoreStatus is the latest score of a round's baseline comparisons, with its counters.
type ScoreStatus struct {
	Kind         string           `json:"kind"`
	Score        float64          `json:"score"`
	Verdict      analysis.Verdict `json:"verdict"`
	At           time.Time        `json:"at"`
	Failures     int              `json:"failures,omitempty"`
	Inconclusive int              `json:"inconclusive,omitempty"`
}

// measuresMetrics reports whether the release measures ma's metrics: it names some, and the release runs
// under metricAnalysisChange.
func (r *release) measuresMetrics(ctx workflow.Context, ma *spec.MetricAnalysis) bool {
	return len(ma.Metrics) > 0 &&
		workflow.GetVersion(ctx, metricAnalysisChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// measurement returns the status entry of metric under kind, adding it on first use.
func (r *release) measurement(kind, metric string) *MeasurementStatus {
	for i := range r.status.Measurements {
		if m := &r.status.Measurements[i]; m.Kind == kind && m.Metric == metric {
			return m
		}
	}
	r.status.Measurements = append(r.status.Measurements, MeasurementStatus{Kind: kind, Metric: metric})
	return &r.status.Measurements[len(r.status.Measurements)-1]
}

// metricRound is one round of measurements: what the workflow asks of it.
type metricRound struct {
	kind string // analysis or verify
	ma   *spec.MetricAnalysis
	// failureLimit is the analysis' failureLimit; verification tolerates no failure.
	failureLimit int
	interval     time.Duration
	// since is when the current weight (or verification) began: initialDelay and count start from it.
	since time.Time
}

// measureRound measures every metric of the round in parallel and applies the limits: a metric (or the
// score of the baseline comparisons) that fails more than failureLimit times, or errs more than
// consecutiveErrorLimit times in a row, fails the step, which rolls back; one that is inconclusive more than
// inconclusiveLimit times pauses the release until a person resumes (ferry resume) or aborts it. Dry-run
// metrics are measured and shown, and never fail or pause anything. Under failClosedChange, comparisons and
// throughput are not measured where no baseline serves traffic, and every measurement counts towards the
// window's evidence (see requireEvidence).
func (r *release) measureRound(ctx workflow.Context, e *envRun, mr metricRound) error {
	ma := mr.ma
	now := workflow.Now(ctx)
	if now.Before(mr.since.Add(ma.InitialDelay.D())) {
		return nil
	}
	if !r.roundSince.Equal(mr.since) {
		r.roundSince, r.stepMeasured = mr.since, map[string]int{}
	}
	canary := r.metricVars(e, e.strategy.track(), r.in.Version, mr.interval)
	var baseline *spec.MetricVars
	if e.weight < 100 && e.stable != nil {
		b := r.metricVars(e, TrackStable, e.stable.Version, mr.interval)
		baseline = &b
	}
	type pending struct {
		name   string
		metric spec.Metric
		f      workflow.Future
	}
	var round []pending
	closed := r.failsClosed(ctx)
	for _, name := range ma.Metrics {
		key := mr.kind + "/" + name
		m := r.in.Spec.Metrics[name]
		if closed && comparesWithBaseline(m) && baseline == nil {
			continue // no baseline serves traffic: nothing to compare with, and requireEvidence asks none
		}
		if ma.Count > 0 && r.stepMeasured[key] >= ma.Count {
			continue
		}
		r.stepMeasured[key]++
		req := activities.MeasureRequest{Name: name, Metric: m, Vars: canary, Weight: e.weight, Window: mr.interval}
		if closed {
			req.Since = mr.since // the start of this weight or verification window
		}
		if m.Compare == spec.CompareBaseline || m.Kind == spec.MetricThroughput {
			req.Baseline = baseline
		}
		opts := measureOptions(ctx, fmt.Sprintf("%s %s: %s at %d%%", mr.kind, e.spec.Name, name, e.weight))
		round = append(round, pending{name, m, workflow.ExecuteActivity(opts, metricActs.MeasureMetric, req)})
	}
	var failed, paused string
	var scored []analysis.Scored
	for _, p := range round {
		var res activities.MeasureResult
		if err := p.f.Get(ctx, &res); err != nil {
			return fmt.Errorf("%s: metric %s: %s", mr.kind, p.name, errorMessage(err))
		}
		dry := ma.IsDryRun(p.name, p.metric)
		st := r.measurement(mr.kind, p.name)
		st.Verdict, st.Value, st.Baseline, st.Detail, st.Query = res.Verdict, res.Value, res.Baseline, res.Detail, res.Query
		st.At, st.DryRun = workflow.Now(ctx), dry
		st.Measured++
		e.tally(mr.kind, p.name, mr.since, res.Verdict)
		if res.Verdict == analysis.Error {
			st.Errors++
		} else {
			st.Errors = 0
		}
		switch res.Verdict {
		case analysis.Failed:
			st.Failures++
		case analysis.Inconclusive:
			st.Inconclusive++
		}
		if dry {
			continue
		}
		if st.Errors > ma.ConsecutiveErrorLimit && failed == "" {
			failed = fmt.Sprintf("metric %s: %s (%d errors in a row, limit %d)", p.name, res.Detail, st.Errors, ma.ConsecutiveErrorLimit)
		}
		if p.metric.Compare == spec.CompareBaseline {
			scored = append(scored, analysis.Scored{Verdict: res.Verdict, Critical: p.metric.Critical})
			continue // the score judges comparisons
		}
		switch {
		case res.Verdict == analysis.Failed && st.Failures > mr.failureLimit && failed == "":
			failed = fmt.Sprintf("metric %s: %s (%d failed measurements, limit %d)", p.name, res.Detail, st.Failures, mr.failureLimit)
		case res.Verdict == analysis.Inconclusive && st.Inconclusive > ma.InconclusiveLimit && paused == "":
			paused = fmt.Sprintf("metric %s is inconclusive: %s (%d times, limit %d)", p.name, res.Detail, st.Inconclusive, ma.InconclusiveLimit)
		}
	}
	if len(scored) > 0 {
		pass, marginal := ma.ScoreThresholds()
		score, verdict := analysis.Score(scored, pass, marginal)
		sc := r.status.Score
		if sc == nil || sc.Kind != mr.kind {
			sc = &ScoreStatus{Kind: mr.kind}
			r.status.Score = sc
		}
		sc.Score, sc.Verdict, sc.At = score, verdict, workflow.Now(ctx)
		switch verdict {
		case analysis.Failed:
			sc.Failures++
			if sc.Failures > mr.failureLimit && failed == "" {
				failed = fmt.Sprintf("baseline comparison scored %.0f, below marginal %.0f (%d failed rounds, limit %d)", score, marginal, sc.Failures, mr.failureLimit)
			}
		case analysis.Inconclusive:
			sc.Inconclusive++
			if sc.Inconclusive > ma.InconclusiveLimit && paused == "" {
				paused = fmt.Sprintf("baseline comparison is inconclusive: score %.0f (%d times, limit %d)", score, sc.Inconclusive, ma.InconclusiveLimit)
			}
		}
	}
	if failed != "" {
		if mr.kind == StageVerify {
			return fmt.Errorf("verification failed: %s", failed)
		}
		return fmt.Errorf("analysis failed at %d%%: %s", e.weight, failed)
	}
	if paused != "" {
		return r.awaitVerdictHeld(ctx, e, mr.kind, paused)
	}
	r.publish(ctx)
	return nil
}

// awaitVerdict pauses the release for a person after inconclusive measurements: ferry resume goes on (with
// the inconclusive counts of this kind reset), ferry abort rolls back. Nothing is measured meanwhile.
func (r *release) awaitVerdict(ctx workflow.Context, kind, why string) error {
	r.status.Paused = true
	r.pausedBy = "inconclusive " + kind
	stage, waiting := r.status.Stage, r.status.Waiting
	r.setStage(ctx, stage, "a person: "+why+"; ferry resume or ferry abort")
	if err := workflow.Await(ctx, func() bool { return !r.status.Paused }); err != nil {
		return err
	}
	for i := range r.status.Measurements {
		if m := &r.status.Measurements[i]; m.Kind == kind {
			m.Inconclusive = 0
		}
	}
	if sc := r.status.Score; sc != nil && sc.Kind == kind {
		sc.Inconclusive = 0
	}
	r.setStage(ctx, stage, waiting)
	return nil
}

// FormatValue renders a measured value for people: 0.0123, 1.5e-05, or "-" without one.
func FormatValue(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'g', 4, 64)
}

// metricVars are the query variables of a track.
func (r *release) metricVars(e *envRun, track, version string, interval time.Duration) spec.MetricVars {
	return spec.MetricVars{Service: r.in.Spec.Service, Env: e.spec.Name, Version: version, Track: track,
		Interval: spec.PromDuration(interval)}
}
