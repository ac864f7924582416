package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oneTrack routes shop.test wholly to u.
func oneTrack(u, version string) Routing {
	return Routing{Service: "shop", Env: "prod", Hosts: []string{"shop.test"}, Tracks: []Track{
		{Name: "stable", Version: version, Weight: 100, Backends: []Backend{{URL: u}}}}}
}

// handlerBackend is a backend serving h.
func handlerBackend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

// TestForwardedHeaders: behind a trusted load balancer the backend sees the client's X-Forwarded-* (with the
// balancer's address appended); from any other peer the router replaces what the request claims.
func TestForwardedHeaders(t *testing.T) {
	echo := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintf(w, "for=%s proto=%s host=%s", req.Header.Get("X-Forwarded-For"), req.Header.Get("X-Forwarded-Proto"), req.Header.Get("X-Forwarded-Host"))
	})
	inbound := http.Header{"X-Forwarded-For": {"203.0.113.9"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"shop.example"}}
	for _, tc := range []struct {
		name    string
		trusted []string
		header  http.Header
		want    string
	}{
		{"untrusted peer: replaced", nil, inbound, "for=127.0.0.1 proto=http host=shop.test"},
		{"other network trusted: replaced", []string{"10.0.0.0/8"}, inbound, "for=127.0.0.1 proto=http host=shop.test"},
		{"trusted peer: kept and appended", []string{"127.0.0.0/8"}, inbound, "for=203.0.113.9, 127.0.0.1 proto=https host=shop.example"},
		{"trusted single address", []string{"127.0.0.1"}, inbound, "for=203.0.113.9, 127.0.0.1 proto=https host=shop.example"},
		{"trusted peer without headers", []string{"127.0.0.0/8"}, nil, "for=127.0.0.1 proto=http host=shop.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trusted, err := ParseTrustedProxies(tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, Options{TrustedProxies: trusted})
			h.set(t, oneTrack(echo, "1"))
			if code, body := h.get(t, "shop.test", tc.header); code != http.StatusOK || body != tc.want {
				t.Errorf("got %d %q, want 200 %q", code, body, tc.want)
			}
		})
	}
	if _, err := ParseTrustedProxies([]string{"not-an-ip"}); err == nil {
		t.Error("got no error for a trusted proxy that is not an address")
	}
}

// TestUpstreamTimeoutAndBodyLimit: a backend slower than the response-header timeout is answered 504, and a
// body over the limit 413, whether it announces its length or not.
func TestUpstreamTimeoutAndBodyLimit(t *testing.T) {
	slow := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-req.Context().Done():
		}
	})
	sink := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "got %d bytes", len(b))
	})
	h := newHarness(t, Options{ResponseHeaderTimeout: 200 * time.Millisecond, MaxBodyBytes: 10})
	for _, tc := range []struct {
		name    string
		backend string
		body    io.Reader
		chunked bool
		want    int
	}{
		{"slow backend", slow, nil, false, http.StatusGatewayTimeout},
		{"body within limit", sink, strings.NewReader("12345"), false, http.StatusOK},
		{"body over limit", sink, strings.NewReader("12345678901"), false, http.StatusRequestEntityTooLarge},
		{"chunked body over limit", sink, strings.NewReader(strings.Repeat("x", 100)), true, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.set(t, oneTrack(tc.backend, "1"))
			req, _ := http.NewRequest(http.MethodPost, h.traffic.URL+"/", tc.body)
			if tc.body == nil {
				req.Method = http.MethodGet
			}
			if tc.chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(tc.body)
			}
			req.Host = "shop.test"
			start := time.Now()
			resp, err := h.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("got %d, want %d", resp.StatusCode, tc.want)
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("took %s, want the router to answer before the backend", d)
			}
		})
	}
}

// served is a router running Serve on loopback listeners, with the listeners' addresses.
type served struct {
	r            *Router
	traffic, adm string
	client       *Client
	stop         context.CancelFunc
	done         chan error
}

