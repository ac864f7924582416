package router

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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
	// unavailable counts, per track, the requests answered 503 because the track chosen had no healthy backend.
	unavailable *prometheus.CounterVec
}

func newMetrics(r *Router) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_router_requests_total",
			Help: "Requests the router answered, by service, environment, version, track and status code. " +
				"Requests refused before a track was chosen (held past a pause, body too large) have empty version and track; " +
				"a request whose track had no healthy backend is counted on that track with code 503; " +
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
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_router_no_healthy_backend_total",
			Help: "Requests answered 503 by the router because the track their weight chose had no healthy backend " +
				"(its share is never given to the other tracks); also counted in ferry_router_requests_total with code 503.",
		}, trackLabels),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.inFlight, m.held, m.unrouted, m.unavailable,
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
			ch <- prometheus.MustNewConstMetric(weightDesc, prometheus.GaugeValue, float64(t.weight), t.series.labels...)
			for _, b := range t.backends {
				up := 0.0
				if b.healthy.Load() {
					up = 1
				}
				ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, up, append(t.series.labels[:len(t.series.labels):len(t.series.labels)], b.raw)...)
			}
		}
	}
}

// series are the metrics of one track (service, env, version and track), resolved from their labels once, so
// that a request looks up no label and a change that keeps the track keeps them. A route also has series
// with an empty version and track, for the requests it refuses before choosing a track; those have no
// duration or in-flight gauge of their own.
type series struct {
	labels   []string
	requests *prometheus.CounterVec // curried with labels: only the code is left
	// codes caches the counter per status code (index code-100), so that counting a request allocates nothing
	// once its code has been seen.
	codes    [500]atomic.Pointer[prometheus.Counter]
	duration prometheus.Observer
	inFlight prometheus.Gauge
	// unavailable counts the track's requests answered 503 for want of a healthy backend.
	unavailable prometheus.Counter
	// retired is set once the series are deleted from the registry: a request that still ends on the old
	// track then counts only into counters already resolved, so that it does not bring the series back.
	retired atomic.Bool
}

func seriesKey(labels []string) string { return strings.Join(labels, "\x00") }

// seriesFor returns the series of labels, made if needed. The caller holds mu (or owns r).
func (r *Router) seriesFor(labels []string) *series {
	k := seriesKey(labels)
	if s := r.series[k]; s != nil {
		return s
	}
	s := &series{labels: labels, requests: r.metrics.requests.MustCurryWith(labelsOf(labels))}
	if labels[3] != "" {
		s.duration = r.metrics.duration.WithLabelValues(labels...)
		s.inFlight = r.metrics.inFlight.WithLabelValues(labels...)
		s.unavailable = r.metrics.unavailable.WithLabelValues(labels...)
	}
	r.series[k] = s
	return s
}

// count adds a request answered with code.
func (s *series) count(code int) {
	if code < 100 || code >= 600 {
		if !s.retired.Load() {
			s.requests.WithLabelValues(strconv.Itoa(code)).Inc()
		}
		return
	}
	slot := &s.codes[code-100]
	c := slot.Load()
	if c == nil {
		if s.retired.Load() {
			return
		}
		counter := s.requests.WithLabelValues(strconv.Itoa(code))
		c = &counter
		slot.Store(c)
	}
	(*c).Inc()
}

// retire notes the series that the table next no longer has, and forgets the note of those it has again,
// then deletes those retired for MetricsRetention. The caller holds mu (or owns r).
func (r *Router) retire(next *table, now time.Time) {
	live := map[string]bool{}
	for _, rt := range next.routes {
		live[seriesKey(rt.refused.labels)] = true
		for _, tk := range rt.tracks {
			live[seriesKey(tk.series.labels)] = true
		}
	}
	for k := range r.series {
		_, noted := r.retired[k]
		switch {
		case live[k]:
			delete(r.retired, k)
		case !noted:
			r.retired[k] = now
		}
	}
	r.purge(now)
}

// purge deletes the series retired for MetricsRetention or longer from the registry, so that /metrics does
// not grow with every version ever deployed. The caller holds mu.
func (r *Router) purge(now time.Time) {
	for k, at := range r.retired {
		if now.Sub(at) < r.opts.MetricsRetention {
			continue
		}
		s := r.series[k]
		s.retired.Store(true)
		r.metrics.requests.DeletePartialMatch(labelsOf(s.labels))
		r.metrics.duration.DeleteLabelValues(s.labels...)
		r.metrics.inFlight.DeleteLabelValues(s.labels...)
		r.metrics.unavailable.DeleteLabelValues(s.labels...)
		if s.labels[3] == "" {
			r.metrics.held.DeleteLabelValues(s.labels[0], s.labels[1])
		}
		delete(r.series, k)
		delete(r.retired, k)
	}
}

// purgeRetired runs purge under mu; the health loop calls it, so that series retire without a change.
func (r *Router) purgeRetired() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.purge(time.Now())
}
