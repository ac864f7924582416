package activities

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocireg "github.com/google/go-containerregistry/pkg/registry"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/registry"
	"github.com/ferryhq/ferry/internal/spec"
)

// fakeEngine is an ImageEngine that records what it is asked and answers as told.
type fakeEngine struct {
	builds   []docker.BuildRequest
	pushes   [][]string
	logins   []registry.Login
	lines    []string // printed during the build
	buildErr error
	pushErr  error
	digest   string
	closed   bool
}

func (f *fakeEngine) Build(_ context.Context, req docker.BuildRequest, onLine func(string)) (string, error) {
	f.builds = append(f.builds, req)
	for _, l := range f.lines {
		onLine(l)
	}
	return "sha256:image", f.buildErr
}

func (f *fakeEngine) TagAndPushAs(_ context.Context, _ string, refs []string, login registry.Login, _ func(string)) (string, error) {
	f.pushes = append(f.pushes, refs)
	f.logins = append(f.logins, login)
	return f.digest, f.pushErr
}

func (f *fakeEngine) Close() error { f.closed = true; return nil }

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// artifactFixture is an Artifact over a fake engine, with an exec root that holds a build context "app".
func artifactFixture(t *testing.T) (*Artifact, *fakeEngine, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "app", "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{digest: testDigest}
	a := &Artifact{
		Engine: func(host string) (ImageEngine, error) {
			if host != "" {
				return nil, errors.New("unknown host")
			}
			return eng, nil
		},
		Login:  func(string) (registry.Login, error) { return registry.Login{Username: "ci", Password: "hunter2"}, nil },
		Policy: &ExecPolicy{Root: root},
		Redact: RedactFunc(func(s string) string { return strings.ReplaceAll(s, "hunter2", "[redacted]") }),
	}
	return a, eng, root
}

func buildRequest(context string) BuildRequest {
	// Nothing listens on port 1: the registry check finds no image, so the build runs.
	return BuildRequest{Service: "checkout", Version: "1.4.2", GitSHA: "abc1234", Repository: "127.0.0.1:1/checkout",
		Build: spec.Build{Context: context, Dockerfile: "Dockerfile"}}
}

// Build builds the context under the exec root, pushes both tags with the worker's login and returns the digest.
func TestBuildPushesBothTags(t *testing.T) {
	a, eng, root := artifactFixture(t)
	eng.lines = []string{"Step 1/1 : FROM scratch", "token hunter2"}
	env := newActivityEnv(a)
	v, err := env.ExecuteActivity(a.Build, buildRequest("app"))
	if err != nil {
		t.Fatal(err)
	}
	var res ArtifactResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	want := ArtifactResult{Image: "127.0.0.1:1/checkout@" + testDigest, Digest: testDigest,
		Tags: []string{"127.0.0.1:1/checkout:1.4.2", "127.0.0.1:1/checkout:sha-abc1234"}}
	if res.Image != want.Image || res.Digest != want.Digest || strings.Join(res.Tags, " ") != strings.Join(want.Tags, " ") || res.Reused {
		t.Errorf("got %+v, want %+v", res, want)
	}
	if len(eng.builds) != 1 || eng.builds[0].ContextDir != filepath.Join(root, "app") || eng.builds[0].Dockerfile != "Dockerfile" {
		t.Fatalf("got builds %+v, want one of %s", eng.builds, filepath.Join(root, "app"))
	}
	if got := eng.builds[0].Labels["org.opencontainers.image.revision"]; got != "abc1234" {
		t.Errorf("got revision label %q, want abc1234", got)
	}
	if len(eng.logins) != 1 || eng.logins[0].Username != "ci" {
		t.Errorf("got logins %+v, want the worker's", eng.logins)
	}
	if !eng.closed {
		t.Error("the engine client was not closed")
	}
}

// What workflow input may ask for stays inside the worker's exec root.
func TestBuildContextStaysInTheRoot(t *testing.T) {
	a, eng, root := artifactFixture(t)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	env := newActivityEnv(a)
	for _, tt := range []struct {
		context, dockerfile, msg string
	}{
		{"../..", "Dockerfile", "leaves the worker's exec root"},
		{"/etc", "Dockerfile", "leaves the worker's exec root"},
		{"link", "Dockerfile", "through a symbolic link"},
		{"missing", "Dockerfile", "image.build.context"},
		{"app", "../../etc/passwd", "is not a path inside the build context"},
		{"app", "/etc/passwd", "is not a path inside the build context"},
	} {
		req := buildRequest(tt.context)
		req.Build.Dockerfile = tt.dockerfile
		_, err := env.ExecuteActivity(a.Build, req)
		assertFailure(t, err, ErrTypeInvalidSpec, false, tt.msg)
	}
	if len(eng.builds) != 0 {
		t.Errorf("got builds %+v, want none", eng.builds)
	}

	a.Policy = nil
	_, err := env.ExecuteActivity(a.Build, buildRequest("app"))
	assertFailure(t, err, ErrTypeInvalidSpec, false, "no absolute exec root")
}

