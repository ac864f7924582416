package activities

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

var _ MetricSource = (*Prometheus)(nil)

// Prometheus is the MetricSource of a Prometheus server, through its HTTP API (v1).
type Prometheus struct {
	api promv1.API
	now func() time.Time
}

// PrometheusAuth is how the worker authenticates to Prometheus: a bearer token, basic auth, or nothing.
type PrometheusAuth struct {
	Token              string
	Username, Password string
}

// NewPrometheus returns the Prometheus at address (http://127.0.0.1:9090). It connects lazily: an
// unreachable server is an error of each query, not of NewPrometheus.
func NewPrometheus(address string, auth PrometheusAuth) (*Prometheus, error) {
	var rt http.RoundTripper = api.DefaultRoundTripper
	if auth.Token != "" || auth.Username != "" {
		rt = authRoundTripper{next: rt, auth: auth}
	}
	c, err := api.NewClient(api.Config{Address: address, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", address, err)
	}
	return &Prometheus{api: promv1.NewAPI(c), now: time.Now}, nil
}

// Instant runs an instant query now.
func (p *Prometheus) Instant(ctx context.Context, query string) ([]float64, error) {
	v, warnings, err := p.api.Query(ctx, query, p.now())
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	if len(warnings) > 0 {
		return nil, &PartialDataError{Warnings: warnings}
	}
	switch v := v.(type) {
	case *model.Scalar:
		return []float64{float64(v.Value)}, nil
	case model.Vector:
		out := make([]float64, len(v))
		for i, s := range v {
			out[i] = float64(s.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("prometheus: the query gave a %s, where a metric needs a scalar or an instant vector", v.Type())
}

// Range runs a range query from span ago until now, a sample every step.
func (p *Prometheus) Range(ctx context.Context, query string, span, step time.Duration) ([]float64, error) {
	end := p.now()
	v, warnings, err := p.api.QueryRange(ctx, query, promv1.Range{Start: end.Add(-span), End: end, Step: step})
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	if len(warnings) > 0 {
		return nil, &PartialDataError{Warnings: warnings}
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("prometheus: the range query gave a %s, not a matrix", v.Type())
	}
	var out []float64
	for _, s := range m {
		for _, sp := range s.Values {
			if f := float64(sp.Value); !math.IsNaN(f) {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// authRoundTripper adds the worker's credentials to every request.
type authRoundTripper struct {
	next http.RoundTripper
	auth PrometheusAuth
}

func (a authRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if a.auth.Token != "" {
		r.Header.Set("Authorization", "Bearer "+a.auth.Token)
	} else {
		r.SetBasicAuth(a.auth.Username, a.auth.Password)
	}
	return a.next.RoundTrip(r)
}
