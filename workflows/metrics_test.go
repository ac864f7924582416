package workflows

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/internal/spec"
)

// metricFake answers MeasureMetric with the verdict that fn gives, recording every request.
type metricFake struct {
	mu       sync.Mutex
	fn       func(in activities.MeasureRequest) analysis.Verdict
	requests []activities.MeasureRequest
}

func withMetrics(h *harness, fn func(in activities.MeasureRequest) analysis.Verdict) *metricFake {
	f := &metricFake{fn: fn}
	h.env.RegisterActivity(&activities.Metrics{})
	h.env.OnActivity(metricActs.MeasureMetric, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MeasureRequest) (activities.MeasureResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.requests = append(f.requests, in)
			v := f.fn(in)
			value := 0.5
			return activities.MeasureResult{Name: in.Name, Verdict: v, Value: &value, Detail: "value 0.5 (" + string(v) + ")", Query: "q"}, nil
		})
	return f
}

func (f *metricFake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// metricProduction is production() judged by metrics alone during the bakes, and by error-rate in verify.
func metricProduction(ma spec.MetricAnalysis) spec.Environment {
	e := production()
	e.Strategy.Analysis = &spec.Analysis{Interval: spec.Duration(time.Minute), FailureLimit: 1, MetricAnalysis: ma}
	e.Verify = &spec.Verify{Window: spec.Duration(5 * time.Minute), Interval: spec.Duration(time.Minute),
		MetricAnalysis: spec.MetricAnalysis{Metrics: []string{"error-rate"}, ConsecutiveErrorLimit: 4}}
	return e
}

func metricInput(envs ...spec.Environment) ReleaseInput {
	in := releaseInput(envs...)
	max := 0.01
	in.Spec.Metrics = map[string]spec.Metric{
		"error-rate": {Query: `sum(rate(x{track="{{.Track}}"}[{{.Interval}}]))`, Kind: spec.MetricValue, Max: &max, OnError: spec.OnErrorError},
		"latency":    {Query: `p99{track="{{.Track}}"}`, Kind: spec.MetricValue, Max: &max, OnError: spec.OnErrorError},
		"vs-stable":  {Query: `p50{track="{{.Track}}"}`, Kind: spec.MetricValue, Compare: spec.CompareBaseline, Direction: "increase", Confidence: 0.95, OnError: spec.OnErrorError},
	}
	return in
}

func TestMetricFailureRollsBack(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
	f := withMetrics(h, func(in activities.MeasureRequest) analysis.Verdict {
		if in.Name == "error-rate" && in.Weight == 10 {
			return analysis.Failed
		}
		return analysis.Successful
	})
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.run(metricInput(metricProduction(spec.MetricAnalysis{Metrics: []string{"error-rate", "vs-stable"}, ConsecutiveErrorLimit: 4})))

	res, errType := h.result()
	if errType != ErrTypeRolledBack {
		t.Fatalf("got state %q type %q, want rolled back", res.State, errType)
	}
	want := "analysis failed at 10%: metric error-rate: value 0.5 (failed) (2 failed measurements, limit 1)"
	if !strings.Contains(res.Reason, want) || !strings.Contains(res.Reason, "back on 1.4.1") {
		t.Errorf("got reason %q, want it to contain %q", res.Reason, want)
	}
	if h.calls[len(h.calls)-2] != "set-weight production canary 1.4.2 0" {
		t.Errorf("got calls %q, want traffic back to stable", h.calls)
	}
	// The comparison gets the stable track as its baseline; the threshold metric gets none.
	for _, in := range f.requests {
		switch {
		case in.Name == "vs-stable" && (in.Baseline == nil || in.Baseline.Track != TrackStable || in.Baseline.Version != "1.4.1"):
			t.Errorf("got baseline %+v for the comparison, want the stable track at 1.4.1", in.Baseline)
		case in.Name == "error-rate" && in.Baseline != nil:
			t.Errorf("got baseline %+v for a threshold metric, want none", in.Baseline)
		case in.Vars.Track != TrackCanary || in.Vars.Interval != "1m" || in.Vars.Version != "1.4.2":
			t.Errorf("got vars %+v, want the canary at 1.4.2 over 1m", in.Vars)
		}
	}
}

func TestMetricDryRunNeverFails(t *testing.T) {
	h := newHarness(t)
	f := withMetrics(h, func(in activities.MeasureRequest) analysis.Verdict {
		if in.Name == "latency" {
			return analysis.Failed
		}
		return analysis.Successful
	})
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	var during Status
	h.after(15*time.Minute, func() { during = h.status() })
	h.run(metricInput(metricProduction(spec.MetricAnalysis{Metrics: []string{"error-rate", "latency"}, DryRun: []string{"latency"}, ConsecutiveErrorLimit: 4})))
	if res, errType := h.result(); errType != "" {
		t.Fatalf("got %s (%s), want succeeded", res.State, res.Reason)
	}
	var lat *MeasurementStatus
	for i, m := range during.Measurements {
		if m.Metric == "latency" && m.Kind == "analysis" {
			lat = &during.Measurements[i]
		}
	}
	if lat == nil || !lat.DryRun || lat.Verdict != analysis.Failed || lat.Failures < 2 {
		t.Errorf("got latency status %+v, want a dry run with failures", lat)
	}
	if len(during.Measurements) != 2 {
		t.Errorf("got %d measurements in the status, want one per metric: %+v", len(during.Measurements), during.Measurements)
	}
	if f.count() == 0 {
		t.Error("got no measurements")
	}
}

func TestMetricErrorsFailPastConsecutiveLimit(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1"}
	withMetrics(h, func(activities.MeasureRequest) analysis.Verdict { return analysis.Error })
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.run(metricInput(metricProduction(spec.MetricAnalysis{Metrics: []string{"error-rate"}, ConsecutiveErrorLimit: 2})))
	res, errType := h.result()
	if errType != ErrTypeRolledBack || !strings.Contains(res.Reason, "(3 errors in a row, limit 2)") {
		t.Fatalf("got %q %q, want rolled back after 3 errors", errType, res.Reason)
	}
}

func TestMetricInconclusivePausesForAPerson(t *testing.T) {
	for _, decision := range []string{UpdateResume, UpdateAbort} {
		t.Run(decision, func(t *testing.T) {
			h := newHarness(t)
			h.stable["production"] = &Artifact{Version: "1.4.1"}
			var decided atomic.Bool
			f := withMetrics(h, func(in activities.MeasureRequest) analysis.Verdict {
				if in.Weight == 10 && !decided.Load() {
					return analysis.Inconclusive
				}
				return analysis.Successful
			})
			h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
			var during Status
			var measured int
			h.after(30*time.Minute, func() { during, measured = h.status(), f.count() })
			var out *updateOutcome
			h.after(3*time.Hour, func() {
				if f.count() != measured {
					t.Errorf("got %d measurements while paused, want none after %d", f.count(), measured)
				}
				decided.Store(true)
				switch decision {
				case UpdateResume:
					out = h.update(UpdateResume, ResumeInput{Identity: "alice"})
				default:
					out = h.update(UpdateAbort, AbortInput{Identity: "alice", Reason: "latency unclear"})
				}
			})
			h.run(metricInput(metricProduction(spec.MetricAnalysis{Metrics: []string{"error-rate"}, ConsecutiveErrorLimit: 4})))
			if !during.Paused || !strings.Contains(during.Waiting, "metric error-rate is inconclusive") {
				t.Errorf("got paused=%v waiting %q, want paused on the inconclusive metric", during.Paused, during.Waiting)
			}
			if out == nil || !out.accepted {
				t.Fatalf("%s: got %+v, want accepted", decision, out)
			}
			res, errType := h.result()
			switch decision {
			case UpdateResume:
				if errType != "" {
					t.Errorf("got %s (%s), want succeeded after resume", res.State, res.Reason)
				}
			default:
				if errType != ErrTypeAborted || res.Environments[0].State != StateRolledBack {
					t.Errorf("got %s %q (env %s), want aborted and rolled back", errType, res.Reason, res.Environments[0].State)
				}
			}
		})
	}
}

func TestVerifyMetricFailureRollsBack(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1"}
	withMetrics(h, func(in activities.MeasureRequest) analysis.Verdict {
		if in.Weight == 100 {
			return analysis.Failed
		}
		return analysis.Successful
	})
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.run(metricInput(metricProduction(spec.MetricAnalysis{Metrics: []string{"error-rate"}, ConsecutiveErrorLimit: 4})))
	res, errType := h.result()
	if errType != ErrTypeRolledBack || !strings.Contains(res.Reason, "verification failed: metric error-rate") {
		t.Fatalf("got %q %q, want rolled back by verification", errType, res.Reason)
	}
	// The old version still ran: traffic goes back to it, nothing was promoted.
	for _, c := range h.calls {
		if strings.HasPrefix(c, "promote") {
			t.Errorf("got %q before the rollback, want no promotion", c)
		}
	}
	if h.calls[len(h.calls)-2] != "set-weight production canary 1.4.2 0" {
		t.Errorf("got calls %q, want traffic back to stable", h.calls)
	}
}

func TestMetricInitialDelayAndCount(t *testing.T) {
	h := newHarness(t)
	f := withMetrics(h, func(activities.MeasureRequest) analysis.Verdict { return analysis.Successful })
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	prod := metricProduction(spec.MetricAnalysis{Metrics: []string{"error-rate"}, InitialDelay: spec.Duration(3 * time.Minute),
		Count: 2, ConsecutiveErrorLimit: 4})
	prod.Verify = nil
	h.run(metricInput(prod))
	if res, errType := h.result(); errType != "" {
		t.Fatalf("got %s (%s), want succeeded", res.State, res.Reason)
	}
	// Two 10m bakes analysed every minute: the rounds at 1m and 2m of each wait for the initial delay, and
	// each step stops after 2 measurements; the 100 % step has no bake: it holds for its delay, then
	// measures once.
	byWeight := map[int]int{}
	for _, in := range f.requests {
		byWeight[in.Weight]++
	}
	if byWeight[10] != 2 || byWeight[50] != 2 || byWeight[100] != 1 {
		t.Errorf("got measurements by weight %v, want 2 at 10 %%, 2 at 50 %% and 1 at 100 %%", byWeight)
	}
	if got, want := h.callTime("promote production canary 1.4.2 100").Sub(h.callTime("set-weight production canary 1.4.2 100")), 3*time.Minute; got < want {
		t.Errorf("got %s at 100 %% before the promotion, want at least the initial delay %s", got, want)
	}
}

func TestBlueGreenMetricsHaveNoBaseline(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1"}
	f := withMetrics(h, func(activities.MeasureRequest) analysis.Verdict { return analysis.Successful })
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	prod := production()
	prod.Strategy = spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: spec.Duration(time.Second),
		Analysis: &spec.Analysis{Interval: spec.Duration(time.Minute), FailureLimit: 1,
			MetricAnalysis: spec.MetricAnalysis{Metrics: []string{"error-rate"}, ConsecutiveErrorLimit: 4}}}
	prod.Verify = nil
	prod.Strategy.Analysis.Metrics = []string{"error-rate", "throughput"}
	in := metricInput(prod)
	in.Spec.Metrics["throughput"] = spec.Metric{Query: "up", Kind: spec.MetricThroughput, Tolerance: 0.5, Direction: "increase", OnError: spec.OnErrorError}
	h.run(in)
	if res, errType := h.result(); errType != "" {
		t.Fatalf("got %s (%s), want succeeded", res.State, res.Reason)
	}
	if len(f.requests) == 0 {
		t.Fatal("got no measurements after the switch")
	}
	// Throughput compares with the baseline's traffic, which it has none of after the switch: it is not measured.
	for _, r := range f.requests {
		if r.Name != "error-rate" {
			t.Errorf("got a measurement of %s, want only error-rate", r.Name)
		}
		if r.Weight != 100 || r.Baseline != nil || r.Vars.Track != TrackPreview {
			t.Errorf("got weight %d baseline %+v track %s, want the preview at 100 %% without a baseline", r.Weight, r.Baseline, r.Vars.Track)
		}
	}
}

