package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Routing{Service: "shop", Env: "prod", Hosts: []string{"shop.test"}, Tracks: []Track{
		{Name: "stable", Version: "1.0.0", Weight: 90, Backends: []Backend{{URL: "http://127.0.0.1:1", HealthPath: "/healthz"}}},
		{Name: "canary", Version: "1.1.0", Weight: 10, Backends: []Backend{{URL: "http://127.0.0.1:2/app"}}},
	}}
	for _, tc := range []struct {
		name string
		edit func(*Routing)
		want string // a part of the error; empty means valid
	}{
		{"valid", func(*Routing) {}, ""},
		{"one track at 100", func(r *Routing) { r.Tracks = r.Tracks[:1]; r.Tracks[0].Weight = 100 }, ""},
		{"weights not 100", func(r *Routing) { r.Tracks[1].Weight = 20 }, "weights sum to 110, want 100"},
		{"negative weight", func(r *Routing) { r.Tracks[0].Weight = 110; r.Tracks[1].Weight = -10 }, "tracks[1].weight -10"},
		{"no service", func(r *Routing) { r.Service = "" }, `service ""`},
		{"bad env", func(r *Routing) { r.Env = "prod/eu" }, `env "prod/eu"`},
		{"no hosts", func(r *Routing) { r.Hosts = nil }, "hosts: want at least one"},
		{"host with port", func(r *Routing) { r.Hosts = []string{"shop.test:80"} }, `hosts[0] "shop.test:80"`},
		{"duplicate host", func(r *Routing) { r.Hosts = []string{"a", "a"} }, "listed twice"},
		{"duplicate track", func(r *Routing) { r.Tracks[1].Name = "stable" }, `tracks[1].name "stable": listed twice`},
		{"no version", func(r *Routing) { r.Tracks[0].Version = "" }, "tracks[0].version"},
		{"no backends", func(r *Routing) { r.Tracks[1].Backends = nil }, "tracks[1].backends: want at least one"},
		{"relative url", func(r *Routing) { r.Tracks[0].Backends[0].URL = "shop.test/app" }, "want an absolute http(s) URL"},
		{"url with credentials", func(r *Routing) { r.Tracks[0].Backends[0].URL = "http://u:p@h" }, "without credentials"},
		{"health path", func(r *Routing) { r.Tracks[0].Backends[0].HealthPath = "healthz" }, "healthPath"},
		{"sticky both", func(r *Routing) { r.Sticky = &Sticky{Header: "X-User", Cookie: "u"} }, "sticky: set exactly one"},
		{"sticky none", func(r *Routing) { r.Sticky = &Sticky{} }, "sticky: set exactly one"},
		{"no tracks", func(r *Routing) { r.Tracks = nil }, "tracks: want at least one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok.clone()
			tc.edit(&r)
			err := r.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestWeights sends 10,000 requests per split and checks each track's share within loose bounds (the
// binomial standard deviation at 10,000 requests is at most 0.5 point; the bounds allow 2.5).
func TestWeights(t *testing.T) {
	h := newHarness(t, Options{})
	stable, canary := startBackend(t, "s"), startBackend(t, "c")
	splits := []int{100, 90, 50, 1, 0}
	if raceEnabled {
		splits = []int{90, 0}
	}
	for _, stableWeight := range splits {
		t.Run(fmt.Sprintf("stable %d", stableWeight), func(t *testing.T) {
			h.set(t, twoTracks(stableWeight, stable, canary))
			const n = 10000
			counts := h.spread(t, n, 8, nil)
			got := float64(counts["s stable 1.0.0"]) / n * 100
			if d := got - float64(stableWeight); d > 2.5 || d < -2.5 || counts["s stable 1.0.0"]+counts["c canary 1.1.0"] != n {
				t.Errorf("got %v (stable %.1f%%), want stable %d%% ± 2.5 and nothing else", counts, got, stableWeight)
			}
			if stableWeight == 100 && counts["c canary 1.1.0"] != 0 || stableWeight == 0 && counts["s stable 1.0.0"] != 0 {
				t.Errorf("got %v, want a track at weight 0 to get no request", counts)
			}
		})
	}
}

// spread sends n requests for shop.test over c connections and counts the answers.
func (h *harness) spread(t *testing.T, n, c int, header func(i int) http.Header) map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				var hd http.Header
				if header != nil {
					hd = header(i)
				}
				code, body, err := h.tryGet(context.Background(), "shop.test", hd)
				if err != nil || code != http.StatusOK {
					body = fmt.Sprintf("error %d %v %s", code, err, body)
				}
				mu.Lock()
				counts[body]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts
}

// TestAtomicSet flips between two routings whose tracks, versions and backends all differ, while readers
// send requests and read the routing back: every answer and every read must belong wholly to one of them.
func TestAtomicSet(t *testing.T) {
	h := newHarness(t, Options{})
	a1, a2, b1, b2, b3 := startBackend(t, "a1"), startBackend(t, "a2"), startBackend(t, "b1"), startBackend(t, "b2"), startBackend(t, "b3")
	ra := Routing{Service: "shop", Env: "prod", Hosts: []string{"shop.test"}, Tracks: []Track{
		{Name: "blue", Version: "1", Weight: 50, Backends: []Backend{{URL: a1.URL}}},
		{Name: "green", Version: "2", Weight: 50, Backends: []Backend{{URL: a2.URL}}},
	}}
	rb := Routing{Service: "shop", Env: "prod", Hosts: []string{"shop.test"}, Tracks: []Track{
		{Name: "stable", Version: "3", Weight: 40, Backends: []Backend{{URL: b1.URL}}},
		{Name: "canary", Version: "4", Weight: 30, Backends: []Backend{{URL: b2.URL}}},
		{Name: "green", Version: "5", Weight: 30, Backends: []Backend{{URL: b3.URL}}},
	}}
	valid := map[string]bool{"a1 blue 1": true, "a2 green 2": true, "b1 stable 3": true, "b2 canary 4": true, "b3 green 5": true}
	h.set(t, ra)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var requests, reads atomic.Int64
	errs := make(chan string, 100)
	report := func(s string) {
		select {
		case errs <- s:
		default:
		}
	}
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				code, body, err := h.tryGet(context.Background(), "shop.test", nil)
				if err != nil || code != http.StatusOK || !valid[body] {
					report(fmt.Sprintf("request: %d %q %v", code, body, err))
				}
				requests.Add(1)
			}
		})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			st, err := h.client.Weights(context.Background(), "shop", "prod")
			if err != nil || (len(st.Routing.Tracks) != 2 || st.Routing.Tracks[0].Version != "1") && (len(st.Routing.Tracks) != 3 || st.Routing.Tracks[0].Version != "3") {
				report(fmt.Sprintf("read: %+v %v", st.Routing.Tracks, err))
			}
			reads.Add(1)
		}
	})
	for i := range 60 {
		h.set(t, []Routing{rb, ra}[i%2])
	}
	cancel()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if requests.Load() == 0 || reads.Load() == 0 {
		t.Errorf("got %d requests and %d reads during the flips, want some of each", requests.Load(), reads.Load())
	}
}

