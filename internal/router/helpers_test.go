package router

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// backendServer is an httptest backend that answers "id track version" (the track and version the router
// chose, from its headers), and whose /healthz answers as healthy says.
type backendServer struct {
	*httptest.Server
	id      string
	healthy chan bool // buffered 1; holds the current health
}

func startBackend(t *testing.T, id string) *backendServer {
	t.Helper()
	b := &backendServer{id: id, healthy: make(chan bool, 1)}
	b.healthy <- true
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/healthz" {
			h := <-b.healthy
			b.healthy <- h
			if !h {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintf(w, "%s %s %s", id, req.Header.Get(HeaderTrack), req.Header.Get(HeaderVersion))
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backendServer) setHealthy(h bool) {
	<-b.healthy
	b.healthy <- h
}

// harness is a router with its data plane and admin API on loopback test servers.
type harness struct {
	r       *Router
	traffic *httptest.Server
	admin   *httptest.Server
	client  *Client
	http    *http.Client
}

const testToken = "s3cret-token"

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	h := &harness{r: r, traffic: httptest.NewServer(r), admin: httptest.NewServer(r.AdminHandler(testToken))}
	h.client = &Client{BaseURL: h.admin.URL, Token: testToken, DrainTimeout: 10 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	h.http = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		h.traffic.Close()
		h.admin.Close()
		tr.CloseIdleConnections()
		cancel()
		<-done
	})
	return h
}

// get sends GET / for host through the router; it returns the status and the body.
func (h *harness) get(t *testing.T, host string, header http.Header) (int, string) {
	t.Helper()
	code, body, err := h.tryGet(context.Background(), host, header)
	if err != nil {
		t.Fatalf("GET via router: %v", err)
	}
	return code, body
}

func (h *harness) tryGet(ctx context.Context, host string, header http.Header) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.traffic.URL+"/", nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

func (h *harness) set(t *testing.T, r Routing) Status {
	t.Helper()
	st, err := h.client.SetWeights(context.Background(), r)
	if err != nil {
		t.Fatalf("SetWeights: %v", err)
	}
	return st
}

// twoTracks is the routing of service "shop" in "prod" on host shop.test: stable and canary with the given
// weights and backends.
func twoTracks(stableWeight int, stable, canary *backendServer) Routing {
	return Routing{
		Service: "shop", Env: "prod", Hosts: []string{"shop.test"},
		Tracks: []Track{
			{Name: "stable", Version: "1.0.0", Weight: stableWeight, Backends: []Backend{{URL: stable.URL}}},
			{Name: "canary", Version: "1.1.0", Weight: 100 - stableWeight, Backends: []Backend{{URL: canary.URL}}},
		},
	}
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