func TestPausedMetricsOnlyAnalysisWaits(t *testing.T) {
	h := newHarness(t)
	f := withMetrics(h, func(activities.MeasureRequest) analysis.Verdict { return analysis.Successful })
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	var atPause, atResume int
	h.after(5*time.Minute, func() {
		h.update(UpdatePause, PauseInput{Identity: "alice"})
	})
	h.after(6*time.Minute, func() { atPause = f.count() })
	h.after(5*time.Hour, func() {
		atResume = f.count()
		h.update(UpdateResume, ResumeInput{Identity: "alice"})
	})
	h.run(metricInput(metricProduction(spec.MetricAnalysis{Metrics: []string{"error-rate"}, ConsecutiveErrorLimit: 4})))
	if res, errType := h.result(); errType != "" {
		t.Fatalf("got %s (%s), want succeeded", res.State, res.Reason)
	}
	if atPause == 0 || atResume != atPause {
		t.Errorf("got %d measurements a minute into the pause and %d at its end, want some and none more while paused", atPause, atResume)
	}
}

// blueGreenMetrics is a blue-green production judged by error-rate alone, with the spec's defaults.
func blueGreenMetrics(ma spec.MetricAnalysis) spec.Environment {
	prod := production()
	prod.Strategy = spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: spec.Duration(time.Second),
		Analysis: &spec.Analysis{Interval: spec.Duration(time.Minute), MetricAnalysis: ma}}
	prod.Verify = nil
	return prod
}

