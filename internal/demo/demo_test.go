package demo

import (
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/spec"
)

func TestExampleIsValid(t *testing.T) {
	dir := t.TempDir()
	path, err := writeExample(dir, "http://127.0.0.1:4321", `o'brien@host "quoted"`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(path)
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	if s.Service != Service {
		t.Errorf("service: got %q, want %q", s.Service, Service)
	}
	prod, ok := s.Env(gateEnv)
	if !ok || prod.Gate.Approval == nil {
		t.Fatalf("no approval gate in %s", gateEnv)
	}
	if want := []string{Bot, `o'brien@host "quoted"`}; !slices.Equal(prod.Gate.Approval.Approvers, want) {
		t.Errorf("approvers: got %q, want %q", prod.Gate.Approval.Approvers, want)
	}
	if prod.URL != "http://127.0.0.1:4321/production" || prod.Strategy.Type != spec.StrategyCanary {
		t.Errorf("production: got url %q strategy %q", prod.URL, prod.Strategy.Type)
	}
	var bake spec.Duration
	for _, st := range prod.Strategy.Steps {
		bake += st.Bake
	}
	if bake.D().Seconds() > 20 {
		t.Errorf("canary bakes take %s; the demo must finish within a minute", bake)
	}
	if fi, err := os.Stat(filepath.Join(dir, "platform.sh")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("platform.sh is not executable: %v", err)
	}
}

// TestPlatformScript drives platform.sh through a canary the way the worker does.
func TestPlatformScript(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeExample(dir, "http://x", "me"); err != nil {
		t.Fatal(err)
	}
	sh := func(args ...string) (string, error) {
		out, err := exec.Command(filepath.Join(dir, "platform.sh"), args...).CombinedOutput()
		return string(out), err
	}
	state := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "state", name))
		return strings.TrimSpace(string(b))
	}
	steps := [][]string{
		{"deploy", "production", "stable", "0.9.0", "4"},
		{"promote", "production", "stable", "0.9.0"},
		{"deploy", "production", "canary", "1.0.0", "4"},
		{"deploy", "production", "canary", "1.0.0", "4"}, // twice: idempotent
		{"ready", "production", "canary"},
		{"set-weight", "production", "canary", "10"},
		{"e2e", "production", "1.0.0"},
		{"promote", "production", "canary", "1.0.0"},
		{"remove", "production", "canary", "1.0.0"},
		{"remove", "production", "canary", "1.0.0"},
	}
	for _, s := range steps {
		if out, err := sh(s...); err != nil {
			t.Fatalf("%v: %v\n%s", s, err, out)
		}
	}
	if got := [3]string{state("production.stable"), state("production.canary"), state("production.weight")}; got != [3]string{"1.0.0", "", "0"} {
		t.Errorf("after the canary: got stable, canary, weight %q, want 1.0.0, none, 0", got)
	}
	if _, err := sh("ready", "production", "canary"); err == nil {
		t.Error("ready succeeds for a removed track")
	}
	if out, err := sh("e2e", "production", "2.0.0"); err == nil || !strings.Contains(out, "version 2.0.0 does not run in production") {
		t.Errorf("e2e of a version not running: got %v %q", err, out)
	}
	if _, err := sh("rollback", "production", "0.9.0"); err != nil || state("production.stable") != "0.9.0" {
		t.Errorf("rollback: got %v, stable %q", err, state("production.stable"))
	}
	if out, err := sh("explode", "production"); err == nil || !strings.Contains(out, "unknown operation explode") {
		t.Errorf("unknown operation: got %v %q", err, out)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "platform.log"))
	if n, want := strings.Count(string(log), "\n"), len(steps)+4; n != want {
		t.Errorf("platform.log has %d lines, want one per call (%d)", n, want)
	}
}

func TestApp(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{"production.stable": "0.9.0\n", "production.canary": "1.0.0\n", "production.weight": "10\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(newApp(dir))
	defer srv.Close()
	for path, want := range map[string]string{
		"/production/healthz": "ok production stable=0.9.0 canary=1.0.0 weight=10\n",
		"/staging/healthz":    "ok staging stable= canary= weight=\n",
		"/healthz":            "ok\n",
		"/":                   "production.canary 1.0.0\nproduction.stable 0.9.0\nproduction.weight 10\n",
	} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("GET %s: got %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
	}
	resp, err := srv.Client().Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /nope: got %d, want 404", resp.StatusCode)
	}
}

// TestDockerExampleIsValid loads both of the Docker example's specs: the first release's, which only puts a
// stable version in place, and the canary's.
func TestDockerExampleIsValid(t *testing.T) {
	dk := &Docker{Registry: "127.0.0.1:5000", Traffic: "127.0.0.1:8080"}
	for _, tc := range []struct {
		version  string
		first    bool
		strategy string
	}{{Previous, true, spec.StrategyRecreate}, {Version, false, spec.StrategyCanary}} {
		path, err := writeDockerExample(t.TempDir(), dk, tc.version, tc.first, "me")
		if err != nil {
			t.Fatal(err)
		}
		s, err := spec.Load(path)
		if err != nil {
			t.Fatalf("%s: the example does not load: %v", tc.version, err)
		}
		prod, _ := s.Env(gateEnv)
		if prod.Strategy.Type != tc.strategy || (prod.Gate.Approval != nil) == tc.first {
			t.Errorf("%s: production got strategy %s, approval %v", tc.version, prod.Strategy.Type, prod.Gate.Approval != nil)
		}
		if want := "Dockerfile." + tc.version; s.Image.Build == nil || s.Image.Build.Dockerfile != want {
			t.Errorf("%s: image.build %+v, want dockerfile %q", tc.version, s.Image.Build, want)
		}
		if got := s.Platform.Docker.RouterHosts(Service, gateEnv); !slices.Equal(got, []string{"127.0.0.1"}) || prod.URL != "http://127.0.0.1:8080/" {
			t.Errorf("%s: production hosts %v url %q, want 127.0.0.1 and http://127.0.0.1:8080/", tc.version, got, prod.URL)
		}
	}
}
