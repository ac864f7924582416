package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNginxSplit runs the real nginx with the benchmark's configuration and checks what the comparison rests
// on: both backends get requests in about the configured split, over kept-alive connections, with the
// router's headers; and stop ends nginx and removes its directory.
func TestNginxSplit(t *testing.T) {
	bin, err := findNginx("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nginx is required under CI: %v", err)
		}
		t.Skipf("nginx not installed: %v", err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	conns := map[string]bool{}
	backend := func(version string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			got[version+" "+req.Header.Get("X-Ferry-Track")+" "+req.Header.Get("X-Ferry-Version")+" "+req.Host]++
			conns[req.RemoteAddr] = true
			mu.Unlock()
			w.Header().Set("X-Version", version)
		}))
	}
	stable, canary := backend(stableVersion), backend(canaryVersion)
	defer stable.Close()
	defer canary.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := startNginx(ctx, bin, nginxConfig{
		Workers: 1, Keepalive: 8, Stable: 90,
		StableAddr: strings.TrimPrefix(stable.URL, "http://"), CanaryAddr: strings.TrimPrefix(canary.URL, "http://"),
		StableVersion: stableVersion, CanaryVersion: canaryVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			p.stop()
		}
	}()

	const n = 1000
	for range n {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/version", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got status %d, want 200", resp.StatusCode)
		}
	}
	mu.Lock()
	s, c := got[stableVersion+" stable "+stableVersion+" "+host], got[canaryVersion+" canary "+canaryVersion+" "+host]
	if s+c != n {
		t.Errorf("got requests %v, want all %d with track, version and host headers", got, n)
	}
	// 10% of 1,000 at random: 100 ± 9.5; 50 to 150 is more than 5 standard deviations either way.
	if c < 50 || c > 150 {
		t.Errorf("got %d of %d requests on the canary, want about 10%%", c, n)
	}
	if len(conns) > 8 {
		t.Errorf("got %d connections to the backends for %d sequential requests, want them kept alive", len(conns), n)
	}
	mu.Unlock()

	stopped = true
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if p.cmd.ProcessState == nil {
		t.Error("nginx not waited for after stop")
	}
	if _, err := os.Stat(p.dir); !os.IsNotExist(err) {
		t.Errorf("got %v for nginx's directory after stop, want it removed", err)
	}
}

// TestNginxBadConfig checks that an nginx that exits at start is reported with its error log, not waited for.
func TestNginxBadConfig(t *testing.T) {
	bin, err := findNginx("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nginx is required under CI: %v", err)
		}
		t.Skipf("nginx not installed: %v", err)
	}
	_, err = startNginx(context.Background(), bin, nginxConfig{
		Workers: 1, Keepalive: 8, Stable: 90, StableAddr: "127.0.0.1:0:0", CanaryAddr: "127.0.0.1:1",
		StableVersion: stableVersion, CanaryVersion: canaryVersion,
	})
	if err == nil || !strings.Contains(err.Error(), "exited at start") {
		t.Errorf("got %v, want nginx's start failure", err)
	}
}

func TestFindNginxMissing(t *testing.T) {
	if _, err := findNginx("ferry-no-such-nginx"); err == nil || !strings.Contains(err.Error(), "apt-get install nginx") {
		t.Errorf("got %v, want an error that says how to install nginx", err)
	}
	if _, err := findNginx("/no/such/dir/nginx"); err == nil {
		t.Error("got no error for a missing path")
	}
}
