package activities

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/internal/execrun"
	"github.com/ferryhq/ferry/internal/probe"
	"github.com/ferryhq/ferry/internal/spec"
)

func TestAllowedProgram(t *testing.T) {
	bin := t.TempDir()
	for _, name := range []string{"kubectl", "helm"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "notes"), []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		allow   []string
		program string
		dir     string
		ok      bool
	}{
		{"relative program below the root", []string{"/srv/ferry/**"}, "./deploy.sh", "/srv/ferry/checkout", true},
		{"** matches no element too", []string{"/srv/ferry/**/deploy.sh"}, "./deploy.sh", "/srv/ferry", true},
		{"** matches many elements", []string{"/srv/ferry/**/deploy.sh"}, "a/b/c/deploy.sh", "/srv/ferry", true},
		{"* stays within one element", []string{"/srv/ferry/*"}, "./bin/deploy.sh", "/srv/ferry", false},
		{"* in one element", []string{"/srv/ferry/bin/*.sh"}, "./bin/deploy.sh", "/srv/ferry", true},
		{"relative program climbing out", []string{"/srv/ferry/**"}, "../../bin/sh", "/srv/ferry/checkout", false},
		{"absolute program outside", []string{"/srv/ferry/**"}, "/bin/sh", "/srv/ferry", false},
		{"absolute program cleaned", []string{"/srv/ferry/**"}, "/srv/ferry/../../bin/sh", "/srv/ferry", false},
		{"exact path", []string{"/usr/bin/env"}, "/usr/bin/env", "/srv/ferry", true},
		{"bare name by name", []string{"kubectl"}, "kubectl", "/srv/ferry", true},
		{"bare name pattern", []string{"kube*"}, "kubectl", "/srv/ferry", true},
		{"bare name does not allow a path", []string{"kubectl"}, "./kubectl", "/srv/ferry", false},
		{"bare name found in PATH matches a path pattern", []string{bin + "/*"}, "helm", "/srv/ferry", true},
		{"bare name not in PATH", []string{bin + "/*"}, "terraform", "/srv/ferry", false},
		{"non-executable file in PATH", []string{bin + "/*"}, "notes", "/srv/ferry", false},
		{"other name", []string{"kubectl"}, "sh", "/srv/ferry", false},
		{"empty allowlist", nil, "./deploy.sh", "/srv/ferry", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &ExecPolicy{Root: "/srv/ferry", Allow: tt.allow, Env: []string{"PATH=" + bin}}
			err := p.AllowedProgram(tt.program, tt.dir)
			if (err == nil) != tt.ok {
				t.Fatalf("AllowedProgram(%q in %s) with %q: got %v, want allowed %v", tt.program, tt.dir, tt.allow, err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "program "+tt.program) {
				t.Errorf("got %q, want the message to name program %s", err, tt.program)
			}
		})
	}
}

func TestResolveDir(t *testing.T) {
	tests := []struct {
		root, dir string
		want      string // "" means refused
	}{
		{"/srv/ferry", "", "/srv/ferry"},
		{"/srv/ferry", ".", "/srv/ferry"},
		{"/srv/ferry", "deploy", "/srv/ferry/deploy"},
		{"/srv/ferry", "deploy/../ops", "/srv/ferry/ops"},
		{"/srv/ferry/", "./deploy/", "/srv/ferry/deploy"},
		{"/srv/ferry", "..", ""},
		{"/srv/ferry", "../ferry-other", ""},
		{"/srv/ferry", "deploy/../../etc", ""},
		{"/srv/ferry", "/srv/ferry/deploy", "/srv/ferry/deploy"}, // an absolute dir from an older client
		{"/srv/ferry", "/ci/workspace/checkout", ""},
		{"/srv/ferry", "/srv/ferry-other", ""},
		{"", "deploy", ""},
		{"relative/root", "deploy", ""},
	}
	for _, tt := range tests {
		p := &ExecPolicy{Root: tt.root}
		got, err := p.ResolveDir(tt.dir)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ResolveDir(%q) under %q: got %q, want it refused", tt.dir, tt.root, got)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("ResolveDir(%q) under %q: got %q, %v, want %q", tt.dir, tt.root, got, err, tt.want)
		}
	}
}