func serveRouter(t *testing.T, opts Options, sopts ServeOptions) *served {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tl, _ := net.Listen("tcp", "127.0.0.1:0")
	al, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{r: r, traffic: tl.Addr().String(), adm: al.Addr().String(), stop: cancel, done: make(chan error, 1)}
	sopts.AdminToken = testToken
	go func() { s.done <- r.Serve(ctx, tl, al, sopts) }()
	s.client = &Client{BaseURL: "http://" + s.adm, Token: testToken}
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// rawRequest opens a connection to addr and sends one GET for shop.test with extra header lines.
func rawRequest(t *testing.T, addr, extra string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: shop.test\r\n%s\r\n", extra)
	return c, bufio.NewReader(c)
}

// closedWithin reports whether the server closes c within d (a read returns EOF or a reset).
func closedWithin(c net.Conn, br *bufio.Reader, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// TestServerTimeouts: a client that sends no headers, or keeps an idle connection, is cut off; a response
// that outlasts the write timeout is cut off, but an event stream is not.
func TestServerTimeouts(t *testing.T) {
	stream := func(contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(http.StatusOK)
			for i := range 4 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(150 * time.Millisecond)
			}
		}
	}
	s := serveRouter(t, Options{}, ServeOptions{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond, WriteTimeout: 250 * time.Millisecond})
	events, download := handlerBackend(t, stream("text/event-stream")), handlerBackend(t, stream("text/plain"))
	ctx := context.Background()

	t.Run("read header", func(t *testing.T) {
		c, err := net.Dial("tcp", s.traffic)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: shop.test\r\n")
		if !closedWithin(c, bufio.NewReader(c), 2*time.Second) {
			t.Error("a client that never ends its headers kept its connection")
		}
	})
	t.Run("idle", func(t *testing.T) {
		if _, err := s.client.SetWeights(ctx, oneTrack(download, "1")); err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", s.traffic)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if !closedWithin(c, bufio.NewReader(c), 2*time.Second) {
			t.Error("an idle connection was kept past the idle timeout")
		}
	})
	for _, tc := range []struct {
		name, backend string
		want          int // events the client reads
	}{
		{"write timeout cuts a long response", download, 2},
		{"event stream is exempt", events, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.client.SetWeights(ctx, oneTrack(tc.backend, "1")); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+s.traffic+"/", nil)
			req.Host = "shop.test"
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := strings.Count(string(b), "data: ")
			if tc.want == 4 && got != 4 || tc.want < 4 && got >= 4 {
				t.Errorf("got %d events (%q), want %d", got, b, tc.want)
			}
		})
	}
}

// upgradeBackend answers a protocol switch with 101 and then echoes lines until the client leaves.
func upgradeBackend(t *testing.T) string {
	return handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString(line)
			brw.Flush()
		}
	})
}

// eventBackend answers an event stream that sends one event and stays open until the client leaves.
func eventBackend(t *testing.T) string {
	return handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		<-req.Context().Done()
	})
}

