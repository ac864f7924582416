// Package demoapp is a small web service for trying releases: it shows its version, answers health and
// readiness probes, and can be made "bad" with an error rate and added latency, so that a canary analysis
// has something to catch. testdata/demoapp wraps it as a static binary.
package demoapp

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math/rand/v2"
	"net/http"
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
// ErrorRate and Latency apply to / and /version only: the probes stay truthful about the process, so that a
// bad version is caught by its traffic, not by its probes.
func Handler(cfg Config) http.Handler {
	float := cfg.Float
	if float == nil {
		float = rand.Float64
	}
	readyAt := time.Now().Add(cfg.ReadyAfter)
	unhealthyAt := time.Now().Add(cfg.UnhealthyAfter)
	bad := func(w http.ResponseWriter, req *http.Request) bool {
		w.Header().Set("X-Version", cfg.Version)
		if cfg.Latency > 0 {
			select {
			case <-time.After(cfg.Latency):
			case <-req.Context().Done():
				return true
			}
		}
		if cfg.ErrorRate > 0 && float() < cfg.ErrorRate {
			http.Error(w, "injected error", http.StatusInternalServerError)
			return true
		}
		return false
	}
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