func TestBlueGreenWithOnlyErrorsFails(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1"}
	f := withMetrics(h, func(activities.MeasureRequest) analysis.Verdict { return analysis.Error })
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.run(metricInput(blueGreenMetrics(spec.MetricAnalysis{Metrics: []string{"error-rate"}, ConsecutiveErrorLimit: 4})))
	res, errType := h.result()
	want := "analysis failed at 100%: no evidence: metric error-rate (1 measurement, none judged; last: value 0.5 (error))"
	if errType != ErrTypeRolledBack || !strings.Contains(res.Reason, want) {
		t.Fatalf("got %q %q, want rolled back with %q", errType, res.Reason, want)
	}
	for _, c := range h.calls {
		if strings.HasPrefix(c, "promote") {
			t.Errorf("got %q, want no promotion on no evidence", c)
		}
	}
	if f.count() != 1 {
		t.Errorf("got %d measurements, want 1, when the watch of 1 interval ends", f.count())
	}
}

func TestBlueGreenWatchWaitsOutInitialDelay(t *testing.T) {
	h := newHarness(t)
	f := withMetrics(h, func(activities.MeasureRequest) analysis.Verdict { return analysis.Successful })
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	h.run(metricInput(blueGreenMetrics(spec.MetricAnalysis{Metrics: []string{"error-rate"}, InitialDelay: spec.Duration(5 * time.Minute), ConsecutiveErrorLimit: 4})))
	if res, errType := h.result(); errType != "" {
		t.Fatalf("got %s (%s), want succeeded", res.State, res.Reason)
	}
	// 5 m of delay, then one interval: measured at 5 m and at 6 m, when the watch ends.
	if f.count() != 2 {
		t.Errorf("got %d measurements, want 2 after the initial delay", f.count())
	}
}