func TestSticky(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sticky Sticky
		header func(user int) http.Header
	}{
		{"header", Sticky{Header: "X-User"}, func(u int) http.Header { return http.Header{"X-User": {fmt.Sprint("user-", u)}} }},
		{"cookie", Sticky{Cookie: "session"}, func(u int) http.Header {
			return http.Header{"Cookie": {fmt.Sprintf("theme=dark; session=s%d", u)}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			stable, canary := startBackend(t, "s"), startBackend(t, "c")
			r := twoTracks(70, stable, canary)
			r.Sticky = &tc.sticky
			h.set(t, r)
			const users, each = 300, 5
			seen := map[int]string{}
			canaryUsers := 0
			for u := range users {
				for range each {
					code, body := h.get(t, "shop.test", tc.header(u))
					if code != http.StatusOK {
						t.Fatalf("user %d: got %d %q, want 200", u, code, body)
					}
					if prev, ok := seen[u]; ok && prev != body {
						t.Fatalf("user %d: got %q after %q, want the same track every time", u, body, prev)
					}
					seen[u] = body
				}
				if seen[u] == "c canary 1.1.0" {
					canaryUsers++
				}
			}
			// 30% of 300 users is 90; the hash spreads them, loosely.
			if canaryUsers < 45 || canaryUsers > 135 {
				t.Errorf("got %d of %d users on canary, want about 30%%", canaryUsers, users)
			}
			// Without the header or cookie, requests still spread over both tracks.
			if counts := h.spread(t, 400, 4, nil); counts["s stable 1.0.0"] == 0 || counts["c canary 1.1.0"] == 0 {
				t.Errorf("without a sticky key got %v, want both tracks", counts)
			}
		})
	}
}

