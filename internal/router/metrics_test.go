package router

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/demoapp"
)

// scrape returns the admin listener's /metrics text.
func scrape(t *testing.T, h *harness) string {
	t.Helper()
	resp, err := http.Get(h.admin.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// gaugeValue is the value of one series (name and labels as exposed), or 0 if it is not exposed.
func gaugeValue(t *testing.T, h *harness, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape(t, h), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("series %s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, Options{})
	good := startBackend(t, "s")
	bad := startBackend(t, "c")
	bad.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	h.set(t, twoTracks(50, good, bad))
	counts := h.spread(t, 400, 4, nil)
	h.get(t, "nowhere.test", nil)

	stable, canary := counts["s stable 1.0.0"], 400-counts["s stable 1.0.0"]
	wants := []string{
		"# HELP ferry_router_requests_total ",
		"# TYPE ferry_router_request_duration_seconds histogram",
		"# HELP ferry_router_requests_in_flight ",
		fmt.Sprintf(`ferry_router_requests_total{code="200",env="prod",service="shop",track="stable",version="1.0.0"} %d`, stable),
		fmt.Sprintf(`ferry_router_requests_total{code="500",env="prod",service="shop",track="canary",version="1.1.0"} %d`, canary),
		fmt.Sprintf(`ferry_router_request_duration_seconds_count{env="prod",service="shop",track="canary",version="1.1.0"} %d`, canary),
		`ferry_router_requests_in_flight{env="prod",service="shop",track="stable",version="1.0.0"} 0`,
		`ferry_router_track_weight{env="prod",service="shop",track="canary",version="1.1.0"} 50`,
		fmt.Sprintf(`ferry_router_backend_healthy{backend=%q,env="prod",service="shop",track="stable",version="1.0.0"} 1`, good.URL),
		`ferry_router_paused{env="prod",service="shop"} 0`,
		"ferry_router_unrouted_requests_total 1",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	}
	// The router counts a request just after its client has the answer: poll until the counts settle.
	var text string
	deadline := time.Now().Add(20 * time.Second)
	for missing := wants; len(missing) > 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		text = scrape(t, h)
		missing = slices.DeleteFunc(slices.Clone(wants), func(w string) bool { return strings.Contains(text, w) })
	}
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if stable == 0 || canary == 0 {
		t.Errorf("got %v, want both tracks to take requests", counts)
	}
	// A removed route leaves no weight or health series behind.
	if _, err := h.client.Remove(context.Background(), "shop", "prod"); err != nil {
		t.Fatal(err)
	}
	if text := scrape(t, h); strings.Contains(text, "ferry_router_track_weight{") {
		t.Error("after removing the route, /metrics still has its weights")
	}
}

// TestLoadDuringWeightChanges sends a bounded number of requests (bounded in time too) through the router to
// two demo app versions while the weights move step by step and back, and expects none to fail.
func TestLoadDuringWeightChanges(t *testing.T) {
	n := 20000
	if testing.Short() || raceEnabled {
		n = 4000
	}
	h := newHarness(t, Options{})
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	v1.Config.Handler = demoapp.Handler(demoapp.Config{Version: "1.0.0"})
	v2.Config.Handler = demoapp.Handler(demoapp.Config{Version: "1.1.0"})
	weights := []int{100, 99, 90, 75, 50, 25, 0, 50}
	h.set(t, twoTracks(100, v1, v2))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for sent.Add(1) <= int64(n) && ctx.Err() == nil {
				code, body, err := h.tryGet(ctx, "shop.test", nil)
				if err != nil || code != http.StatusOK || !strings.Contains(body, "demo app") {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %v %.80q", code, err, body))
				}
			}
		})
	}
	changes := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
		default:
			h.set(t, twoTracks(weights[changes%len(weights)], v1, v2))
			changes++
			time.Sleep(5 * time.Millisecond)
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("sent %d of %d requests before the time bound", sent.Load(), n)
	}
	if failed.Load() != 0 {
		t.Errorf("got %d failed of %d requests (first: %v), want 0", failed.Load(), n, firstErr.Load())
	}
	if changes < 10 {
		t.Errorf("got %d weight changes during the run, want at least 10", changes)
	}
	t.Logf("%d requests, 0 failed, during %d weight changes", n, changes)
}
