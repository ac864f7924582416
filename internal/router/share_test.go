package router

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestUnhealthyTrackKeepsItsShare checks that a track whose backends are all unhealthy keeps its share of the
// traffic and answers it 503, rather than giving it to the other tracks: a 10 % canary stays at 10 % while the
// stable backends are down. With 2,000 requests the binomial standard deviation of a share is at most 1.1
// points; the bounds allow 3.
func TestUnhealthyTrackKeepsItsShare(t *testing.T) {
	h := newHarness(t, Options{HealthInterval: 50 * time.Millisecond})
	s1, s2, c1 := startBackend(t, "s1"), startBackend(t, "s2"), startBackend(t, "c1")
	routing := Routing{Service: "shop", Env: "prod", Hosts: []string{"shop.test"}, Tracks: []Track{
		{Name: "stable", Version: "1.0.0", Weight: 90, Backends: []Backend{{URL: s1.URL, HealthPath: "/healthz"}, {URL: s2.URL, HealthPath: "/healthz"}}},
		{Name: "canary", Version: "1.1.0", Weight: 10, Backends: []Backend{{URL: c1.URL, HealthPath: "/healthz"}}},
	}}
	for _, tc := range []struct {
		name string
		down []*backendServer
		// want are the shares in percent: of stable's answers, canary's answers and 503s naming a track.
		stable, canary, unavailable float64
		refusedTrack                string // the track the 503s name
		sticky                      bool
	}{
		{name: "all up", stable: 90, canary: 10},
		{name: "one stable backend down", down: []*backendServer{s1}, stable: 90, canary: 10},
		{name: "stable down", down: []*backendServer{s1, s2}, canary: 10, unavailable: 90, refusedTrack: "stable"},
		{name: "canary down", down: []*backendServer{c1}, stable: 90, unavailable: 10, refusedTrack: "canary"},
		{name: "stable down, sticky", down: []*backendServer{s1, s2}, canary: 10, unavailable: 90, refusedTrack: "stable", sticky: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := routing.clone()
			if tc.sticky {
				r.Sticky = &Sticky{Header: "X-User"}
			}
			h.set(t, r)
			all := []*backendServer{s1, s2, c1}
			setDown(t, h, all, tc.down)
			t.Cleanup(func() { setDown(t, h, all, nil) })
			before := gaugeValue(t, h, noBackendSeries(tc.refusedTrack))
			const n = 2000
			var header func(i int) http.Header
			if tc.sticky {
				header = func(i int) http.Header { return http.Header{"X-User": {fmt.Sprint("user-", i)}} }
			}
			got := h.shares(t, n, header)
			t.Logf("shares in %%: %v", got)
			want := map[string]float64{"stable": tc.stable, "canary": tc.canary, "503 " + tc.refusedTrack: tc.unavailable}
			for k, w := range want {
				if d := got[k] - w; d > 3 || d < -3 {
					t.Errorf("%s: got %.1f %% (all: %v), want %.0f ± 3", k, got[k], got, w)
				}
			}
			if got["other"] != 0 {
				t.Errorf("got %v, want no other answer", got)
			}
			if tc.refusedTrack != "" {
				count := gaugeValue(t, h, noBackendSeries(tc.refusedTrack)) - before
				if wantCount := math.Round(got["503 "+tc.refusedTrack] * n / 100); count != wantCount {
					t.Errorf("ferry_router_no_healthy_backend_total of %s grew by %v, want %v", tc.refusedTrack, count, wantCount)
				}
			}
		})
	}
}

// setDown makes the backends of down fail their health checks, and the others of all pass them, and waits
// until the router of shop/prod sees it.
func setDown(t *testing.T, h *harness, all, down []*backendServer) {
	t.Helper()
	isDown := map[string]bool{}
	for _, b := range down {
		isDown[b.URL] = true
	}
	for _, b := range all {
		b.setHealthy(!isDown[b.URL])
	}
	eventually(t, "the router to see the backends' health", func() bool {
		st, err := h.client.Weights(context.Background(), "shop", "prod")
		if err != nil {
			return false
		}
		for _, b := range st.Backends {
			if b.Healthy == isDown[b.URL] {
				return false
			}
		}
		return true
	})
}

func noBackendSeries(track string) string {
	version := map[string]string{"stable": "1.0.0", "canary": "1.1.0"}[track]
	return fmt.Sprintf(`ferry_router_no_healthy_backend_total{env="prod",service="shop",track=%q,version=%q}`, track, version)
}

// shares sends n requests for shop.test over 8 connections and returns, in percent of n, the answers of each
// track ("stable", "canary"), the router's 503s by the track their body and X-Ferry-Refused name ("503
// stable"), and anything else ("other").
func (h *harness) shares(t *testing.T, n int, header func(i int) http.Header) map[string]float64 {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				var hd http.Header
				if header != nil {
					hd = header(i)
				}
				key := h.classify(hd)
				mu.Lock()
				counts[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got := map[string]float64{}
	for k, c := range counts {
		got[k] = float64(c) / float64(n) * 100
	}
	return got
}

// classify sends one request for shop.test and names its answer as shares counts it.
func (h *harness) classify(header http.Header) string {
	req, err := http.NewRequest(http.MethodGet, h.traffic.URL+"/", nil)
	if err != nil {
		return "other"
	}
	req.Host = "shop.test"
	maps.Copy(req.Header, header)
	resp, err := h.http.Do(req)
	if err != nil {
		return "other"
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	body := strings.TrimSpace(string(b))
	const prefix = "no healthy backend in track "
	switch fields := strings.Fields(body); {
	case err != nil:
		return "other"
	case resp.StatusCode == http.StatusOK && len(fields) == 3:
		return fields[1]
	case resp.StatusCode == http.StatusServiceUnavailable && strings.HasPrefix(body, prefix) && resp.Header.Get(HeaderRefused) == body:
		return "503 " + strings.TrimPrefix(body, prefix)
	}
	return "other"
}