// admitSpec is a valid spec whose commands run ./deploy.sh in deploy/ and an e2e check in production.
func admitSpec() spec.Spec {
	s := spec.Spec{
		Service: "checkout",
		Image:   spec.Image{Repository: "registry.test/checkout"},
		Platform: spec.Platform{Exec: &spec.ExecPlatform{
			Dir:      "deploy",
			Deploy:   []string{"./deploy.sh", "{{.Version}}"},
			Rollback: []string{"./deploy.sh", "rollback"},
			Remove:   []string{"./deploy.sh", "remove"},
		}},
		Environments: []spec.Environment{
			{Name: "staging"},
			{Name: "production", Checks: spec.Checks{E2E: []spec.Check{{Name: "e2e", Exec: []string{"./e2e.sh"}}}}},
		},
	}
	spec.ApplyDefaults(&s)
	return s
}

func TestAdmit(t *testing.T) {
	policy := &ExecPolicy{Root: "/srv/ferry", Allow: []string{"/srv/ferry/**"}}
	tests := []struct {
		name string
		edit func(*AdmitRequest)
		msg  []string // "" none: admitted
	}{
		{"allowed", func(*AdmitRequest) {}, nil},
		{"platform program outside the allowlist", func(r *AdmitRequest) { r.Spec.Platform.Exec.Deploy = []string{"/bin/sh", "-c", "id"} },
			[]string{"platform.exec.deploy[0]: program /bin/sh is not allowed: it matches none of the worker's --exec-allow patterns /srv/ferry/**"}},
		{"check program outside the allowlist", func(r *AdmitRequest) {
			r.Spec.Environments[1].Checks.E2E[0].Exec = []string{"curl", "-d@/etc/passwd", "x"}
		},
			[]string{"environments[1].checks.e2e[0].exec[0]: program curl", "is not allowed"}},
		{"dir escaping the root", func(r *AdmitRequest) { r.Spec.Platform.Exec.Dir = "../../usr/bin" },
			[]string{`platform.exec.dir: working directory "../../usr/bin" leaves the worker's exec root /srv/ferry`}},
		{"bad version", func(r *AdmitRequest) { r.Version = "$(id)" }, []string{`version "$(id)": must be an OCI tag`}},
		{"missing git sha", func(r *AdmitRequest) { r.GitSHA = "" }, []string{`git sha "": must be 7 to 40 hexadecimal characters`}},
		{"invalid spec", func(r *AdmitRequest) { r.Spec.Service = "Bad Name" }, []string{"spec: ", "service"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := AdmitRequest{Spec: admitSpec(), Version: "1.4.0", GitSHA: "0a1b2c3"}
			tt.edit(&in)
			p := execPlatform(&Exec{Policy: policy})
			_, err := newActivityEnv(p).ExecuteActivity(p.Admit, in)
			if tt.msg == nil {
				if err != nil {
					t.Fatalf("got %v, want the release admitted", err)
				}
				return
			}
			app := assertFailure(t, err, ErrTypeInvalidSpec, false, "the worker refuses this release: ")
			for _, m := range tt.msg {
				if !strings.Contains(app.Message(), m) {
					t.Errorf("got message %q, want it to contain %q", app.Message(), m)
				}
			}
		})
	}
}

// A worker without a policy runs nothing.
func TestAdmitWithoutPolicy(t *testing.T) {
	p := &Platform{}
	_, err := newActivityEnv(p).ExecuteActivity(p.Admit, AdmitRequest{Spec: admitSpec(), Version: "1.4.0", GitSHA: "0a1b2c3"})
	assertFailure(t, err, ErrTypeInvalidSpec, false, "no absolute exec root")
}