// slowBackend answers once release is called, and tells on started when a request arrived. The test's end
// releases it too, so that a failing test does not leave its servers waiting.
func slowBackend(t *testing.T) (url string, started chan struct{}, release func()) {
	started, released := make(chan struct{}, 10), make(chan struct{})
	b := startBackend(t, "unused")
	b.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		started <- struct{}{}
		<-released
		fmt.Fprint(w, "slow done")
	})
	release = sync.OnceFunc(func() { close(released) })
	t.Cleanup(release)
	return b.URL, started, release
}

func TestDrain(t *testing.T) {
	h := newHarness(t, Options{})
	slowURL, started, release := slowBackend(t)
	next := startBackend(t, "next")
	route := func(u string) Routing {
		return Routing{Service: "shop", Env: "prod", Hosts: []string{"shop.test"}, Tracks: []Track{{Name: "stable", Version: "1", Weight: 100, Backends: []Backend{{URL: u}}}}}
	}
	h.set(t, route(slowURL))

	type answer struct {
		code int
		body string
		err  error
	}
	inflight := make(chan answer, 1)
	go func() {
		code, body, err := h.tryGet(context.Background(), "shop.test", nil)
		inflight <- answer{code, body, err}
	}()
	waitFor(t, started)

	// The switch returns once the removed backend's request finished, and reports it drained.
	switched := make(chan Status, 1)
	go func() {
		st, err := h.client.SetWeights(context.Background(), route(next.URL))
		if err != nil {
			t.Errorf("SetWeights: %v", err)
		}
		switched <- st
	}()
	eventually(t, "the switch", func() bool {
		st, err := h.r.Status("shop", "prod")
		return err == nil && st.Routing.Tracks[0].Backends[0].URL == next.URL
	})
	if code, body := h.get(t, "shop.test", nil); body != "next stable 1" {
		t.Errorf("after the switch: got %d %q, want the new backend", code, body)
	}
	select {
	case st := <-switched:
		t.Fatalf("the switch returned %+v while a request was in flight on the removed backend, want it to wait", st)
	default:
	}
	release()
	if a := <-inflight; a.err != nil || a.code != http.StatusOK || a.body != "slow done" {
		t.Errorf("in-flight request: got %d %q %v, want 200 %q", a.code, a.body, a.err, "slow done")
	}
	if st := <-switched; st.Drained == nil || !*st.Drained {
		t.Errorf("got drained %v, want true", st.Drained)
	}

	// A drain that times out says so, and the request still completes.
	slow2, started2, release2 := slowBackend(t)
	h.set(t, route(slow2))
	go func() {
		code, body, err := h.tryGet(context.Background(), "shop.test", nil)
		inflight <- answer{code, body, err}
	}()
	waitFor(t, started2)
	h.client.DrainTimeout = 50 * time.Millisecond
	if st := h.set(t, route(next.URL)); st.Drained == nil || *st.Drained {
		t.Errorf("got drained %v, want false while a request is held on the removed backend", st.Drained)
	}
	release2()
	if a := <-inflight; a.err != nil || a.code != http.StatusOK {
		t.Errorf("in-flight request after the drain timeout: got %d %v, want 200", a.code, a.err)
	}
}

// waitFor waits for a signal on ch, or fails the test after a generous deadline.
func waitFor(t *testing.T, ch chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for a request to reach the backend")
	}
}

