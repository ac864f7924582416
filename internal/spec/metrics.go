package spec

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/analysis"
)

// Defaults of metric analysis, as in Argo Rollouts and Kayenta.
const (
	defaultConsecutiveErrorLimit = 4
	defaultConfidence            = 0.95
	defaultThroughputTolerance   = 0.5
	defaultScorePass             = 95
	defaultScoreMarginal         = 75
)

var (
	metricKinds  = []string{MetricValue, MetricThroughput}
	directions   = []string{analysis.Increase, analysis.Decrease, analysis.Either}
	onErrors     = []string{OnErrorError, OnErrorInconclusive}
	onNoEvidence = []string{OnNoEvidenceFail, OnNoEvidencePause}
)

// MetricVars are the variables of a metric's query template.
type MetricVars struct {
	Service string `json:"service"`
	Env     string `json:"env"`
	Version string `json:"version"`
	Track   string `json:"track"`
	// Interval is the analysis interval as a PromQL duration (1m, 30s), for range selectors.
	Interval string `json:"interval"`
	// Step is the span of one sample as a PromQL duration: in a baseline comparison the range step
	// (Interval/12 in whole seconds), so that rate(x[{{.Step}}]) samples share no data; elsewhere the
	// interval. The measuring activity sets it.
	Step string `json:"step,omitempty"`
}

// PromDuration formats d as a PromQL duration, in whole seconds at least: 1m, 1m30s, 1s.
func PromDuration(d time.Duration) string {
	return FormatDuration(max(d.Round(time.Second), time.Second))
}

// RenderQuery renders a metric's query template against vars.
func RenderQuery(query string, vars MetricVars) (string, error) {
	return Execute("query", query, vars)
}

// Threshold returns the part of m that judges a value.
func (m Metric) Threshold() analysis.Threshold {
	return analysis.Threshold{Min: m.Min, Max: m.Max, SuccessCondition: m.SuccessCondition, FailureCondition: m.FailureCondition}
}

// Comparison returns the part of m that judges a baseline comparison.
func (m Metric) Comparison() analysis.Comparison {
	return analysis.Comparison{Direction: m.Direction, Tolerance: m.Tolerance, Confidence: m.Confidence}
}

// IsDryRun reports whether metric name only shows its measurements under a: the metric says so, or a lists
// it in dryRun.
func (a *MetricAnalysis) IsDryRun(name string, m Metric) bool {
	return m.DryRun || slices.Contains(a.DryRun, name)
}

// ScoreThresholds returns the pass and marginal scores, with their defaults.
func (a *MetricAnalysis) ScoreThresholds() (pass, marginal float64) {
	if a.Score == nil {
		return defaultScorePass, defaultScoreMarginal
	}
	return a.Score.Pass, a.Score.Marginal
}

func metricDefaults(s *Spec, src *source) {
	for _, name := range sortedMetricNames(s.Metrics) {
		m, p := s.Metrics[name], field("metrics", name)
		setDefault(&m.Kind, MetricValue, src, p+".kind")
		setDefault(&m.OnError, OnErrorError, src, p+".onError")
		if m.Compare == CompareBaseline || m.Kind == MetricThroughput {
			setDefault(&m.Direction, analysis.Increase, src, p+".direction")
		}
		if m.Compare == CompareBaseline {
			setDefault(&m.Confidence, defaultConfidence, src, p+".confidence")
		}
		if m.Kind == MetricThroughput {
			setDefault(&m.Tolerance, defaultThroughputTolerance, src, p+".tolerance")
		}
		s.Metrics[name] = m
	}
}

func metricAnalysisDefaults(a *MetricAnalysis, path string, src *source) {
	if len(a.Metrics) == 0 {
		return
	}
	setDefault(&a.ConsecutiveErrorLimit, defaultConsecutiveErrorLimit, src, path+".consecutiveErrorLimit")
	setDefault(&a.OnNoEvidence, OnNoEvidenceFail, src, path+".onNoEvidence")
	if sc := a.Score; sc != nil {
		setDefault(&sc.Pass, defaultScorePass, src, path+".score.pass")
		setDefault(&sc.Marginal, defaultScoreMarginal, src, path+".score.marginal")
	}
}

