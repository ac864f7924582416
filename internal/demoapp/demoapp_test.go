package demoapp

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		path     string
		wantCode int
		wantBody string
	}{
		{"page", Config{Version: "1.2.3"}, "/", 200, `<strong id="version">1.2.3</strong>`},
		{"version", Config{Version: "1.2.3"}, "/version", 200, `{"version":"1.2.3"}`},
		{"healthz", Config{Version: "1"}, "/healthz", 200, "ok"},
		{"readyz", Config{Version: "1"}, "/readyz", 200, "ready"},
		{"not ready yet", Config{Version: "1", ReadyAfter: time.Hour}, "/readyz", 503, "not ready"},
		{"all errors", Config{Version: "1", ErrorRate: 1}, "/", 500, "injected error"},
		{"errors spare the probes", Config{Version: "1", ErrorRate: 1}, "/healthz", 200, "ok"},
		{"healthy until unhealthy-after", Config{Version: "1", UnhealthyAfter: time.Hour}, "/healthz", 200, "ok"},
		{"unhealthy after unhealthy-after", Config{Version: "1", UnhealthyAfter: time.Nanosecond}, "/healthz", 503, "unhealthy"},
		{"unhealthy spares readiness", Config{Version: "1", UnhealthyAfter: time.Nanosecond}, "/readyz", 200, "ready"},
		{"unknown path", Config{Version: "1"}, "/nope", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Handler(tc.cfg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.wantCode || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("GET %s: got %d %q, want %d with %q", tc.path, rec.Code, rec.Body.String(), tc.wantCode, tc.wantBody)
			}
		})
	}
}

func TestErrorRate(t *testing.T) {
	h := Handler(Config{Version: "1", ErrorRate: 0.2})
	const n = 10000
	errs := 0
	for range n {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code == 500 {
			errs++
		}
	}
	// 20% of 10,000 has a standard deviation of 40.
	if errs < 1700 || errs > 2300 {
		t.Errorf("got %d errors of %d, want about 2000", errs, n)
	}
}

func TestLatency(t *testing.T) {
	start := time.Now()
	rec := httptest.NewRecorder()
	Handler(Config{Version: "1", Latency: 30 * time.Millisecond}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/version", nil))
	if d := time.Since(start); d < 30*time.Millisecond || rec.Code != 200 {
		t.Errorf("got %d after %s, want 200 after at least 30ms", rec.Code, d)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{}, {Version: "1", ErrorRate: 1.5}, {Version: "1", ErrorRate: -0.1}, {Version: "1", Latency: -1}, {Version: "1", UnhealthyAfter: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v: got valid, want an error", c)
		}
	}
}

// TestStaticBinary builds testdata/demoapp with CGO_ENABLED=0, runs it configured by environment variables,
// and checks its pages and its clean stop on SIGTERM.
func TestStaticBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the static build is checked on linux")
	}
	bin := filepath.Join(t.TempDir(), "demoapp")
	build := exec.Command("go", "build", "-o", bin, "../../testdata/demoapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if out, err := exec.Command("go", "version", "-m", bin).Output(); err != nil || !strings.Contains(string(out), "CGO_ENABLED=0") {
		t.Errorf("go version -m: got %v, want a build with CGO_ENABLED=0:\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"VERSION=2.0.0", "LISTEN=127.0.0.1:0", "DEMO_ERROR_RATE=1", "DEMO_LATENCY=1ms"}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrRE := regexp.MustCompile(`listening on (\S+)`)
	sc := bufio.NewScanner(stderr)
	var addr string
	for addr == "" && sc.Scan() {
		if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatal("demoapp did not say where it listens")
	}
	go io.Copy(io.Discard, stderr)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/": 500} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || resp.Header.Get("X-Version") == "" && path == "/" {
			t.Errorf("GET %s: got %d, want %d", path, resp.StatusCode, want)
		}
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Errorf("stop on SIGINT: got %v, want a clean exit", err)
	}

	// A bad setting stops it at once with exit code 2.
	bad := exec.CommandContext(ctx, bin)
	bad.Env = []string{"VERSION=1", "DEMO_LATENCY=soon"}
	if out, err := bad.CombinedOutput(); bad.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "DEMO_LATENCY") {
		t.Errorf("bad DEMO_LATENCY: got %v %q, want exit 2 naming it", err, out)
	}
}

// TestTrigger switches a fault on and off in a running handler: healthy before Start, failing after it,
// healthy again after Stop.
func TestTrigger(t *testing.T) {
	var trig Trigger
	h := Handler(Config{Version: "1", Trigger: &trig})
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if code := get("/"); code != 200 {
		t.Fatalf("before Start: got %d, want 200", code)
	}
	before := time.Now()
	at, err := trig.Start(Fault{ErrorRate: 1})
	if err != nil || at.Before(before) || at.After(time.Now()) {
		t.Fatalf("Start: got %v, %v, want the time of the switch and no error", at, err)
	}
	for _, path := range []string{"/", "/version"} {
		if code := get(path); code != 500 {
			t.Errorf("GET %s with the fault on: got %d, want 500", path, code)
		}
	}
	if code := get("/healthz"); code != 200 {
		t.Errorf("GET /healthz with the fault on: got %d, want 200 (probes stay truthful)", code)
	}
	trig.Stop()
	if code := get("/"); code != 200 {
		t.Errorf("after Stop: got %d, want 200", code)
	}
}

func TestTriggerLatency(t *testing.T) {
	var trig Trigger
	h := Handler(Config{Version: "1", Trigger: &trig})
	if _, err := trig.Start(Fault{Latency: 30 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if d := time.Since(start); d < 30*time.Millisecond || rec.Code != 200 {
		t.Errorf("got %d after %s, want 200 after at least 30ms", rec.Code, d)
	}
}

func TestTriggerRefusesBadFault(t *testing.T) {
	var trig Trigger
	for _, f := range []Fault{{ErrorRate: 1.5}, {ErrorRate: -0.1}, {Latency: -1}} {
		if _, err := trig.Start(f); err == nil {
			t.Errorf("Start(%+v): got no error, want one", f)
		}
	}
	if f := trig.on(); f != nil {
		t.Errorf("after refused faults: got %+v on, want none", *f)
	}
}

// TestLatencyJitter checks that jitter spreads latencies: each request waits at least Latency, and 20
// requests with 20ms of jitter do not all wait about the same.
func TestLatencyJitter(t *testing.T) {
	h := Handler(Config{Version: "1", Latency: 5 * time.Millisecond, LatencyJitter: 20 * time.Millisecond})
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for range 20 {
		start := time.Now()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		d := time.Since(start)
		lo, hi = min(lo, d), max(hi, d)
	}
	// Uniform in [5ms, 25ms): all 20 within 5ms of each other has a probability below 1e-6.
	if lo < 5*time.Millisecond || hi-lo < 5*time.Millisecond {
		t.Errorf("got latencies from %s to %s, want at least 5ms and a spread of 5ms or more", lo, hi)
	}
	if (Config{Version: "1", LatencyJitter: -1}).Validate() == nil {
		t.Error("negative jitter: got valid, want an error")
	}
}
