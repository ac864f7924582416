// Package demoapp is a small web service for trying releases: it shows its version, answers health and
// readiness probes, and can be made "bad" with an error rate and added latency, from its first request or
// from the moment a Trigger starts a Fault, so that a canary analysis has something to catch.
// testdata/demoapp wraps it as a static binary.
package demoapp

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"
)

// Config makes one version of the service.
type Config struct {
	// Version is shown on the page and in the X-Version header.
	Version string
	// ErrorRate is the share, 0 to 1, of page requests answered 500.
	ErrorRate float64
	// Latency is added to every page request.
	Latency time.Duration
	// LatencyJitter, if positive, adds a uniformly random delay in [0, LatencyJitter) to every page request,
	// on top of Latency, so that latencies spread over a range as a real service's do.
	LatencyJitter time.Duration
	// Trigger, if set, switches a Fault on and off while the handler serves.
	Trigger *Trigger
	// ReadyAfter delays readiness: /readyz answers 503 until this long after Handler was called.
	ReadyAfter time.Duration
	// UnhealthyAfter, if positive, makes /healthz answer 503 from this long after Handler was called: a process
	// that hangs, for a liveness check to catch.
	UnhealthyAfter time.Duration
	// Float returns a number in [0, 1) that decides whether a request fails; nil means math/rand/v2.
	Float func() float64
}

// Validate reports a config that cannot be served.
func (c Config) Validate() error {
	switch {
	case c.Version == "":
		return fmt.Errorf("version: want a version")
	case c.ErrorRate < 0 || c.ErrorRate > 1:
		return fmt.Errorf("error rate %v: want 0 to 1", c.ErrorRate)
	case c.Latency < 0 || c.ReadyAfter < 0 || c.UnhealthyAfter < 0:
		return fmt.Errorf("latency, ready delay and unhealthy delay: want durations of 0 or more")
	case c.LatencyJitter < 0:
		return fmt.Errorf("latency jitter %s: want a duration of 0 or more", c.LatencyJitter)
	}
	return nil
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>demo {{.Version}}</title></head>
<body style="font-family: sans-serif; margin: 3em">
<h1>demo app</h1>
<p>Version <strong id="version">{{.Version}}</strong>{{if .Track}}, track <strong id="track">{{.Track}}</strong>{{end}}.</p>
</body></html>
`))

// Handler serves:
//
//	/          a page with the version (and the router's track, if a Ferry router forwarded the request)
//	/version   {"version": "..."}
//	/healthz   200 while the process runs, until UnhealthyAfter if set; 503 after it
//	/readyz    200 once ReadyAfter has passed, 503 before
//
// ErrorRate, Latency, LatencyJitter and a Trigger's Fault apply to / and /version only: the probes stay
// truthful about the process, so that a bad version is caught by its traffic, not by its probes.
func Handler(cfg Config) http.Handler {
	float := cfg.Float
	if float == nil {
		float = rand.Float64
	}
	readyAt := time.Now().Add(cfg.ReadyAfter)
	unhealthyAt := time.Now().Add(cfg.UnhealthyAfter)
	bad := func(w http.ResponseWriter, req *http.Request) bool { return misbehave(cfg, float, w, req) }
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		if bad(w, req) {
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, struct{ Version, Track string }{cfg.Version, req.Header.Get("X-Ferry-Track")})
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, req *http.Request) {
		if bad(w, req) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"version": cfg.Version})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if cfg.UnhealthyAfter > 0 && !time.Now().Before(unhealthyAt) {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if time.Now().Before(readyAt) {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// misbehave delays a page request and answers it 500 as cfg (and the fault on, if any) says, and reports
// whether it answered. The fault is read once, when the request starts.
func misbehave(cfg Config, float func() float64, w http.ResponseWriter, req *http.Request) bool {
	w.Header().Set("X-Version", cfg.Version)
	errorRate, delay := cfg.ErrorRate, cfg.Latency
	if cfg.LatencyJitter > 0 {
		delay += time.Duration(rand.Float64() * float64(cfg.LatencyJitter))
	}
	if f := cfg.Trigger.on(); f != nil {
		errorRate, delay = f.ErrorRate, delay+f.Latency
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return true
		}
	}
	if errorRate > 0 && float() < errorRate {
		http.Error(w, "injected error", http.StatusInternalServerError)
		return true
	}
	return false
}

// Fault is bad behaviour that a version starts to show while it serves, as a fault in production does,
// rather than from its first request. A Trigger switches it on.
type Fault struct {
	// ErrorRate is the share, 0 to 1, of page requests answered 500 while the fault is on, in place of
	// Config.ErrorRate.
	ErrorRate float64
	// Latency is added to every page request while the fault is on, on top of Config.Latency and
	// Config.LatencyJitter.
	Latency time.Duration
}

// Trigger switches a Fault on and off in the handlers whose Config names it. Its zero value is off. It is
// safe for concurrent use.
type Trigger struct {
	fault atomic.Pointer[Fault]
}

// Start switches f on and returns the time of the switch: every page request that starts after it is served
// with f, until Stop. Starting another fault replaces the one on. It refuses a fault that cannot be served.
func (t *Trigger) Start(f Fault) (time.Time, error) {
	switch {
	case f.ErrorRate < 0 || f.ErrorRate > 1:
		return time.Time{}, fmt.Errorf("fault error rate %v: want 0 to 1", f.ErrorRate)
	case f.Latency < 0:
		return time.Time{}, fmt.Errorf("fault latency %s: want a duration of 0 or more", f.Latency)
	}
	t.fault.Store(&f)
	return time.Now(), nil
}

// Stop switches the fault off: page requests that start after it returns are served as their Config says.
func (t *Trigger) Stop() { t.fault.Store(nil) }

// on returns the fault that is on, or nil; a nil Trigger is always off.
func (t *Trigger) on() *Fault {
	if t == nil {
		return nil
	}
	return t.fault.Load()
}