func sortedMetricNames(m map[string]Metric) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// metrics checks the spec's metric definitions.
func (v *validator) metrics(s *Spec) {
	sample := MetricVars{Service: orDefault(s.Service, "service"), Env: "env", Version: "1.2.3", Track: "canary", Interval: "1m", Step: "5s"}
	for _, name := range sortedMetricNames(s.Metrics) {
		m, p := s.Metrics[name], field("metrics", name)
		if !nameRE.MatchString(name) {
			v.add(p, "metric name must be 1..63 lower-case letters, digits or '-'")
		}
		if strings.TrimSpace(m.Query) == "" {
			v.add(p+".query", "required")
		} else if _, err := RenderQuery(m.Query, sample); err != nil {
			v.add(p+".query", "bad template: %s (variables: .Service .Env .Version .Track .Interval .Step)", templateError(err))
		}
		v.oneOf(p+".kind", m.Kind, metricKinds)
		v.oneOf(p+".onError", m.OnError, onErrors)
		if m.Compare != "" {
			v.oneOf(p+".compare", m.Compare, []string{CompareBaseline})
		}
		judgesValue := m.Kind == MetricValue && m.Compare == ""
		hasThreshold := m.Min != nil || m.Max != nil || m.SuccessCondition != "" || m.FailureCondition != ""
		switch {
		case judgesValue && !hasThreshold:
			v.add(p, "needs min, max, successCondition or failureCondition (or compare: baseline)")
		case judgesValue:
			if err := m.Threshold().Check(); err != nil {
				first, _, _ := strings.Cut(err.Error(), "\n") // expr adds the source and a caret below
				v.add(p, "%s", first)
			}
		case hasThreshold:
			v.add(p, "min, max and conditions judge a value, not a throughput metric or a baseline comparison")
		}
		if m.Kind == MetricThroughput && m.Compare != "" {
			v.add(p+".compare", "a throughput metric always compares with the baseline; leave compare out")
		}
		if judgesValue {
			for _, f := range []struct {
				name string
				set  bool
			}{{"direction", m.Direction != ""}, {"tolerance", m.Tolerance != 0}, {"confidence", m.Confidence != 0}, {"critical", m.Critical}} {
				if v.has(p+"."+f.name, f.set) {
					v.add(p+"."+f.name, "only valid with compare: baseline or kind: throughput")
				}
			}
			continue
		}
		v.oneOf(p+".direction", m.Direction, directions)
		if m.Tolerance < 0 {
			v.add(p+".tolerance", "must not be negative, got %g", m.Tolerance)
		}
		if m.Compare == CompareBaseline && (m.Confidence < 0.5 || m.Confidence > 0.9999) {
			v.add(p+".confidence", "must be 0.5..0.9999, got %g", m.Confidence)
		}
	}
}

// templateError strips the template package's prefix from err.
func templateError(err error) string {
	msg := parseErrRE.ReplaceAllString(err.Error(), "")
	if m := execErrRE.FindStringSubmatch(msg); m != nil {
		return m[1] + ": " + m[2]
	}
	return msg
}

