package worker

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ferryhq/ferry/activities"
)

// metricSource builds the Prometheus that MeasureMetric queries from the configuration's prometheus section,
// or nil without an address (every measurement is then an error, never a pass). A password that cannot be
// resolved, or an address the client refuses, makes every query fail with that reason.
func metricSource(cfg PrometheusConfig, lookupEnv func(string) (string, bool)) activities.MetricSource {
	if cfg.Address == "" {
		return nil
	}
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	auth := activities.PrometheusAuth{Token: cfg.Token.Reveal(), Username: cfg.Username}
	if cfg.Password != "" {
		pw, err := cfg.Password.Resolve(lookupEnv, os.ReadFile)
		if err != nil {
			return failingSource{fmt.Errorf("prometheus.password: %w", err)}
		}
		auth.Password = pw.Reveal()
	}
	p, err := activities.NewPrometheus(cfg.Address, auth)
	if err != nil {
		return failingSource{err}
	}
	return p
}

// noMetrics says why src cannot measure metrics, for admission (activities.Platform.NoMetrics): no
// Prometheus configured, or a configuration that makes every query fail. Empty when src can query.
func noMetrics(src activities.MetricSource) string {
	switch f := src.(type) {
	case nil:
		return "no Prometheus is configured; start the worker with --prometheus-address (FERRY_PROMETHEUS_ADDRESS) or set prometheus.address in its configuration file"
	case failingSource:
		return fmt.Sprintf("its Prometheus configuration cannot be used (%v); fix the prometheus section or the --prometheus-* flags", f.err)
	}
	return ""
}

// failingSource is a MetricSource whose every query fails with err: a configuration the worker cannot use.
type failingSource struct{ err error }

func (f failingSource) Instant(context.Context, string) ([]float64, error) { return nil, f.err }

func (f failingSource) Range(context.Context, string, time.Duration, time.Duration) ([]float64, error) {
	return nil, f.err
}
