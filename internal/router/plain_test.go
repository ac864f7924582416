package router

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPlainPath: requests on the router's own forwarding path keep the general path's behaviour: no
// hop-by-hop headers either way, no spoofed track headers, query strings as sent, HEAD without a body,
// streamed answers of unknown length, and a kept-alive connection that the backend closed is retried on a
// new one rather than answered 502.
func TestPlainPath(t *testing.T) {
	var closeNext atomic.Bool
	echo := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		if closeNext.Load() {
			w.Header().Set("Connection", "close")
		}
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Secret-Hop", "x")
		w.Header().Add("Connection", "X-Secret-Hop")
		if req.URL.Path == "/chunked" {
			fmt.Fprint(w, "part1 ")
			w.(http.Flusher).Flush()
			fmt.Fprint(w, "part2")
			return
		}
		fmt.Fprintf(w, "uri=%s track=%s version=%s te=%q foo=%q hop=%q", req.RequestURI, req.Header.Get(HeaderTrack),
			req.Header.Get(HeaderVersion), req.Header.Get("Te"), req.Header.Get("Foo"), req.Header.Get("X-Client-Hop"))
	})
	h := newHarness(t, Options{})
	h.set(t, oneTrack(echo, "7"))
	do := func(method, path string, header http.Header) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, h.traffic.URL+path, nil)
		req.Host = "shop.test"
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		want               string
	}{
		{"query kept", "GET", "/a/b?x=1&y=%20;z", nil, `uri=/a/b?x=1&y=%20;z track=stable version=7 te="" foo="" hop=""`},
		{"spoofed track", "GET", "/", http.Header{HeaderTrack: {"canary"}, HeaderVersion: {"9"}}, `uri=/ track=stable version=7 te="" foo="" hop=""`},
		{"hop-by-hop dropped", "GET", "/", http.Header{"Te": {"trailers"}, "Connection": {"X-Client-Hop"}, "X-Client-Hop": {"1"}, "Foo": {"bar"}}, `uri=/ track=stable version=7 te="" foo="bar" hop=""`},
		{"chunked streamed", "GET", "/chunked", nil, "part1 part2"},
		{"head", "HEAD", "/", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(tc.method, tc.path, tc.header)
			if resp.StatusCode != http.StatusOK || body != tc.want {
				t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, tc.want)
			}
			if resp.Header.Get("X-Secret-Hop") != "" || resp.Header.Get("Keep-Alive") != "" {
				t.Errorf("got answer headers %v, want the backend's hop-by-hop headers dropped", resp.Header)
			}
		})
	}
	// The backend closes its side after an answer; the router's next request on that connection must not fail.
	closeNext.Store(true)
	do("GET", "/", nil)
	closeNext.Store(false)
	for i := range 20 {
		if resp, body := do("GET", "/", nil); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "uri=/") {
			t.Fatalf("request %d after the backend closed a connection: got %d %q, want 200", i, resp.StatusCode, body)
		}
	}
	// A backend that closes idle connections: the router's kept-alive ones go stale while it waits.
	idle := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "fresh") }))
	idle.Config.IdleTimeout = 20 * time.Millisecond
	idle.Start()
	t.Cleanup(idle.Close)
	h.set(t, oneTrack(idle.URL, "8"))
	for i := range 5 {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if resp, body := do("GET", "/", nil); resp.StatusCode != http.StatusOK || body != "fresh" {
					t.Errorf("round %d after the backend closed idle connections: got %d %q, want 200", i, resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
		time.Sleep(60 * time.Millisecond)
	}
}
