package activities

import (
	"context"
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
	// Range evaluates query every step over the last window and returns the samples of every series.
	Range(ctx context.Context, query string, window, step time.Duration) ([]float64, error)
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
	Since  time.Time     `json:"since,omitempty"`
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

// compareSteps is how many samples a baseline comparison takes from each side over its window.
const compareSteps = 12

// Metrics measures the spec's metrics. The worker registers one &Metrics{Source: prometheus, Redact:
// redactor}; the Release workflow calls MeasureMetric.
type Metrics struct {
	// Source answers queries. Nil makes every measurement an error: the worker has no Prometheus.
	Source MetricSource
	// Redact sees every string MeasureMetric returns. Nil redacts nothing.
	Redact Redactor
}

// MeasureMetric renders the metric's query, runs it and judges the result. It only reads, so it is
// idempotent, and a retry measures afresh. A query that cannot run (an unreachable Prometheus, a bad query,
// no Prometheus configured) gives Verdict error, or inconclusive when the metric's onError says so: never a
// pass. The activity error is a non-retryable ErrTypeInvalidSpec only for a query that does not render.
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
	q, err := spec.RenderQuery(in.Metric.Query, in.Vars)
	if err != nil {
		return MeasureResult{}, invalidSpec(fmt.Sprintf("metric %s: query", in.Name), err)
	}
	res := MeasureResult{Name: in.Name, Query: shorten(q, maxQueryShown)}
	var baseQuery string
	if in.Baseline != nil {
		if baseQuery, err = spec.RenderQuery(in.Metric.Query, *in.Baseline); err != nil {
			return MeasureResult{}, invalidSpec(fmt.Sprintf("metric %s: query", in.Name), err)
		}
	}
	failed := func(err error) (MeasureResult, error) {
		if ctx.Err() != nil {
			return MeasureResult{}, ctx.Err()
		}
		res.Verdict = analysis.Error
		if in.Metric.OnError == spec.OnErrorInconclusive {
			res.Verdict = analysis.Inconclusive
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
		step := max(in.Window/compareSteps, time.Second)
		canary, err := m.Source.Range(ctx, q, in.Window, step)
		if err != nil {
			return failed(err)
		}
		base, err := m.Source.Range(ctx, baseQuery, in.Window, step)
		if err != nil {
			return failed(err)
		}
		c := analysis.Compare(canary, base, in.Metric.Comparison())
		res.Verdict, res.Detail = c.Verdict, c.Detail
		if c.Verdict != analysis.Inconclusive {
			res.Value, res.Baseline = finite(c.Canary), finite(c.Baseline)
		}
	case in.Metric.Kind == spec.MetricThroughput:
		canary, err := m.Source.Instant(ctx, q)
		if err != nil {
			return failed(err)
		}
		rate, baseRate := sum(canary), math.NaN()
		if in.Baseline != nil {
			base, err := m.Source.Instant(ctx, baseQuery)
			if err != nil {
				return failed(err)
			}
			baseRate = sum(base)
		}
		res.Value, res.Baseline = finite(rate), finite(baseRate)
		res.Verdict, res.Detail = analysis.Throughput(rate, baseRate, in.Weight, in.Metric.Tolerance)
	default:
		values, err := m.Source.Instant(ctx, q)
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
