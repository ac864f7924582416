package activities

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/internal/spec"
)

// MetricSource answers a metric's query. Prometheus is the real one; the worker configures its address and
// credentials, never the spec.
type MetricSource interface {
	// Instant evaluates query now and returns one value per series (one value for a scalar; none for an
	// empty result).
	Instant(ctx context.Context, query string) ([]float64, error)
	// Range evaluates query every step from span ago until now (span/step + 1 evaluations) and returns the
	// samples of every series.
	Range(ctx context.Context, query string, span, step time.Duration) ([]float64, error)
}

// PartialDataError is a query's answer that Prometheus marked with warnings, such as the partial data of a
// Thanos or Cortex store that did not answer: the values may be incomplete, so they judge nothing.
type PartialDataError struct {
	Warnings []string
}

func (e *PartialDataError) Error() string {
	return "partial data: " + strings.Join(e.Warnings, "; ")
}

// MeasureRequest measures one metric once.
type MeasureRequest struct {
	Name   string      `json:"name"`
	Metric spec.Metric `json:"metric"`
	// Vars render the query for the new version; Baseline renders it for the stable one, which baseline
	// comparisons and throughput need.
	Vars     spec.MetricVars  `json:"vars"`
	Baseline *spec.MetricVars `json:"baseline,omitempty"`
	// Weight is the new version's traffic percent, for throughput.
	Weight int `json:"weight"`
	// Window is the span of a baseline comparison's samples: the analysis interval.
	Window time.Duration `json:"window"`
	// Since is the start of the current weight or verification window: a baseline comparison takes no
	// sample from before it. Zero (requests recorded before it existed) limits the samples to Window only.
	Since time.Time `json:"since,omitzero"`
}

// MeasureResult is one measurement: its verdict, the value behind it and the query that gave it. A query
// that fails is a result with Verdict error (or inconclusive, as the metric's onError says), not an activity
// error, so that the workflow counts it against consecutiveErrorLimit.
type MeasureResult struct {
	Name    string           `json:"name"`
	Verdict analysis.Verdict `json:"verdict"`
	// Value is the new version's value (the median of its samples in a comparison); nil without one.
	Value *float64 `json:"value,omitempty"`
	// Baseline is the stable version's value, for a comparison or throughput.
	Baseline *float64 `json:"baseline,omitempty"`
	Detail   string   `json:"detail,omitempty"`
	// Query is the new version's rendered query, at most maxQueryShown bytes.
	Query string `json:"query,omitempty"`
}

// maxQueryShown bounds the rendered query a result carries, to keep release histories small.
const maxQueryShown = 240

// compareSteps is how many samples a baseline comparison takes from each side over a full window: each
// sample covers one step (Window/compareSteps, in whole seconds), so that, with a query over [{{.Step}}],
// no two samples share data.
const compareSteps = 12

// DefaultQueryTimeout bounds each query when Metrics.QueryTimeout is zero. It stays below the
// MeasureMetric activity's start-to-close timeout (30 s), so that a Prometheus that hangs gives a verdict
// under the metric's onError rather than an activity failure.
const DefaultQueryTimeout = 20 * time.Second

// Metrics measures the spec's metrics. The worker registers one &Metrics{Source: prometheus, Redact:
// redactor}; the Release workflow calls MeasureMetric.
type Metrics struct {
	// Source answers queries. Nil makes every measurement an error: the worker has no Prometheus.
	Source MetricSource
	// Redact sees every string MeasureMetric returns. Nil redacts nothing.
	Redact Redactor
	// QueryTimeout bounds each query; zero means DefaultQueryTimeout. Keep it below the activity's
	// start-to-close timeout.
	QueryTimeout time.Duration
	// Now is the clock that Since is compared with; nil means time.Now.
	Now func() time.Time
}

// MeasureMetric renders the metric's query, runs it and judges the result. It only reads, so it is
// idempotent, and a retry measures afresh. A query that cannot run (an unreachable Prometheus, a bad query,
// no Prometheus configured, no answer within the query timeout) gives Verdict error, or inconclusive when the
// metric's onError says so: never a pass. An answer with warnings (partial data) is inconclusive. The activity error is a non-retryable ErrTypeInvalidSpec only for a query that does not render.
func (m *Metrics) MeasureMetric(ctx context.Context, in MeasureRequest) (MeasureResult, error) {
	res, err := m.measure(ctx, in)
	if err != nil {
		return MeasureResult{}, redactError(m.Redact, err)
	}
	res.Detail = redact(m.Redact, res.Detail)
	res.Query = redact(m.Redact, res.Query)
	return res, nil
}

