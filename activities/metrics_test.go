package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/internal/spec"
)

func fptr(f float64) *float64 { return &f }

// fakeProm answers /api/v1/query and /api/v1/query_range with the vector (or matrix) the query's track
// label picks, the way Prometheus' HTTP API does.
func fakeProm(t *testing.T, token string, instant map[string]string, ranges map[string][]float64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		q := r.Form.Get("query")
		w.Header().Set("Content-Type", "application/json")
		track := "canary"
		if strings.Contains(q, `track="stable"`) {
			track = "stable"
		}
		switch r.URL.Path {
		case "/api/v1/query":
			v, ok := instant[track]
			if !ok {
				fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
				return
			}
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,%q]}]}}`, v)
		case "/api/v1/query_range":
			var vals []string
			for i, v := range ranges[track] {
				vals = append(vals, fmt.Sprintf(`[%d,"%g"]`, 1700000000+i, v))
			}
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[%s]}]}}`, strings.Join(vals, ","))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestMeasureMetric(t *testing.T) {
	const query = `sum(rate(ferry_router_requests_total{service="{{.Service}}",track="{{.Track}}",code=~"5.."}[{{.Interval}}]))`
	canary := spec.MetricVars{Service: "checkout", Env: "production", Version: "2.0.0", Track: "canary", Interval: "30s"}
	stable := spec.MetricVars{Service: "checkout", Env: "production", Version: "1.0.0", Track: "stable", Interval: "30s"}
	slow := []float64{0.3, 0.31, 0.29, 0.32, 0.3, 0.33, 0.31, 0.3}
	fast := []float64{0.1, 0.11, 0.09, 0.1, 0.12, 0.1, 0.11, 0.09}
	tests := []struct {
		name     string
		metric   spec.Metric
		baseline bool
		instant  map[string]string
		ranges   map[string][]float64
		want     analysis.Verdict
		value    string
	}{
		{"below max", spec.Metric{Query: query, Max: fptr(0.01)}, false, map[string]string{"canary": "0.001"}, nil, analysis.Successful, "0.001"},
		{"above max", spec.Metric{Query: query, Max: fptr(0.01)}, false, map[string]string{"canary": "0.2"}, nil, analysis.Failed, "0.2"},
		{"no data", spec.Metric{Query: query, Max: fptr(0.01)}, false, nil, nil, analysis.Inconclusive, ""},
		{"NaN", spec.Metric{Query: query, Max: fptr(0.01)}, false, map[string]string{"canary": "NaN"}, nil, analysis.Inconclusive, ""},
		{"condition", spec.Metric{Query: query, SuccessCondition: "result[0] < 0.5"}, false, map[string]string{"canary": "0.4"}, nil, analysis.Successful, "0.4"},
		{"throughput", spec.Metric{Query: query, Kind: spec.MetricThroughput, Tolerance: 0.5}, true, map[string]string{"canary": "10", "stable": "90"}, nil, analysis.Successful, "10"},
		{"throughput without data", spec.Metric{Query: query, Kind: spec.MetricThroughput, Tolerance: 0.5}, true, map[string]string{"stable": "90"}, nil, analysis.Inconclusive, ""},
		{"throughput without traffic", spec.Metric{Query: query, Kind: spec.MetricThroughput, Tolerance: 0.5}, true, map[string]string{"canary": "0", "stable": "90"}, nil, analysis.Failed, "0"},
		{"NaN under a failure condition", spec.Metric{Query: query, FailureCondition: "result > 0.01"}, false, map[string]string{"canary": "NaN"}, nil, analysis.Inconclusive, ""},
		{"slower than the baseline", spec.Metric{Query: query, Compare: spec.CompareBaseline, Confidence: 0.95}, true, nil, map[string][]float64{"canary": slow, "stable": fast}, analysis.Failed, "0.305"}, // the mean of the middle two
		{"as fast as the baseline", spec.Metric{Query: query, Compare: spec.CompareBaseline, Confidence: 0.95}, true, nil, map[string][]float64{"canary": fast, "stable": fast}, analysis.Successful, "0.1"},
		{"compare without data", spec.Metric{Query: query, Compare: spec.CompareBaseline, Confidence: 0.95}, true, nil, nil, analysis.Inconclusive, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeProm(t, "s3cret", tt.instant, tt.ranges)
			p, err := NewPrometheus(srv.URL, PrometheusAuth{Token: "s3cret"})
			if err != nil {
				t.Fatal(err)
			}
			m := &Metrics{Source: p}
			in := MeasureRequest{Name: "m", Metric: tt.metric, Vars: canary, Weight: 10, Window: 30 * time.Second}
			if tt.baseline {
				in.Baseline = &stable
			}
			res, err := m.MeasureMetric(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tt.want {
				t.Errorf("got %s (%s), want %s", res.Verdict, res.Detail, tt.want)
			}
			got := ""
			if res.Value != nil {
				got = fmt.Sprint(*res.Value)
			}
			if got != tt.value {
				t.Errorf("got value %q, want %q", got, tt.value)
			}
			if !strings.Contains(res.Query, `service="checkout",track="canary"`) || !strings.Contains(res.Query, "[30s]") {
				t.Errorf("got query %q, want it rendered for the canary", res.Query)
			}
		})
	}
}

