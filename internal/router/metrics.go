package router

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// trackLabels label every per-request series. Analysis queries select a service, an environment and a track.
var trackLabels = []string{"service", "env", "version", "track"}

// metrics are the router's collectors, all declared here. Each Router has its own registry, so that several
// routers (in tests) do not collide.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	held     *prometheus.GaugeVec
	unrouted prometheus.Counter
}

func newMetrics(r *Router) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_router_requests_total",
			Help: "Requests the router answered, by service, environment, version, track and status code. " +
				"Requests refused before a track was chosen (held past a pause, no healthy backend) have empty version and track; " +
				"a request whose client left before the backend answered has code 499.",
		}, append(trackLabels, "code")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ferry_router_request_duration_seconds",
			Help:    "Time from a request's arrival at the router to the end of its response, including any hold during a pause.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, trackLabels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_router_requests_in_flight",
			Help: "Requests forwarded to a backend of the track and not yet answered.",
		}, trackLabels),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_router_requests_held",
			Help: "Requests waiting for a paused service to resume.",
		}, []string{"service", "env"}),
		unrouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_router_unrouted_requests_total",
			Help: "Requests whose Host matched no route; they were answered 404.",
		}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.inFlight, m.held, m.unrouted,
		stateCollector{r},
	)
	return m
}

// Descriptions of the series that stateCollector reads from the routing table at scrape time, so that a
// removed route or backend leaves no stale series behind.
var (
	weightDesc = prometheus.NewDesc("ferry_router_track_weight",
		"Configured weight of a track, in percent of its service's traffic.", trackLabels, nil)
	healthyDesc = prometheus.NewDesc("ferry_router_backend_healthy",
		"1 if the backend takes traffic (its health check passes, or it has none), else 0.",
		append(trackLabels, "backend"), nil)
	pausedDesc = prometheus.NewDesc("ferry_router_paused",
		"1 while the service is paused: its requests are held until it resumes or the hold runs out.",
		[]string{"service", "env"}, nil)
)

// stateCollector exports the current routing table.
type stateCollector struct{ r *Router }

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- weightDesc
	ch <- healthyDesc
	ch <- pausedDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, rt := range c.r.table.Load().routes {
		paused := 0.0
		if rt.pause != nil {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, paused, rt.routing.Service, rt.routing.Env)
		for _, t := range rt.tracks {
			ch <- prometheus.MustNewConstMetric(weightDesc, prometheus.GaugeValue, float64(t.weight), t.labels...)
			for _, b := range t.backends {
				up := 0.0
				if b.healthy.Load() {
					up = 1
				}
				ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, up, append(t.labels[:len(t.labels):len(t.labels)], b.raw)...)
			}
		}
	}
}