func TestBakelessCanaryStepWithErrorsFails(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1"}
	withMetrics(h, func(activities.MeasureRequest) analysis.Verdict { return analysis.Error })
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	prod := metricProduction(spec.MetricAnalysis{Metrics: []string{"error-rate"}, InitialDelay: spec.Duration(30 * time.Second), ConsecutiveErrorLimit: 4})
	prod.Strategy.Steps = []spec.Step{{Weight: 10}, {Weight: 100}}
	h.run(metricInput(prod))
	res, errType := h.result()
	want := "analysis failed at 10%: no evidence: metric error-rate (1 measurement, none judged"
	if errType != ErrTypeRolledBack || !strings.Contains(res.Reason, want) {
		t.Fatalf("got %q %q, want rolled back with %q", errType, res.Reason, want)
	}
	if got := h.callTime("set-weight production canary 1.4.2 0").Sub(h.callTime("set-weight production canary 1.4.2 10")); got < 30*time.Second {
		t.Errorf("got %s at 10 %%, want the step held for its initial delay of 30s", got)
	}
}

func TestVerifyWithErrorsFails(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1"}
	withMetrics(h, func(in activities.MeasureRequest) analysis.Verdict {
		if in.Name == "error-rate" {
			return analysis.Error // verify's metric; analysis measures latency
		}
		return analysis.Successful
	})
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	prod := metricProduction(spec.MetricAnalysis{Metrics: []string{"latency"}, ConsecutiveErrorLimit: 4})
	prod.Verify.Window = spec.Duration(3 * time.Minute) // 4 rounds: at 0, 1, 2 and 3 m
	h.run(metricInput(prod))
	res, errType := h.result()
	want := "verification failed: no evidence: metric error-rate (4 measurements, none judged"
	if errType != ErrTypeRolledBack || !strings.Contains(res.Reason, want) {
		t.Fatalf("got %q %q, want rolled back with %q", errType, res.Reason, want)
	}
}