// secret is a value the test redactor removes.
const secret = "hunter2-s3cr3t"

var testRedactor = RedactFunc(func(s string) string { return strings.ReplaceAll(s, secret, "[redacted]") })

// assertClean fails when what, a string that leaves an activity, holds the secret.
func assertClean(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, secret) {
		t.Errorf("%s holds the secret: %q", what, s)
	}
	if !strings.Contains(s, "[redacted]") {
		t.Errorf("%s: got %q, want the redactor's mark in it", what, s)
	}
}

func TestRedactorErrorMessageAndDetails(t *testing.T) {
	// Long output: the error carries only its end.
	output := strings.Repeat("noise line\n", 500) + "login failed with password " + secret + "\n"
	runner := &fakeRunner{runs: []fakeRun{{res: execrun.Result{ExitCode: 1, Status: "exit status 1", Output: output}}}}
	p := execPlatform(&Exec{Runner: runner, Policy: testPolicy, Redact: testRedactor})
	_, err := newActivityEnv(p).ExecuteActivity(p.Deploy, PlatformRequest{Platform: spec.Platform{Exec: &spec.ExecPlatform{Deploy: []string{"deploy"}}}, Vars: testVars})
	app := assertFailure(t, err, ErrTypeCommandFailed, true, "exit status 1")
	assertClean(t, "error message", app.Message())
	var details PlatformResult
	if err := app.Details(&details); err != nil {
		t.Fatal(err)
	}
	assertClean(t, "error details", details.Output)
	if len(details.Output) > failureOutput {
		t.Errorf("got %d bytes of output in the details, want at most %d", len(details.Output), failureOutput)
	}
}

func TestRedactorInvalidSpecMessage(t *testing.T) {
	p := execPlatform(&Exec{Runner: &fakeRunner{}, Policy: &ExecPolicy{Root: "/srv", Allow: []string{"/srv/**"}}, Redact: testRedactor})
	_, err := newActivityEnv(p).ExecuteActivity(p.Deploy,
		PlatformRequest{Platform: spec.Platform{Exec: &spec.ExecPlatform{Deploy: []string{"/opt/" + secret + "/tool"}}}, Vars: testVars})
	app := assertFailure(t, err, ErrTypeInvalidSpec, false, "is not allowed")
	assertClean(t, "error message", app.Message())
}

func TestRedactorHeartbeats(t *testing.T) {
	fail := fakeRun{res: execrun.Result{ExitCode: 1, Status: "exit status 1", Output: "token " + secret + " rejected\n"}}
	runner := &fakeRunner{runs: []fakeRun{fail}} // the last run repeats
	p := execPlatform(&Exec{Runner: runner, Policy: testPolicy, Redact: testRedactor, ReadyInterval: time.Millisecond})
	env := newActivityEnv(p)
	var mu sync.Mutex
	var beats []string
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var progress readyProgress
		if details.HasValues() && details.Get(&progress) == nil {
			mu.Lock()
			beats = append(beats, progress.Last)
			mu.Unlock()
		}
	})
	exec := spec.ExecPlatform{Ready: []string{"ready"}, ReadyTimeout: spec.Duration(50 * time.Millisecond)}
	_, err := env.ExecuteActivity(p.WaitReady, PlatformRequest{Platform: spec.Platform{Exec: &exec}, Vars: testVars})
	app := assertFailure(t, err, ErrTypeReadinessTimeout, false, "not ready within")
	assertClean(t, "readiness error message", app.Message())
	mu.Lock()
	defer mu.Unlock()
	seen := false
	for _, b := range beats {
		if b != "" {
			seen = true
			assertClean(t, "heartbeat", b)
		}
	}
	if !seen {
		t.Fatalf("got heartbeats %q, want one describing a failed poll", beats)
	}
}

