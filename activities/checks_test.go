package activities

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/execrun"
	"github.com/ferryhq/ferry/internal/execrun/exectest"
	"github.com/ferryhq/ferry/internal/probe"
	"github.com/ferryhq/ferry/internal/spec"
)

// runCheck runs RunCheck through a test activity environment.
func runCheck(t *testing.T, c *Checks, in CheckRequest) (CheckResult, error) {
	t.Helper()
	env := newActivityEnv(c)
	val, err := env.ExecuteActivity(c.RunCheck, in)
	if err != nil {
		return CheckResult{}, err
	}
	var res CheckResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

// appServer serves a small app: /healthz reports its version, /down is unavailable, /app/status wants ?deep=1,
// /v/<version> exists for 1.4.0 only, /slow answers after a second.
func appServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"status":"ok","version":"1.4.0"}`)
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "draining", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/app/status", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("deep") != "1" {
			http.NotFound(w, r)
		}
	})
	mux.HandleFunc("/v/1.4.0", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// deadAddr returns an address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestRunCheckHTTP(t *testing.T) {
	srv := appServer(t)
	dead := deadAddr(t)
	tests := []struct {
		name    string
		check   spec.Check
		baseURL string
		passed  bool
		// detail is the wanted Detail, with $URL for the server's URL and $HOST for its host:port.
		detail string
		// checkName is the wanted Name; empty means "http GET " and the probed URL.
		checkName string
	}{
		{
			name:   "status matches",
			check:  spec.Check{HTTP: &spec.HTTPCheck{URL: "$URL/healthz"}},
			passed: true,
			detail: "GET $URL/healthz: status 200",
		},
		{
			name:   "status mismatch",
			check:  spec.Check{HTTP: &spec.HTTPCheck{URL: "$URL/down"}},
			detail: "GET $URL/down: status 503, want 200",
		},
		{
			name:   "expected non-200 status",
			check:  spec.Check{HTTP: &spec.HTTPCheck{URL: "$URL/down", Status: 503}},
			passed: true,
			detail: "GET $URL/down: status 503",
		},
		{
			name:   "body matches",
			check:  spec.Check{HTTP: &spec.HTTPCheck{URL: "$URL/healthz", Body: `"version":"1\.4\.\d+"`}},
			passed: true,
			detail: "GET $URL/healthz: status 200",
		},
		{
			name:   "body mismatch",
			check:  spec.Check{HTTP: &spec.HTTPCheck{URL: "$URL/healthz", Body: `"version":"2\.`}},
			detail: `GET $URL/healthz: status 200, body does not match "\"version\":\"2\\."`,
		},
		{
			name:   "connection refused",
			check:  spec.Check{HTTP: &spec.HTTPCheck{URL: "http://" + dead + "/healthz"}},
			detail: "GET http://" + dead + "/healthz: dial tcp " + dead + ": connect: connection refused",
		},
		{
			name:    "relative path joins the environment url",
			check:   spec.Check{HTTP: &spec.HTTPCheck{Path: "/status?deep=1"}},
			baseURL: "$URL/app/",
			passed:  true,
			detail:  "GET $URL/app/status: status 200", // the query string stays out of history,
		},
		{
			name:    "templated path",
			check:   spec.Check{HTTP: &spec.HTTPCheck{Path: "v/{{.Version}}"}},
			baseURL: "$URL",
			passed:  true,
			detail:  "GET $URL/v/1.4.0: status 200",
		},
		{
			name:   "templated url",
			check:  spec.Check{HTTP: &spec.HTTPCheck{URL: "$URL/v/{{.Version}}"}},
			passed: true,
			detail: "GET $URL/v/1.4.0: status 200",
		},
		{
			name:   "timeout",
			check:  spec.Check{HTTP: &spec.HTTPCheck{URL: "$URL/slow"}, Timeout: spec.Duration(100 * time.Millisecond)},
			detail: "GET $URL/slow: timed out after 100ms",
		},
		{
			name:   "password masked",
			check:  spec.Check{HTTP: &spec.HTTPCheck{URL: "http://ferry:s3cret@$HOST/healthz"}},
			passed: true,
			detail: "GET http://ferry:xxxxx@$HOST/healthz: status 200",
		},
		{
			name:      "named check",
			check:     spec.Check{Name: "health", HTTP: &spec.HTTPCheck{URL: "$URL/healthz"}},
			passed:    true,
			detail:    "GET $URL/healthz: status 200",
			checkName: "health",
		},
	}
	subst := strings.NewReplacer("$URL", srv.URL, "$HOST", srv.Listener.Addr().String()).Replace
	c := &Checks{HTTP: probe.New(), Exec: testPolicy}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := *tt.check.HTTP
			h.URL = subst(h.URL)
			tt.check.HTTP = &h
			in := CheckRequest{Check: tt.check, BaseURL: subst(tt.baseURL), Vars: testVars}
			res, err := runCheck(t, c, in)
			if err != nil {
				t.Fatalf("got error %v, want a result", err)
			}
			detail := subst(tt.detail)
			if res.Passed != tt.passed || res.Detail != detail {
				t.Errorf("got passed %v detail %q, want %v %q", res.Passed, res.Detail, tt.passed, detail)
			}
			wantName := tt.checkName
			if wantName == "" {
				wantName = "http " + strings.Fields(detail)[0] + " " + strings.TrimSuffix(strings.Fields(detail)[1], ":")
			}
			if res.Name != wantName {
				t.Errorf("got name %q, want %q", res.Name, wantName)
			}
			if res.Duration <= 0 {
				t.Errorf("got duration %s, want it measured", res.Duration)
			}
		})
	}
}