func TestNoEvidencePausesForAPerson(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1"}
	withMetrics(h, func(activities.MeasureRequest) analysis.Verdict { return analysis.Inconclusive })
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	var during Status
	h.after(time.Hour, func() {
		during = h.status()
		h.update(UpdateResume, ResumeInput{Identity: "alice"})
	})
	h.run(metricInput(blueGreenMetrics(spec.MetricAnalysis{Metrics: []string{"error-rate"}, InconclusiveLimit: 5,
		ConsecutiveErrorLimit: 4, OnNoEvidence: spec.OnNoEvidencePause})))
	if !during.Paused || !strings.Contains(during.Waiting, "no evidence: metric error-rate (1 measurement, none judged") {
		t.Errorf("got paused=%v waiting %q, want paused on no evidence", during.Paused, during.Waiting)
	}
	if res, errType := h.result(); errType != "" {
		t.Errorf("got %s (%s), want succeeded once a person resumed", res.State, res.Reason)
	}
}

func TestInconclusivePauseFreezesTheBake(t *testing.T) {
	h := newHarness(t)
	h.stable["production"] = &Artifact{Version: "1.4.1"}
	var resumed atomic.Bool
	var afterResume atomic.Int32
	withMetrics(h, func(in activities.MeasureRequest) analysis.Verdict {
		if in.Weight != 10 {
			return analysis.Successful
		}
		if !resumed.Load() {
			return analysis.Inconclusive // the round at 1 m pauses the release
		}
		afterResume.Add(1)
		return analysis.Successful
	})
	h.after(time.Minute, func() { h.update(UpdateApprove, approveLead) })
	var resumedAt time.Time
	h.after(3*time.Hour, func() {
		resumed.Store(true)
		resumedAt = h.env.Now()
		h.update(UpdateResume, ResumeInput{Identity: "alice"})
	})
	h.run(metricInput(metricProduction(spec.MetricAnalysis{Metrics: []string{"error-rate"}, ConsecutiveErrorLimit: 4})))
	if res, errType := h.result(); errType != "" {
		t.Fatalf("got %s (%s), want succeeded", res.State, res.Reason)
	}
	// Paused 1 m into a 10 m bake: the remaining 9 m are baked and measured in full after the resume.
	if got := h.callTime("set-weight production canary 1.4.2 50").Sub(resumedAt); got < 9*time.Minute {
		t.Errorf("got %s at 10 %% after the resume, want the remaining 9m of the bake", got)
	}
	if n := afterResume.Load(); n < 9 {
		t.Errorf("got %d measurements at 10 %% after the resume, want at least 9", n)
	}
}