func TestMeasureMetricErrors(t *testing.T) {
	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	unauthorized := fakeProm(t, "right", map[string]string{"canary": "0"}, nil)
	metric := spec.Metric{Query: "up", Max: fptr(1)}
	inconclusive := metric
	inconclusive.OnError = spec.OnErrorInconclusive
	tests := []struct {
		name   string
		source func() MetricSource
		metric spec.Metric
		want   analysis.Verdict
		detail string
	}{
		{"unreachable", func() MetricSource { p, _ := NewPrometheus(dead, PrometheusAuth{}); return p }, metric, analysis.Error, "connection refused"},
		{"unreachable, onError inconclusive", func() MetricSource { p, _ := NewPrometheus(dead, PrometheusAuth{}); return p }, inconclusive, analysis.Inconclusive, "connection refused"},
		{"wrong token", func() MetricSource { p, _ := NewPrometheus(unauthorized.URL, PrometheusAuth{Token: "wrong"}); return p }, metric, analysis.Error, "401"},
		{"no Prometheus configured", func() MetricSource { return nil }, metric, analysis.Error, "no Prometheus configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Metrics{Source: tt.source()}
			res, err := m.MeasureMetric(context.Background(), MeasureRequest{Name: "up", Metric: tt.metric, Window: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tt.want || !strings.Contains(res.Detail, tt.detail) {
				t.Errorf("got %s (%s), want %s mentioning %q", res.Verdict, res.Detail, tt.want, tt.detail)
			}
		})
	}

	// A query that does not render can never run: the spec is wrong.
	m := &Metrics{}
	_, err = m.MeasureMetric(context.Background(), MeasureRequest{Name: "bad", Metric: spec.Metric{Query: "{{.Nope}}", Max: fptr(1)}})
	var appErr interface{ Type() string }
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalidSpec {
		t.Errorf("got %v, want an %s error", err, ErrTypeInvalidSpec)
	}
}

// A Prometheus behind Thanos or Cortex marks an answer from a store that did not respond with warnings: the
// values may be incomplete, so the measurement judges nothing.
func TestMeasureMetricPartialData(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/query":
			fmt.Fprint(w, `{"status":"success","warnings":["store eu-west-1 unavailable"],"data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0"]}]}}`)
		case "/api/v1/query_range":
			fmt.Fprint(w, `{"status":"success","warnings":["store eu-west-1 unavailable"],"data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"0.1"],[1700000005,"0.1"],[1700000010,"0.1"],[1700000015,"0.1"],[1700000020,"0.1"]]}]}}`)
		}
	}))
	t.Cleanup(srv.Close)
	p, err := NewPrometheus(srv.URL, PrometheusAuth{})
	if err != nil {
		t.Fatal(err)
	}
	stable := spec.MetricVars{Track: "stable"}
	for _, metric := range []spec.Metric{
		{Query: "errors", Max: fptr(0.01)},
		{Query: "errors", FailureCondition: "result > 0.01"},
		{Query: "errors", Compare: spec.CompareBaseline, Confidence: 0.95},
		{Query: "errors", Kind: spec.MetricThroughput, Tolerance: 0.5},
	} {
		m := &Metrics{Source: p}
		res, err := m.MeasureMetric(context.Background(), MeasureRequest{Name: "m", Metric: metric, Baseline: &stable, Weight: 10, Window: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != analysis.Inconclusive || !strings.Contains(res.Detail, "partial data: store eu-west-1 unavailable") {
			t.Errorf("%+v: got %s (%s), want inconclusive naming the partial data and the warning", metric, res.Verdict, res.Detail)
		}
	}
}

// recordingSource answers every range query with the same samples and remembers what it was asked.
type recordingSource struct {
	queries     []string
	span, step  time.Duration
	delay       time.Duration
	rangeValues []float64
}

func (s *recordingSource) Instant(ctx context.Context, q string) ([]float64, error) {
	s.queries = append(s.queries, q)
	select {
	case <-time.After(s.delay):
		return []float64{0}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *recordingSource) Range(ctx context.Context, q string, span, step time.Duration) ([]float64, error) {
	s.queries, s.span, s.step = append(s.queries, q), span, step
	return s.rangeValues, nil
}

// A comparison's samples each cover one step, start a step after the window opens (the interval ago, or
// Since when later), and the query's {{.Step}} is that step.
func TestMeasureMetricSampling(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	metric := spec.Metric{Query: `histogram_quantile(0.5, rate(x{track="{{.Track}}"}[{{.Step}}]))`, Compare: spec.CompareBaseline, Confidence: 0.95}
	stable := spec.MetricVars{Track: "stable"}
	tests := []struct {
		name     string
		since    time.Time
		span     time.Duration
		wantRuns bool
	}{
		{"no since: the whole interval", time.Time{}, 55 * time.Second, true},
		{"since long ago", now.Add(-time.Hour), 55 * time.Second, true},
		{"since 32 s ago: 6 whole steps", now.Add(-32 * time.Second), 25 * time.Second, true},
		{"since 3 s ago: not one step", now.Add(-3 * time.Second), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &recordingSource{rangeValues: []float64{1, 1, 1, 1, 1, 1}}
			m := &Metrics{Source: src, Now: func() time.Time { return now }}
			res, err := m.MeasureMetric(context.Background(), MeasureRequest{Name: "m", Metric: metric, Vars: spec.MetricVars{Track: "canary"},
				Baseline: &stable, Weight: 10, Window: time.Minute, Since: tt.since})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantRuns {
				if len(src.queries) != 0 || res.Verdict != analysis.Inconclusive {
					t.Errorf("got %d queries and %s (%s), want none and inconclusive", len(src.queries), res.Verdict, res.Detail)
				}
				return
			}
			if src.span != tt.span || src.step != 5*time.Second {
				t.Errorf("got span %s step %s, want span %s step 5s", src.span, src.step, tt.span)
			}
			if len(src.queries) != 2 || !strings.Contains(src.queries[0], "[5s]") || !strings.Contains(src.queries[1], `track="stable"`) {
				t.Errorf("got queries %q, want the canary's and the stable's over [5s]", src.queries)
			}
		})
	}
	// A value metric's {{.Step}} is the interval.
	src := &recordingSource{}
	m := &Metrics{Source: src}
	if _, err := m.MeasureMetric(context.Background(), MeasureRequest{Name: "m", Metric: spec.Metric{Query: "rate(x[{{.Step}}])", Max: fptr(1)}, Window: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if len(src.queries) != 1 || src.queries[0] != "rate(x[1m])" {
		t.Errorf("got %q, want rate(x[1m])", src.queries)
	}
}

// A query without an answer within the query timeout is an error verdict (or inconclusive under onError),
// not an activity error.
func TestMeasureMetricQueryTimeout(t *testing.T) {
	metric := spec.Metric{Query: "up", Max: fptr(1)}
	inconclusive := metric
	inconclusive.OnError = spec.OnErrorInconclusive
	for _, tt := range []struct {
		metric spec.Metric
		want   analysis.Verdict
	}{{metric, analysis.Error}, {inconclusive, analysis.Inconclusive}} {
		m := &Metrics{Source: &recordingSource{delay: time.Minute}, QueryTimeout: 100 * time.Millisecond}
		start := time.Now()
		res, err := m.MeasureMetric(context.Background(), MeasureRequest{Name: "up", Metric: tt.metric, Window: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != tt.want || !strings.Contains(res.Detail, "no answer within 100ms") || time.Since(start) > 10*time.Second {
			t.Errorf("got %s (%s) after %s, want %s naming the timeout at once", res.Verdict, res.Detail, time.Since(start), tt.want)
		}
	}
}