func TestRunCheckInvalidSpec(t *testing.T) {
	tests := []struct {
		name    string
		check   spec.Check
		baseURL string
		msg     string
	}{
		{"neither probe", spec.Check{Name: "smoke"}, "", `check "smoke": set exactly one of http and exec`},
		{"both probes", spec.Check{HTTP: &spec.HTTPCheck{URL: "http://x/"}, Exec: []string{"true"}}, "", "check: set exactly one of http and exec"},
		{"url and path", spec.Check{HTTP: &spec.HTTPCheck{URL: "http://x/", Path: "/y"}}, "", "set one of http.url and http.path, not both"},
		{"neither url nor path", spec.Check{HTTP: &spec.HTTPCheck{}}, "", "http needs url or path"},
		{"path without environment url", spec.Check{HTTP: &spec.HTTPCheck{Path: "/healthz"}}, "", "http.path needs the environment's url"},
		{"relative url", spec.Check{HTTP: &spec.HTTPCheck{URL: "/healthz"}}, "", `url "/healthz" is not an absolute http(s) url`},
		{"unparsable url", spec.Check{HTTP: &spec.HTTPCheck{URL: "http://u:pw@[::1/"}}, "", "invalid url"},
		{"bad url template", spec.Check{HTTP: &spec.HTTPCheck{URL: "http://x/{{.Nope}}"}}, "", "http.url: invalid template"},
		{"bad path template", spec.Check{HTTP: &spec.HTTPCheck{Path: "{{.Config.nope}}"}}, "http://x", "http.path: invalid template"},
		{"bad base url template", spec.Check{HTTP: &spec.HTTPCheck{Path: "/"}}, "http://{{.Host}}", "environment url: invalid template"},
		{"bad regexp", spec.Check{HTTP: &spec.HTTPCheck{URL: "http://x/", Body: "a("}}, "", "http.body is not a regular expression"},
		{"bad exec template", spec.Check{Exec: []string{"./e2e.sh", "{{.Image"}}, "", "check: exec[1]: invalid template"},
	}
	c := &Checks{HTTP: probe.New(), Runner: &fakeRunner{}, Exec: testPolicy}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCheck(t, c, CheckRequest{Check: tt.check, BaseURL: tt.baseURL, Vars: testVars})
			assertFailure(t, err, ErrTypeInvalidSpec, false, tt.msg)
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("got error %v, want the url's password left out", err)
			}
		})
	}
}

// fakeProber answers every probe with a canned response and records the probe's deadline.
type fakeProber struct {
	resp     probe.Response
	url      string
	deadline time.Duration
}