func TestRedactorCheckResult(t *testing.T) {
	runner := &fakeRunner{runs: []fakeRun{{res: execrun.Result{ExitCode: 1, Status: "exit status 1", Output: "bad key " + secret + "\n"}}}}
	c := &Checks{Runner: runner, Exec: testPolicy, Redact: testRedactor}
	res, err := runCheck(t, c, CheckRequest{Check: spec.Check{Exec: []string{"./e2e.sh", "--key=" + secret}}, Vars: testVars})
	if err != nil {
		t.Fatal(err)
	}
	assertClean(t, "check name", res.Name)
	assertClean(t, "check detail", res.Detail)
}

// An http check's URL shows without its query string, wherever it appears.
func TestCheckURLWithoutQuery(t *testing.T) {
	c := &Checks{HTTP: urlQuotingProber{}, Exec: testPolicy}
	res, err := runCheck(t, c, CheckRequest{Check: spec.Check{HTTP: &spec.HTTPCheck{URL: "http://user:pw@app.test/healthz?token=abc#frag"}}, Vars: testVars})
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]string{"name": res.Name, "detail": res.Detail} {
		if strings.Contains(s, "token") || strings.Contains(s, "abc") || strings.Contains(s, "pw") || strings.Contains(s, "frag") {
			t.Errorf("check %s %q shows the query string, the fragment or the password", what, s)
		}
		if !strings.Contains(s, "http://user:xxxxx@app.test/healthz") {
			t.Errorf("check %s %q lacks the URL without its query", what, s)
		}
	}
	_, err = runCheck(t, c, CheckRequest{Check: spec.Check{HTTP: &spec.HTTPCheck{URL: "ftp://app.test/x?token=abc"}}, Vars: testVars})
	app := assertFailure(t, err, ErrTypeInvalidSpec, false, `url "ftp://app.test/x" is not an absolute http(s) url`)
	if strings.Contains(app.Message(), "token") {
		t.Errorf("error %q shows the query string", app.Message())
	}
}

// urlQuotingProber fails every request with an error that quotes the URL, as net/http's errors do.
type urlQuotingProber struct{}

func (urlQuotingProber) Get(_ context.Context, url string) (probe.Response, error) {
	return probe.Response{}, fmt.Errorf("Get %q: connection refused", url)
}

// A worker that cannot measure metrics refuses a spec that names them, at admission, with the field and the
// remedy; a spec without metrics it admits.
func TestAdmitWithoutPrometheus(t *testing.T) {
	policy := &ExecPolicy{Root: "/srv/ferry", Allow: []string{"/srv/ferry/**"}}
	p := execPlatform(&Exec{Policy: policy})
	p.NoMetrics = "no Prometheus is configured; start the worker with --prometheus-address"
	plain := AdmitRequest{Spec: admitSpec(), Version: "1.4.0", GitSHA: "0a1b2c3"}
	if _, err := newActivityEnv(p).ExecuteActivity(p.Admit, plain); err != nil {
		t.Fatalf("got %v for a spec without metrics, want it admitted", err)
	}
	in := AdmitRequest{Spec: admitSpec(), Version: "1.4.0", GitSHA: "0a1b2c3"}
	max := 0.01
	in.Spec.Metrics = map[string]spec.Metric{"error-rate": {Query: "up", Max: &max}}
	in.Spec.Environments[1].Verify = &spec.Verify{Window: spec.Duration(time.Minute), MetricAnalysis: spec.MetricAnalysis{Metrics: []string{"error-rate"}}}
	spec.ApplyDefaults(&in.Spec)
	_, err := newActivityEnv(p).ExecuteActivity(p.Admit, in)
	app := assertFailure(t, err, ErrTypeInvalidSpec, false, "the worker refuses this release: ")
	want := "environments[1].verify.metrics: this worker cannot measure metrics: no Prometheus is configured; start the worker with --prometheus-address"
	if !strings.Contains(app.Message(), want) || strings.Contains(app.Message(), "spec: ") {
		t.Errorf("got message %q, want only %q", app.Message(), want)
	}
}