func TestPauseHold(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Options{})
	old, fresh := startBackend(t, "old"), startBackend(t, "new")
	route := func(b *backendServer, version string) Routing {
		return Routing{Service: "shop", Env: "prod", Hosts: []string{"shop.test"}, Tracks: []Track{{Name: "stable", Version: version, Weight: 100, Backends: []Backend{{URL: b.URL, HealthPath: "/healthz"}}}}}
	}
	h.set(t, route(old, "1"))

	held := func(n int) func() bool {
		return func() bool {
			return gaugeValue(t, h, `ferry_router_requests_held{env="prod",service="shop"}`) == float64(n)
		}
	}
	type answer struct {
		code int
		body string
	}
	send := func(n int) chan answer {
		out := make(chan answer, n)
		for range n {
			go func() {
				code, body, err := h.tryGet(ctx, "shop.test", nil)
				if err != nil {
					body = err.Error()
				}
				out <- answer{code, body}
			}()
		}
		return out
	}

	// A recreate deploy: pause, swap the backend, resume. Held requests go to the new backend.
	if st, err := h.client.Pause(ctx, "shop", "prod", time.Minute); err != nil || st.Paused == nil || time.Duration(st.Paused.MaxHold) != time.Minute {
		t.Fatalf("Pause: got %+v %v, want paused for 1m", st.Paused, err)
	}
	answers := send(3)
	eventually(t, "3 held requests", held(3))
	h.set(t, route(fresh, "2"))
	if st, err := h.client.Resume(ctx, "shop", "prod"); err != nil || st.Paused != nil {
		t.Fatalf("Resume: got %+v %v, want not paused", st.Paused, err)
	}
	for range 3 {
		if a := <-answers; a.code != http.StatusOK || a.body != "new stable 2" {
			t.Errorf("held request: got %d %q, want 200 from the new backend", a.code, a.body)
		}
	}

	// Past its hold a request gets 503; the route stays paused.
	if _, err := h.client.Pause(ctx, "shop", "prod", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if a := <-send(1); a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "paused") {
		t.Errorf("request past the hold: got %d %q, want 503 paused", a.code, a.body)
	}
	if st, _ := h.client.Weights(ctx, "shop", "prod"); st.Paused == nil {
		t.Error("after a hold ran out: got not paused, want paused until resumed")
	}

	// Removing a paused route answers its held requests 404.
	if _, err := h.client.Pause(ctx, "shop", "prod", time.Minute); err != nil {
		t.Fatal(err)
	}
	answers = send(1)
	eventually(t, "1 held request", held(1))
	if _, err := h.client.Remove(ctx, "shop", "prod"); err != nil {
		t.Fatal(err)
	}
	if a := <-answers; a.code != http.StatusNotFound {
		t.Errorf("held request of a removed route: got %d %q, want 404", a.code, a.body)
	}

	// Pausing a missing route, or without a hold, is refused.
	var apiErr *APIError
	if _, err := h.client.Pause(ctx, "nope", "prod", time.Second); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("pause of a missing route: got %v, want 404", err)
	}
	h.set(t, route(old, "1"))
	if _, err := h.client.Pause(ctx, "shop", "prod", 0); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Retryable() {
		t.Errorf("pause without a hold: got %v, want 400", err)
	}
}