func (f *fakeProber) Get(ctx context.Context, url string) (probe.Response, error) {
	f.url = url
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	return f.resp, nil
}

func TestRunCheckDefaults(t *testing.T) {
	prober := &fakeProber{resp: probe.Response{Status: 200}}
	runner := &fakeRunner{runs: []fakeRun{exitOK}}
	c := &Checks{HTTP: prober, Runner: runner, Exec: testPolicy}

	res, err := runCheck(t, c, CheckRequest{Check: spec.Check{HTTP: &spec.HTTPCheck{Path: "healthz"}}, BaseURL: "http://checkout.staging", Vars: testVars})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed || prober.url != "http://checkout.staging/healthz" {
		t.Errorf("got passed %v for %q, want a pass for http://checkout.staging/healthz with the default status 200", res.Passed, prober.url)
	}
	if prober.deadline <= 29*time.Second || prober.deadline > 30*time.Second {
		t.Errorf("got a probe deadline %s away, want the default 30s", prober.deadline)
	}

	if _, err := runCheck(t, c, CheckRequest{Check: spec.Check{Exec: []string{"./e2e.sh"}}, Dir: "/srv/app", Vars: testVars}); err != nil {
		t.Fatal(err)
	}
	cmd := runner.got[0]
	if cmd.Timeout != 30*time.Second || cmd.Dir != "/srv/app" || !slices.Contains(cmd.Env, "FERRY_OP=check") {
		t.Errorf("got timeout %s dir %q env %q, want 30s, /srv/app and FERRY_OP=check", cmd.Timeout, cmd.Dir, cmd.Env)
	}
}

func TestRunCheckExec(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "pass.sh", `echo "$FERRY_OP $*" >> ops.log`+"\necho all good\n")
	exectest.Script(t, dir, "fail.sh", "echo 'step 1 ok'\necho 'assert failed: cart is empty' >&2\nexit 1\n")
	exectest.Script(t, dir, "hang.sh", "sleep 60\n")
	tests := []struct {
		name   string
		check  spec.Check
		passed bool
		detail string
		// checkName is the wanted Name.
		checkName string
	}{
		{
			name:      "pass",
			check:     spec.Check{Exec: []string{"./pass.sh", "smoke", "{{.Version}}"}},
			passed:    true,
			detail:    "exit status 0: all good",
			checkName: "./pass.sh smoke 1.4.0",
		},
		{
			name:      "fail quotes the last line",
			check:     spec.Check{Name: "cart", Exec: []string{"./fail.sh"}},
			detail:    "exit status 1: assert failed: cart is empty",
			checkName: "cart",
		},
		{
			name:      "timeout",
			check:     spec.Check{Exec: []string{"./hang.sh"}, Timeout: spec.Duration(200 * time.Millisecond)},
			detail:    "command timed out after 200ms",
			checkName: "./hang.sh",
		},
	}
	c := &Checks{Runner: execrun.Runner{}, Exec: testPolicy}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := runCheck(t, c, CheckRequest{Check: tt.check, Dir: dir, Vars: testVars})
			if err != nil {
				t.Fatalf("got error %v, want a result", err)
			}
			if res.Passed != tt.passed || res.Detail != tt.detail || res.Name != tt.checkName {
				t.Errorf("got %+v, want passed %v detail %q name %q", res, tt.passed, tt.detail, tt.checkName)
			}
		})
	}
	assertLines(t, "log", readLog(t, dir, "ops.log"), []string{"check smoke 1.4.0"})
}

func TestRunCheckExecMissingProgram(t *testing.T) {
	c := &Checks{Runner: execrun.Runner{}, Exec: testPolicy}
	_, err := runCheck(t, c, CheckRequest{Check: spec.Check{Name: "e2e", Exec: []string{"./missing.sh"}}, Dir: t.TempDir()})
	appErr := assertFailure(t, err, ErrTypeInvalidSpec, false, `check "e2e": exec: the program cannot be run: cannot run command "./missing.sh": `)
	if !strings.Contains(appErr.Message(), "no such file or directory") {
		t.Errorf("got message %q, want it to keep the OS error", appErr.Message())
	}
}