// metricAnalysis checks an analysis' or verification's references to metrics and their limits. fullWeight,
// when set, says why the new version serves all traffic there, so that no baseline is left to compare with.
func (v *validator) metricAnalysis(s *Spec, a *MetricAnalysis, p, fullWeight string) {
	defined := sortedMetricNames(s.Metrics)
	seen := map[string]bool{}
	for i, name := range a.Metrics {
		ip := index(p+".metrics", i)
		switch _, ok := s.Metrics[name]; {
		case seen[name]:
			v.add(ip, "metric %q is listed twice", name)
		case !ok && len(defined) == 0:
			v.add(ip, "unknown metric %q: the spec defines no metrics (add it under metrics:)", name)
		case !ok:
			v.add(ip, "unknown metric %q (defined: %s)%s", name, strings.Join(defined, ", "), didYouMean(name, defined))
		case fullWeight != "" && s.Metrics[name].Compare == CompareBaseline:
			v.add(ip, "metric %q compares with the baseline, but %s: the baseline gets no traffic to compare", name, fullWeight)
		case fullWeight != "" && s.Metrics[name].Kind == MetricThroughput:
			v.add(ip, "throughput metric %q compares with the baseline's traffic, but %s: it would pass with any traffic", name, fullWeight)
		}
		seen[name] = true
	}
	for i, name := range a.DryRun {
		if !slices.Contains(a.Metrics, name) {
			v.add(index(p+".dryRun", i), "metric %q is not among this analysis' metrics", name)
		}
	}
	v.nonNegative(p+".initialDelay", a.InitialDelay)
	if a.OnNoEvidence != "" {
		v.oneOf(p+".onNoEvidence", a.OnNoEvidence, onNoEvidence)
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"count", a.Count}, {"inconclusiveLimit", a.InconclusiveLimit}, {"consecutiveErrorLimit", a.ConsecutiveErrorLimit}} {
		if f.n < 0 {
			v.add(p+"."+f.name, "must not be negative, got %d", f.n)
		}
	}
	if sc := a.Score; sc != nil {
		if sc.Pass < 0 || sc.Pass > 100 {
			v.add(p+".score.pass", "must be 0..100, got %g", sc.Pass)
		}
		if sc.Marginal < 0 || sc.Marginal > sc.Pass {
			v.add(p+".score.marginal", "must be 0..pass (%g), got %g", sc.Pass, sc.Marginal)
		}
	}
	if len(a.Metrics) == 0 {
		for _, f := range []struct {
			name string
			set  bool
		}{{"dryRun", len(a.DryRun) > 0}, {"initialDelay", a.InitialDelay != 0}, {"count", a.Count != 0},
			{"inconclusiveLimit", a.InconclusiveLimit != 0}, {"consecutiveErrorLimit", a.ConsecutiveErrorLimit != 0}, {"score", a.Score != nil},
			{"onNoEvidence", a.OnNoEvidence != ""}} {
			if v.has(p+"."+f.name, f.set) {
				v.add(p+"."+f.name, "only valid with metrics")
			}
		}
	}
}

// measuredWindow checks that a window of metric analysis (a bake, a verification window) at path lasts at
// least initialDelay plus one interval, so that it ends with a measurement of every metric on the data of
// the new weight: a shorter one would pass on no evidence, or, as a release fails closed, never pass.
func (v *validator) measuredWindow(path string, window Duration, a *MetricAnalysis, interval Duration, ap string) {
	if len(a.Metrics) == 0 || window <= 0 || interval <= 0 || window >= a.InitialDelay+interval {
		return
	}
	v.add(path, "must be at least %s.initialDelay + %s.interval (%s + %s), so that every metric is measured after the initial delay; got %s",
		ap, ap, a.InitialDelay, interval, window)
}

// fullWeightComparisons checks that a canary step at weight 100 with a bake does not list metrics that
// compare with the baseline: the stable track gets no traffic there, so they are never judged in that bake.
func (v *validator) fullWeightComparisons(s *Spec, st *Strategy, p string) {
	a := st.Analysis
	if a == nil || st.Type != StrategyCanary {
		return
	}
	for i, step := range st.Steps {
		if step.Weight < 100 || step.Bake == 0 {
			continue
		}
		for _, name := range a.Metrics {
			if m, ok := s.Metrics[name]; ok && (m.Compare == CompareBaseline || m.Kind == MetricThroughput) {
				v.add(index(p+".steps", i)+".bake", "a bake at weight 100 cannot judge metric %q: it compares with the baseline, which gets no traffic at 100 %%; bake below 100, or watch weight 100 with value metrics in verify", name)
			}
		}
	}
}

// describeMetrics is "2 metrics" for budget messages, or "" without any.
func describeMetrics(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" and %s", plural(n, "metric"))
}