func TestAdminToken(t *testing.T) {
	h := newHarness(t, Options{})
	for _, tc := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/v1/routes", "", http.StatusUnauthorized},
		{"GET", "/v1/routes", "Bearer wrong", http.StatusUnauthorized},
		{"GET", "/v1/routes", testToken, http.StatusUnauthorized}, // without "Bearer "
		{"PUT", "/v1/routes/shop/prod", "", http.StatusUnauthorized},
		{"POST", "/v1/routes/shop/prod/pause", "", http.StatusUnauthorized},
		{"GET", "/v1/routes", "Bearer " + testToken, http.StatusOK},
		{"GET", "/v1/routes/shop/prod", "Bearer " + testToken, http.StatusNotFound},
		{"GET", "/metrics", "", http.StatusOK},
		{"GET", "/healthz", "", http.StatusOK},
	} {
		req, _ := http.NewRequest(tc.method, h.admin.URL+tc.path, strings.NewReader("{}"))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s with %q: got %d, want %d", tc.method, tc.path, tc.auth, resp.StatusCode, tc.want)
		}
	}
	// Nothing changed through the refused calls.
	if st := h.r.Statuses(); len(st) != 0 {
		t.Errorf("got routes %+v, want none", st)
	}
	c := *h.client
	c.Token = "wrong"
	var apiErr *APIError
	if _, err := c.Weights(context.Background(), "shop", "prod"); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Retryable() {
		t.Errorf("client with a wrong token: got %v, want a 401 that is not retryable", err)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "router.json")
	stable, canary, other := startBackend(t, "s"), startBackend(t, "c"), startBackend(t, "o")
	h1 := newHarness(t, Options{StatePath: path})
	r := twoTracks(0, stable, canary) // all traffic on canary, so the answer tells the routing
	r.Tracks[1].Backends[0].HealthPath = "/healthz"
	h1.set(t, r)
	h1.set(t, Routing{Service: "blog", Env: "prod", Hosts: []string{"blog.test", "www.blog.test"}, Tracks: []Track{{Name: "blue", Version: "7", Weight: 100, Backends: []Backend{{URL: other.URL}}}}})
	if _, err := h1.client.Pause(ctx, "blog", "prod", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	before := h1.r.Statuses()

	h2 := newHarness(t, Options{StatePath: path})
	after := h2.r.Statuses()
	if a, b := jsonOf(t, after), jsonOf(t, before); a != b {
		t.Errorf("after a restart got\n%s\nwant\n%s", a, b)
	}
	if code, body := h2.get(t, "shop.test", nil); code != http.StatusOK || body != "c canary 1.1.0" {
		t.Errorf("after a restart got %d %q, want 200 from canary", code, body)
	}
	if st, _ := h2.client.Weights(ctx, "blog", "prod"); st.Paused == nil || time.Duration(st.Paused.MaxHold) != 3*time.Second {
		t.Errorf("after a restart got pause %+v, want blog paused with a 3s hold", st.Paused)
	}
	// The state file is replaced whole: no temporary files are left beside it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("got %d files beside the state, want only the state file", len(entries))
	}

	// A state file that is not Ferry's refuses to start, rather than start empty.
	for name, content := range map[string]string{
		"garbage": "{not json", "version": `{"version": 9, "routes": []}`,
		"invalid": `{"version": 1, "routes": [{"service": "x", "env": "y", "hosts": ["x"], "tracks": []}]}`,
	} {
		bad := filepath.Join(t.TempDir(), name+".json")
		os.WriteFile(bad, []byte(content), 0o600)
		if _, err := New(Options{StatePath: bad}); err == nil {
			t.Errorf("state %s: got a router, want an error", name)
		}
	}
	// A change whose state cannot be written changes nothing.
	ro := newHarness(t, Options{StatePath: filepath.Join(t.TempDir(), "missing-dir", "state.json")})
	if _, err := ro.client.SetWeights(ctx, r); err == nil || len(ro.r.Statuses()) != 0 {
		t.Errorf("with an unwritable state: got %v and %d routes, want an error and none", err, len(ro.r.Statuses()))
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHealthGating(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Options{HealthInterval: 50 * time.Millisecond})
	stable, canary := startBackend(t, "s"), startBackend(t, "c")
	h.set(t, twoTracks(100, stable, canary))

	// A new backend whose check fails is refused, and nothing changes.
	canary2 := startBackend(t, "c2")
	canary2.setHealthy(false)
	r := twoTracks(50, stable, canary2)
	r.Tracks[1].Backends[0].HealthPath = "/healthz"
	h.client.HealthWait = 300 * time.Millisecond
	_, err := h.client.SetWeights(ctx, r)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable || !apiErr.Retryable() || !strings.Contains(apiErr.Message, canary2.URL) {
		t.Fatalf("got %v, want a retryable 503 naming %s", err, canary2.URL)
	}
	if st, _ := h.client.Weights(ctx, "shop", "prod"); st.Routing.Tracks[1].Backends[0].URL != canary.URL || st.Routing.Tracks[0].Weight != 100 {
		t.Errorf("after a refused change got %+v, want the old routing", st.Routing.Tracks)
	}

	// Once it passes, the same change goes through and the backend takes traffic.
	canary2.setHealthy(true)
	h.client.HealthWait = 0 // the router's default: generous on a loaded machine
	if st := h.set(t, r); !st.Backends[1].Healthy {
		t.Errorf("got %+v, want the new backend healthy", st.Backends)
	}
	if counts := h.spread(t, 200, 4, nil); counts["c2 canary 1.1.0"] == 0 {
		t.Errorf("got %v, want the admitted backend to take traffic", counts)
	}

	// A backend that starts failing is taken out; its track keeps its share and answers it 503, naming the
	// track; it comes back.
	canary2.setHealthy(false)
	eventually(t, "the failing backend to be taken out", func() bool {
		st, _ := h.client.Weights(ctx, "shop", "prod")
		return !st.Backends[1].Healthy
	})
	counts := h.spread(t, 200, 4, nil)
	if refused := counts["error 503 <nil> no healthy backend in track canary"]; counts["s stable 1.0.0"]+refused != 200 || refused == 0 || counts["s stable 1.0.0"] == 0 {
		t.Errorf("with canary down got %v, want stable's answers and 503s naming canary", counts)
	}
	canary2.setHealthy(true)
	eventually(t, "the backend to come back", func() bool {
		st, _ := h.client.Weights(ctx, "shop", "prod")
		return st.Backends[1].Healthy
	})

	// No healthy backend at all: 503.
	solo := Routing{Service: "solo", Env: "prod", Hosts: []string{"solo.test"}, Tracks: []Track{{Name: "stable", Version: "1", Weight: 100, Backends: []Backend{{URL: canary2.URL, HealthPath: "/healthz"}}}}}
	h.set(t, solo)
	canary2.setHealthy(false)
	eventually(t, "solo to answer 503", func() bool {
		code, body := h.get(t, "solo.test", nil)
		return code == http.StatusServiceUnavailable && body == "no healthy backend in track stable"
	})
}

