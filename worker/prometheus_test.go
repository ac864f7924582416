package worker

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestMetricSource(t *testing.T) {
	if s := metricSource(PrometheusConfig{}, nil); s != nil {
		t.Errorf("got %T without an address, want none", s)
	}
	// A password that cannot be found makes every query fail with the reason, never pass.
	s := metricSource(PrometheusConfig{Address: "http://127.0.0.1:9", Username: "ferry", Password: "env:NO_SUCH_VAR"},
		func(string) (string, bool) { return "", false })
	if s == nil {
		t.Fatal("got no source, want one that fails")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Instant(ctx, "up"); err == nil || !strings.Contains(err.Error(), "prometheus.password") {
		t.Errorf("got %v, want the password's problem", err)
	}
	if _, err := s.Range(ctx, "up", time.Minute, time.Second); err == nil {
		t.Error("got no error from Range, want the password's problem")
	}
	ok := metricSource(PrometheusConfig{Address: "http://127.0.0.1:9", Username: "ferry", Password: "env:PW"},
		func(name string) (string, bool) { return "pw", name == "PW" })
	if _, isFailing := ok.(failingSource); isFailing {
		t.Errorf("got a failing source for a resolvable password")
	}
}

// Admission learns why a worker cannot measure metrics: no address, or a password it cannot resolve.
func TestNoMetrics(t *testing.T) {
	if got := noMetrics(metricSource(PrometheusConfig{}, nil)); !strings.Contains(got, "no Prometheus is configured") ||
		!strings.Contains(got, "--prometheus-address") {
		t.Errorf("got %q without an address, want the remedy", got)
	}
	bad := metricSource(PrometheusConfig{Address: "http://127.0.0.1:9", Username: "ferry", Password: "env:NO_SUCH_VAR"},
		func(string) (string, bool) { return "", false })
	if got := noMetrics(bad); !strings.Contains(got, "prometheus.password") {
		t.Errorf("got %q with an unresolvable password, want its problem", got)
	}
	if got := noMetrics(metricSource(PrometheusConfig{Address: "http://127.0.0.1:9"}, nil)); got != "" {
		t.Errorf("got %q with an address, want none", got)
	}
}