// A failed build is final and says why, redacted; a failed push is retried; coordinates are checked again.
func TestBuildFailures(t *testing.T) {
	a, eng, _ := artifactFixture(t)
	env := newActivityEnv(a)

	eng.buildErr = &docker.BuildError{Message: "COPY failed: file not found (token hunter2)"}
	_, err := env.ExecuteActivity(a.Build, buildRequest("app"))
	app := assertFailure(t, err, ErrTypeBuildFailed, false, "image.build: COPY failed: file not found")
	if strings.Contains(app.Message(), "hunter2") {
		t.Errorf("the error %q is not redacted", app.Message())
	}

	eng.buildErr, eng.pushErr = nil, errors.New("docker: push: connection reset")
	_, err = env.ExecuteActivity(a.Build, buildRequest("app"))
	assertRetryable(t, err)

	req := buildRequest("app")
	req.Version = "1.4.2 --rm"
	_, err = env.ExecuteActivity(a.Build, req)
	assertFailure(t, err, ErrTypeInvalidSpec, false, "version")

	req = buildRequest("app")
	req.Host = "elsewhere"
	_, err = env.ExecuteActivity(a.Build, req)
	assertFailure(t, err, ErrTypeInvalidSpec, false, `docker host "elsewhere"`)

	a.Login = func(string) (registry.Login, error) {
		return registry.Login{}, errors.New("environment variable X is not set")
	}
	_, err = env.ExecuteActivity(a.Build, buildRequest("app"))
	assertFailure(t, err, ErrTypeInvalidSpec, false, "registry 127.0.0.1:1: the worker's credential: environment variable X is not set")
}

// testRegistry serves an in-process OCI registry on loopback and returns its host.
func testRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(ocireg.New(ocireg.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Resolve answers with the registry's digest; a missing image is final, an unreachable registry is retried.
func TestResolveFailures(t *testing.T) {
	a, _, _ := artifactFixture(t)
	a.Login = nil
	env := newActivityEnv(a)
	host := testRegistry(t)

	_, err := env.ExecuteActivity(a.Resolve, ResolveRequest{Image: host + "/checkout:1.4.2"})
	assertFailure(t, err, ErrTypeImageNotFound, false, "image "+host+"/checkout:1.4.2: the registry does not have it")
	_, err = env.ExecuteActivity(a.Resolve, ResolveRequest{Image: "not a reference"})
	assertFailure(t, err, ErrTypeInvalidSpec, false, "not a reference")
	_, err = env.ExecuteActivity(a.Resolve, ResolveRequest{Image: "127.0.0.1:1/checkout:1.4.2"})
	assertRetryable(t, err)
}

// The platform's Deploy deploys the release's digest and nothing else, before any driver runs.
func TestDeployRefusesAnotherDigest(t *testing.T) {
	drv := &recordingDriver{}
	p := &Platform{Drivers: Drivers{"other": drv}}
	env := newActivityEnv(p)
	other := "sha256:" + strings.Repeat("f", 64)
	for _, tt := range []struct {
		image, msg string
	}{
		{"registry.test/checkout@" + other, "has digest " + other + ", but the release's digest is " + testDigest},
		{"registry.test/checkout:1.4.2", "is not pinned to a digest"},
	} {
		vars := testVars
		vars.Image = tt.image
		_, err := env.ExecuteActivity(p.Deploy, PlatformRequest{Kind: "other", Digest: testDigest, Vars: vars})
		assertFailure(t, err, ErrTypeDigestMismatch, false, tt.msg)
	}
	if len(drv.ops) != 0 {
		t.Fatalf("got %v on the driver, want nothing", drv.ops)
	}

	vars := testVars
	vars.Image = "registry.test/checkout@" + testDigest
	if _, err := env.ExecuteActivity(p.Deploy, PlatformRequest{Kind: "other", Digest: testDigest, Vars: vars}); err != nil {
		t.Fatalf("deploy of the release's digest: %v", err)
	}
	// A release that pins no digest deploys its image as it always did.
	if _, err := env.ExecuteActivity(p.Deploy, PlatformRequest{Kind: "other", Vars: testVars}); err != nil {
		t.Fatalf("deploy without a digest: %v", err)
	}
	if len(drv.ops) != 2 {
		t.Errorf("got %v on the driver, want two deploys", drv.ops)
	}
}