func (m *Metrics) measure(ctx context.Context, in MeasureRequest) (MeasureResult, error) {
	span, step := m.sampling(in)
	vars := in.Vars
	vars.Step = spec.PromDuration(step)
	if in.Metric.Compare != spec.CompareBaseline {
		vars.Step = spec.PromDuration(in.Window) // one value over the interval
	}
	q, err := spec.RenderQuery(in.Metric.Query, vars)
	if err != nil {
		return MeasureResult{}, invalidSpec(fmt.Sprintf("metric %s: query", in.Name), err)
	}
	res := MeasureResult{Name: in.Name, Query: shorten(q, maxQueryShown)}
	var baseQuery string
	if in.Baseline != nil {
		base := *in.Baseline
		base.Step = vars.Step
		if baseQuery, err = spec.RenderQuery(in.Metric.Query, base); err != nil {
			return MeasureResult{}, invalidSpec(fmt.Sprintf("metric %s: query", in.Name), err)
		}
	}
	failed := func(err error) (MeasureResult, error) {
		if ctx.Err() != nil {
			return MeasureResult{}, ctx.Err()
		}
		if pd := (*PartialDataError)(nil); errors.As(err, &pd) {
			res.Verdict, res.Detail = analysis.Inconclusive, shorten(pd.Error()+" (the values may be incomplete)", 300)
			return res, nil
		}
		res.Verdict = analysis.Error
		if in.Metric.OnError == spec.OnErrorInconclusive {
			res.Verdict = analysis.Inconclusive
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", m.queryTimeout(), err)
		}
		res.Detail = shorten("query failed: "+err.Error(), 300)
		return res, nil
	}
	if m.Source == nil {
		return failed(fmt.Errorf("the worker has no Prometheus configured (prometheus.address, --prometheus-address)"))
	}
	switch {
	case in.Metric.Compare == spec.CompareBaseline:
		if in.Baseline == nil {
			res.Verdict, res.Detail = analysis.Inconclusive, "no baseline to compare with"
			return res, nil
		}
		canary, err := m.rangeQuery(ctx, q, span, step)
		if err != nil {
			return failed(err)
		}
		base, err := m.rangeQuery(ctx, baseQuery, span, step)
		if err != nil {
			return failed(err)
		}
		c := analysis.Compare(canary, base, in.Metric.Comparison())
		res.Verdict, res.Detail = c.Verdict, c.Detail
		if !strings.Contains(in.Metric.Query, ".Step") {
			res.Detail += " (the query does not use {{.Step}}: its samples may share data)"
		}
		if c.Verdict != analysis.Inconclusive {
			res.Value, res.Baseline = finite(c.Canary), finite(c.Baseline)
		}
	case in.Metric.Kind == spec.MetricThroughput:
		canary, err := m.instant(ctx, q)
		if err != nil {
			return failed(err)
		}
		rate, baseRate := sum(canary), math.NaN()
		if in.Baseline != nil {
			base, err := m.instant(ctx, baseQuery)
			if err != nil {
				return failed(err)
			}
			baseRate = sum(base)
		}
		res.Value, res.Baseline = finite(rate), finite(baseRate)
		res.Verdict, res.Detail = analysis.Throughput(rate, baseRate, in.Weight, in.Metric.Tolerance)
	default:
		values, err := m.instant(ctx, q)
		if err != nil {
			return failed(err)
		}
		if len(values) == 1 {
			res.Value = finite(values[0])
		}
		res.Verdict, res.Detail = analysis.Evaluate(in.Metric.Threshold(), values)
	}
	return res, nil
}

// sampling returns the span of a comparison's sample times and their step. Each sample covers the step
// before it, so the first one is taken a step after the window opens: after Window ago, and after Since.
// The span is a whole number of steps; negative when not one step has passed since Since.
func (m *Metrics) sampling(in MeasureRequest) (span, step time.Duration) {
	window := max(in.Window, time.Second)
	step = max((window / compareSteps).Round(time.Second), time.Second)
	if !in.Since.IsZero() {
		now := time.Now
		if m.Now != nil {
			now = m.Now
		}
		window = min(window, now().Sub(in.Since))
	}
	return window.Truncate(step) - step, step
}

func (m *Metrics) queryTimeout() time.Duration {
	if m.QueryTimeout > 0 {
		return m.QueryTimeout
	}
	return DefaultQueryTimeout
}

// instant runs one instant query within the query timeout.
func (m *Metrics) instant(ctx context.Context, q string) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, m.queryTimeout())
	defer cancel()
	return m.Source.Instant(ctx, q)
}

// rangeQuery runs one range query within the query timeout. A span shorter than zero has no sample yet.
func (m *Metrics) rangeQuery(ctx context.Context, q string, span, step time.Duration) ([]float64, error) {
	if span < 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.queryTimeout())
	defer cancel()
	return m.Source.Range(ctx, q, span, step)
}

// finite returns &v, or nil for NaN and infinities, which JSON cannot carry.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// sum adds the values of every series; no series, or only NaN, is NaN.
func sum(values []float64) float64 {
	total, seen := 0.0, false
	for _, v := range values {
		if !math.IsNaN(v) {
			total, seen = total+v, true
		}
	}
	if !seen {
		return math.NaN()
	}
	return total
}

// shorten cuts s to at most n bytes, on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