// TestStreams: a WebSocket-style protocol switch and an event stream, once answered, do not count as in
// flight (so a drain does not wait for them) and stay out of the latency histogram; a switch counts as 101.
// A stopping router ends them rather than wait its drain timeout.
func TestStreams(t *testing.T) {
	ctx := context.Background()
	next := startBackend(t, "next")
	for _, tc := range []struct {
		name, header, code string
		backend            func(*testing.T) string
		open               func(*testing.T, *bufio.Reader)
	}{
		{"protocol switch", "Connection: Upgrade\r\nUpgrade: echo\r\n", "101", upgradeBackend, func(t *testing.T, br *bufio.Reader) {
			if line, _ := br.ReadString('\n'); !strings.Contains(line, " 101 ") {
				t.Fatalf("got %q, want 101", line)
			}
		}},
		{"event stream", "Accept: text/event-stream\r\n", "200", eventBackend, func(t *testing.T, br *bufio.Reader) {
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(line, "data: hello") {
					return
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serveRouter(t, Options{}, ServeOptions{DrainTimeout: 10 * time.Second})
			metrics := func() string {
				resp, err := http.Get("http://" + s.adm + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			if _, err := s.client.SetWeights(ctx, oneTrack(tc.backend(t), "1")); err != nil {
				t.Fatal(err)
			}
			c, br := rawRequest(t, s.traffic, tc.header)
			tc.open(t, br)
			time.Sleep(50 * time.Millisecond)
			st, _ := s.r.Status("shop", "prod")
			if st.Backends[0].InFlight != 0 {
				t.Errorf("got %d in flight with an open stream, want 0", st.Backends[0].InFlight)
			}
			text := metrics()
			for _, want := range []string{
				`ferry_router_requests_in_flight{env="prod",service="shop",track="stable",version="1"} 0`,
				`ferry_router_request_duration_seconds_count{env="prod",service="shop",track="stable",version="1"} 0`,
			} {
				if !strings.Contains(text, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			// A change that removes the stream's backend does not wait for it.
			s.client.DrainTimeout = 3 * time.Second
			start := time.Now()
			st, err := s.client.SetWeights(ctx, oneTrack(next.URL, "2"))
			if err != nil || st.Drained == nil || !*st.Drained || time.Since(start) > time.Second {
				t.Errorf("switch: got %v drained %v after %s, want drained at once", err, st.Drained, time.Since(start))
			}
			// Stopping the router ends the stream rather than wait the drain timeout.
			start = time.Now()
			s.stop()
			if err := <-s.done; err != nil || time.Since(start) > 3*time.Second {
				t.Errorf("stop: got %v after %s, want a clean stop at once", err, time.Since(start))
			}
			s.done <- nil
			if !closedWithin(c, br, 3*time.Second) {
				t.Error("the stream's connection stayed open after the router stopped")
			}
			want := fmt.Sprintf(`ferry_router_requests_total{code=%q,env="prod",service="shop",track="stable",version="1"} 1`, tc.code)
			if text := s.r.metricsText(t); !strings.Contains(text, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		})
	}
}

// metricsText gathers the router's registry in the text format.
func (r *Router) metricsText(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.AdminHandler(testToken).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// TestRetiredSeriesDeleted: the series of versions that no route has any more leave /metrics after the
// retention, so that it does not grow with every release; before that they stay, for the last scrapes.
func TestRetiredSeriesDeleted(t *testing.T) {
	b := startBackend(t, "b")
	for _, tc := range []struct {
		name      string
		retention time.Duration
		wantOld   bool
	}{
		{"within retention", time.Hour, true},
		{"after retention", time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{MetricsRetention: tc.retention, HealthInterval: 20 * time.Millisecond})
			for v := range 20 {
				h.set(t, oneTrack(b.URL, fmt.Sprint("1.0.", v)))
				h.get(t, "shop.test", nil)
			}
			h.set(t, oneTrack(b.URL, "2.0.0"))
			h.get(t, "shop.test", nil)
			time.Sleep(200 * time.Millisecond) // several rounds of the health loop, which purges
			text := scrape(t, h)
			old := strings.Count(text, `ferry_router_requests_total{code="200",env="prod",service="shop",track="stable",version="1.0.`)
			if tc.wantOld && old != 20 || !tc.wantOld && old != 0 {
				t.Errorf("got %d retired versions' counters on /metrics, want %v", old, tc.wantOld)
			}
			if !strings.Contains(text, `ferry_router_requests_total{code="200",env="prod",service="shop",track="stable",version="2.0.0"} 1`) {
				t.Error("/metrics lacks the live version's counter")
			}
			if !tc.wantOld && strings.Contains(text, `version="1.0.`) {
				t.Error("/metrics still has series of a retired version")
			}
		})
	}
}

// TestRestartMidCanary: a router restarted during a 90/10 canary comes back with the same weights and
// splits as before.
func TestRestartMidCanary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "router.json")
	stable, canary := startBackend(t, "s"), startBackend(t, "c")
	h1 := newHarness(t, Options{StatePath: path})
	h1.set(t, twoTracks(90, stable, canary))
	h1.traffic.Close()

	h2 := newHarness(t, Options{StatePath: path})
	st, err := h2.client.Weights(context.Background(), "shop", "prod")
	if err != nil || st.Routing.Tracks[0].Weight != 90 || st.Routing.Tracks[1].Weight != 10 {
		t.Fatalf("after a restart got %+v %v, want stable 90 and canary 10", st.Routing.Tracks, err)
	}
	const n = 2000
	counts := h2.spread(t, n, 4, nil)
	// 10% of 2,000: 200 ± 13.4; 130 to 270 is more than 5 standard deviations either way.
	if c := counts["c canary 1.1.0"]; c < 130 || c > 270 || c+counts["s stable 1.0.0"] != n {
		t.Errorf("after a restart got %v, want about 10%% on the canary and nothing else", counts)
	}
}

// TestAdminGuards: the admin API refuses a browser's cross-origin change and a body that is not JSON; without
// a token, it also refuses a Host that is not loopback (DNS rebinding).
func TestAdminGuards(t *testing.T) {
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"maxHold": "1s"}`
	for _, tc := range []struct {
		name, token, host string
		header            http.Header
		want              int
	}{
		{"insecure, loopback host", "", "127.0.0.1:8081", nil, http.StatusNotFound},
		{"insecure, localhost", "", "localhost:8081", nil, http.StatusNotFound},
		{"insecure, rebound name", "", "attacker.example:8081", nil, http.StatusForbidden},
		{"insecure, cross-origin browser", "", "127.0.0.1:8081", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"http://attacker.example"}}, http.StatusForbidden},
		{"insecure, form body", "", "127.0.0.1:8081", http.Header{"Content-Type": {"text/plain"}}, http.StatusUnsupportedMediaType},
		{"token, form body", testToken, "router.internal", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {"Bearer " + testToken}}, http.StatusUnsupportedMediaType},
		{"token, any host", testToken, "router.internal", http.Header{"Authorization": {"Bearer " + testToken}}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://x/v1/routes/shop/prod/pause", strings.NewReader(body))
			req.Host = tc.host
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tc.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			r.AdminHandler(tc.token).ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("got %d %s, want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
}

// TestClientOwnTransport: the admin client does not use an HTTP proxy from the environment, and bounds a
// call to a router that never answers.
func TestClientOwnTransport(t *testing.T) {
	if tr, ok := adminClient.Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Errorf("got transport %T with a proxy function, want none", adminClient.Transport)
	}
	hang := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) { <-req.Context().Done() })
	defer func(m time.Duration) { callMargin = m }(callMargin)
	callMargin = 0
	c := &Client{BaseURL: hang, HealthWait: 100 * time.Millisecond, DrainTimeout: 100 * time.Millisecond}
	start := time.Now()
	if _, err := c.Weights(context.Background(), "shop", "prod"); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("got %v after %s, want an error within the call's bound", err, time.Since(start))
	}
}