func TestUnroutedAndConflicts(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Options{})
	stable, canary := startBackend(t, "s"), startBackend(t, "c")
	h.set(t, twoTracks(100, stable, canary))
	if code, _ := h.get(t, "other.test", nil); code != http.StatusNotFound {
		t.Errorf("unknown host: got %d, want 404", code)
	}
	if code, body := h.get(t, "SHOP.test:8080", nil); code != http.StatusOK || body != "s stable 1.0.0" {
		t.Errorf("host with port and capitals: got %d %q, want 200 from stable", code, body)
	}
	// A backend that does not answer gives 502.
	gone := startBackend(t, "gone")
	gone.Close()
	h.set(t, Routing{Service: "gone", Env: "prod", Hosts: []string{"gone.test"}, Tracks: []Track{{Name: "stable", Version: "1", Weight: 100, Backends: []Backend{{URL: gone.URL}}}}})
	if code, _ := h.get(t, "gone.test", nil); code != http.StatusBadGateway {
		t.Errorf("backend down: got %d, want 502", code)
	}
	clash := twoTracks(100, stable, canary)
	clash.Service = "shop2"
	var apiErr *APIError
	if _, err := h.client.SetWeights(ctx, clash); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict || apiErr.Retryable() {
		t.Errorf("a host of another route: got %v, want 409", err)
	}
	var invalid *InvalidError
	bad := twoTracks(100, stable, canary)
	bad.Tracks[0].Weight = 50
	if _, err := h.client.SetWeights(ctx, bad); !errors.As(err, &invalid) {
		t.Errorf("weights summing to 50: got %v, want an *InvalidError before any call", err)
	}
	// The server refuses it too, and a body for another path.
	req, _ := http.NewRequest(http.MethodPut, h.admin.URL+"/v1/routes/other/prod", strings.NewReader(`{"service":"shop","env":"prod"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("PUT of another path's body: got %v %v, want 400", resp, err)
	}
	if drained, err := h.client.Remove(ctx, "nope", "prod"); err != nil || !drained {
		t.Errorf("removing a missing route: got %v %v, want success", drained, err)
	}
}
