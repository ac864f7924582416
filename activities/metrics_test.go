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
		{"slower than the baseline", spec.Metric{Query: query, Compare: spec.CompareBaseline, Confidence: 0.95}, true, nil, map[string][]float64{"canary": slow, "stable": fast}, analysis.Failed, "0.3"},
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
