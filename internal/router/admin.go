package router

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves the admin API, /metrics and /healthz. Every /v1/ endpoint requires the header
// "Authorization: Bearer TOKEN"; an empty token turns that check off, which only a listener on loopback
// should allow. /metrics and /healthz need no token.
//
//	GET    /v1/routes                              every route's Status
//	GET    /v1/routes/{service}/{env}              one route's Status
//	PUT    /v1/routes/{service}/{env}              body: Routing; replaces it whole. Query: healthWait, drain
//	DELETE /v1/routes/{service}/{env}              removes it. Query: drain
//	POST   /v1/routes/{service}/{env}/pause        body: {"maxHold": "30s"}
//	POST   /v1/routes/{service}/{env}/resume
//
// Errors are JSON {"error": "..."} with 400 (invalid), 401 (token), 403 (a browser's cross-origin request,
// or without a token a Host that is not loopback), 404 (no such route), 409 (a host of another route), 415
// (a body that is not JSON), 503 (a backend failed its health check; nothing changed) or 500.
//
// Without a token, a web page could otherwise change routes through the user's browser: the API refuses
// cross-origin browser requests, bodies whose Content-Type is not application/json (which a plain form or
// fetch cannot send without the router's consent), and a Host header that is not a loopback name, so that a
// DNS name rebound to 127.0.0.1 does not reach it either.
func (r *Router) AdminHandler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	api := http.NewServeMux()
	api.HandleFunc("GET /v1/routes", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, r.Statuses())
	})
	api.HandleFunc("GET /v1/routes/{service}/{env}", func(w http.ResponseWriter, req *http.Request) {
		st, err := r.Status(req.PathValue("service"), req.PathValue("env"))
		reply(w, st, err)
	})
	api.HandleFunc("PUT /v1/routes/{service}/{env}", func(w http.ResponseWriter, req *http.Request) {
		var routing Routing
		if err := decode(req, &routing); err != nil {
			reply(w, nil, err)
			return
		}
		if routing.Service != req.PathValue("service") || routing.Env != req.PathValue("env") {
			reply(w, nil, &InvalidError{Err: fmt.Errorf("body is %s/%s, path is %s/%s", routing.Service, routing.Env, req.PathValue("service"), req.PathValue("env"))})
			return
		}
		var opts SetOptions
		var err error
		if opts.HealthWait, err = queryDuration(req, "healthWait", DefaultHealthWait); err == nil {
			opts.DrainTimeout, err = queryDuration(req, "drain", DefaultDrainTimeout)
		}
		if err != nil {
			reply(w, nil, err)
			return
		}
		st, err := r.Set(req.Context(), routing, opts)
		reply(w, st, err)
	})
	api.HandleFunc("DELETE /v1/routes/{service}/{env}", func(w http.ResponseWriter, req *http.Request) {
		d, err := queryDuration(req, "drain", DefaultDrainTimeout)
		if err != nil {
			reply(w, nil, err)
			return
		}
		removed, drained, err := r.Remove(req.Context(), req.PathValue("service"), req.PathValue("env"), d)
		reply(w, map[string]bool{"removed": removed, "drained": drained}, err)
	})
	api.HandleFunc("POST /v1/routes/{service}/{env}/pause", func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			MaxHold Duration `json:"maxHold"`
		}
		if err := decode(req, &body); err != nil {
			reply(w, nil, err)
			return
		}
		st, err := r.Pause(req.PathValue("service"), req.PathValue("env"), time.Duration(body.MaxHold))
		reply(w, st, err)
	})
	api.HandleFunc("POST /v1/routes/{service}/{env}/resume", func(w http.ResponseWriter, req *http.Request) {
		st, err := r.Resume(req.PathValue("service"), req.PathValue("env"))
		reply(w, st, err)
	})
	guarded := http.NewCrossOriginProtection().Handler(requireToken(token, requireJSON(api)))
	if token == "" {
		guarded = requireLoopbackHost(guarded)
	}
	mux.Handle("/v1/", guarded)
	return mux
}

// requireJSON refuses a change (any method but GET) with a body that does not say it is JSON.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && (req.ContentLength != 0 || req.Header.Get("Content-Type") != "") {
			mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				writeJSON(w, http.StatusUnsupportedMediaType, errorBody{Error: "want Content-Type: application/json"})
				return
			}
		}
		next.ServeHTTP(w, req)
	})
}

// requireLoopbackHost refuses a request whose Host header is not localhost or a loopback address.
func requireLoopbackHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		host := req.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
		if !strings.EqualFold(host, "localhost") && (err != nil || !ip.IsLoopback()) {
			writeJSON(w, http.StatusForbidden, errorBody{Error: "without an admin token, only a loopback Host is served"})
			return
		}
		next.ServeHTTP(w, req)
	})
}

func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if subtle.ConstantTimeCompare([]byte(req.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ferry-router"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, req)
	})
}

// maxBody bounds an admin request body; a routing is a few kilobytes.
const maxBody = 1 << 20

func decode(req *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, req.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &InvalidError{Err: fmt.Errorf("body: %w", err)}
	}
	return nil
}

func queryDuration(req *http.Request, name string, dflt time.Duration) (time.Duration, error) {
	s := req.URL.Query().Get(name)
	if s == "" {
		return dflt, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, &InvalidError{Err: fmt.Errorf("query %s=%q: want a duration such as 30s", name, s)}
	}
	return d, nil
}

type errorBody struct {
	Error string `json:"error"`
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeJSON(w, errorStatus(err), errorBody{Error: strings.TrimSpace(err.Error())})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
