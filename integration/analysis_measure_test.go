package integration

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/internal/promtest"
	"github.com/ferryhq/ferry/internal/spec"
)

// measureActivityTimeout is the MeasureMetric activity's start-to-close timeout in the workflows.
const measureActivityTimeout = 30 * time.Second

// idleService is a real Prometheus scraping a service that has served no request: its request counters
// exist, at 0, so an error rate over them is 0/0.
func idleService(t *testing.T) *promtest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idle_requests_total", Help: "Requests served."}, []string{"code"})
	reg.MustRegister(requests)
	requests.WithLabelValues("200")
	requests.WithLabelValues("500")
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(target.Close)
	return promtest.Start(t, strings.TrimPrefix(target.URL, "http://"))
}

const idleErrorRate = `sum(rate(idle_requests_total{code="500"}[{{.Step}}])) / sum(rate(idle_requests_total[{{.Step}}]))`

// waitForSeries waits until Prometheus has scraped the idle service enough for the rate to have a value (NaN).
func waitForSeries(t *testing.T, p *activities.Prometheus) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		values, err := p.Instant(context.Background(), `sum(rate(idle_requests_total[5s]))`)
		if err == nil && len(values) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rate of the idle service after 30 s: %v %v", values, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// An error rate of a service without traffic is 0/0: NaN. Under a failure-only condition, or max, that is
// no evidence of health: the measurement is inconclusive, not a pass.
func TestMeasureNaNIsNotAPass(t *testing.T) {
	t.Parallel()
	prom := idleService(t)
	p, err := activities.NewPrometheus(prom.URL, activities.PrometheusAuth{})
	if err != nil {
		t.Fatal(err)
	}
	waitForSeries(t, p)
	m := &activities.Metrics{Source: p}
	for _, metric := range []spec.Metric{
		{Query: idleErrorRate, FailureCondition: "result > 0.01"},
		{Query: idleErrorRate, FailureCondition: "result[0] > 0.01"},
		{Query: idleErrorRate, Max: ptrTo(0.01)},
		{Query: idleErrorRate, SuccessCondition: "result <= 0.01"},
	} {
		res, err := m.MeasureMetric(context.Background(), activities.MeasureRequest{Name: "error-rate", Metric: metric,
			Vars: spec.MetricVars{Service: "idle"}, Window: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != analysis.Inconclusive || res.Value != nil {
			t.Errorf("%+v: got %s (%s), want inconclusive without a value", metric, res.Verdict, res.Detail)
		}
	}
	// The same query, told what NaN means, decides.
	res, err := m.MeasureMetric(context.Background(), activities.MeasureRequest{Name: "error-rate",
		Metric: spec.Metric{Query: idleErrorRate, SuccessCondition: "isNaN(result) || result <= 0.01"}, Window: 5 * time.Second})
	if err != nil || res.Verdict != analysis.Successful {
		t.Errorf("got %s (%s) %v, want successful where the condition accepts NaN", res.Verdict, res.Detail, err)
	}
}

// A Prometheus that answers after 40 s, longer than the activity may run, gives an error verdict (or an
// inconclusive one under onError: inconclusive) within the activity's timeout, not a failed activity.
func TestMeasureSlowPrometheus(t *testing.T) {
	t.Parallel()
	prom := idleService(t)
	upstream, err := url.Parse(prom.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(40 * time.Second):
			proxy.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	direct, err := activities.NewPrometheus(prom.URL, activities.PrometheusAuth{})
	if err != nil {
		t.Fatal(err)
	}
	waitForSeries(t, direct)
	p, err := activities.NewPrometheus(slow.URL, activities.PrometheusAuth{})
	if err != nil {
		t.Fatal(err)
	}
	m := &activities.Metrics{Source: p}
	metric := spec.Metric{Query: "sum(idle_requests_total)", Max: ptrTo(1)}
	// Straight to Prometheus the query is judged: only the delay makes the difference.
	if res, err := (&activities.Metrics{Source: direct}).MeasureMetric(context.Background(),
		activities.MeasureRequest{Name: "m", Metric: metric, Window: 5 * time.Second}); err != nil || res.Verdict != analysis.Successful {
		t.Fatalf("direct: got %s (%s) %v, want successful", res.Verdict, res.Detail, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), measureActivityTimeout)
	defer cancel()
	start := time.Now()
	res, err := m.MeasureMetric(ctx, activities.MeasureRequest{Name: "m", Metric: metric, Window: 5 * time.Second})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("got activity error %v after %s, want an error verdict", err, took)
	}
	if res.Verdict != analysis.Error || !strings.Contains(res.Detail, "no answer within 20s") || took >= measureActivityTimeout {
		t.Errorf("got %s (%s) after %s, want an error naming the 20s query timeout within %s", res.Verdict, res.Detail, took, measureActivityTimeout)
	}
	t.Logf("a Prometheus answering after 40 s: %s after %s", res.Verdict, took.Round(time.Millisecond))
}

func ptrTo(f float64) *float64 { return &f }
