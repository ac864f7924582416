// Package buildtest runs the artifact activities against the host's Docker engine and an in-process OCI
// registry on loopback. Without an engine the tests are skipped, and under CI=true they fail.
package buildtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	ocireg "github.com/google/go-containerregistry/pkg/registry"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/dockertest"
	"github.com/ferryhq/ferry/internal/registry"
	"github.com/ferryhq/ferry/internal/spec"
)

// root is an exec root holding the build context "demo": the demo service, built static, and a Dockerfile
// FROM scratch.
var root, setupErr = "", error(nil)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-buildtest-")
	if err != nil {
		log.Fatal(err)
	}
	root = dir
	setupErr = writeContext(filepath.Join(dir, "demo"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeContext(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "demoapp"), "../../../testdata/demoapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the demo service: %v\n%s", err, out)
	}
	dockerfile := "FROM scratch\nCOPY demoapp /demoapp\nEXPOSE 8080\nENTRYPOINT [\"/demoapp\"]\n"
	return os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644)
}

// engine returns a client of the host's Docker engine, failing without one under CI=true.
func engine(t *testing.T) *docker.Client {
	t.Helper()
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return dockertest.Engine(t)
}

// artifact returns the activities over the host's engine, and a fresh repository on an in-process registry.
func artifact(t *testing.T) (*activities.Artifact, string) {
	t.Helper()
	c := engine(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	repo := fmt.Sprintf("%s/ferry-buildtest-%x", dockertest.Registry(t), b)
	t.Cleanup(func() { removeImages(t, c, repo) })
	return &activities.Artifact{
		Engine: func(string) (activities.ImageEngine, error) { return docker.New(os.Getenv("DOCKER_HOST")) },
		Policy: &activities.ExecPolicy{Root: root},
	}, repo
}

// removeImages removes the images the tests tagged in repo, with the layers only they used.
func removeImages(t *testing.T, c *docker.Client, repo string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tag := range []string{"1.0.0", "sha-abc1234", "2.0.0", "sha-def5678", "3.0.0", "sha-fedcba9"} {
		_, _ = c.API().ImageRemove(ctx, repo+":"+tag, image.RemoveOptions{Force: true, PruneChildren: true})
	}
}

func request(repo, version, sha string) activities.BuildRequest {
	return activities.BuildRequest{Service: "demo", Version: version, GitSHA: sha, Repository: repo,
		Build: spec.Build{Context: "demo", Dockerfile: "Dockerfile"}}
}

func build(t *testing.T, env *testsuite.TestActivityEnvironment, a *activities.Artifact, req activities.BuildRequest) activities.ArtifactResult {
	t.Helper()
	v, err := env.ExecuteActivity(a.Build, req)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	var res activities.ArtifactResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// Build builds the demo service FROM scratch, pushes both tags to the registry and returns the digest the
// registry serves for them; Resolve finds the same digest; a second Build reuses the pushed image.
func TestBuildPushResolve(t *testing.T) {
	a, repo := artifact(t)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.SetTestTimeout(5 * time.Minute)
	env.RegisterActivity(a)

	res := build(t, env, a, request(repo, "1.0.0", "abc1234"))
	if !strings.HasPrefix(res.Digest, "sha256:") || res.Image != repo+"@"+res.Digest || res.Reused {
		t.Fatalf("got %+v, want %s@sha256:... built", res, repo)
	}
	ctx := context.Background()
	for _, tag := range []string{repo + ":1.0.0", repo + ":sha-abc1234"} {
		if got, err := registry.Digest(ctx, tag); err != nil || got != res.Digest {
			t.Errorf("registry digest of %s: got %s, %v; want %s", tag, got, err, res.Digest)
		}
	}

	v, err := env.ExecuteActivity(a.Resolve, activities.ResolveRequest{Image: repo + ":1.0.0"})
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	var resolved activities.ArtifactResult
	if err := v.Get(&resolved); err != nil {
		t.Fatal(err)
	}
	if resolved.Image != res.Image || resolved.Digest != res.Digest {
		t.Errorf("resolve: got %s, want %s", resolved.Image, res.Image)
	}

	again := build(t, env, a, request(repo, "1.0.0", "abc1234"))
	if again.Digest != res.Digest || !again.Reused {
		t.Errorf("build again: got %+v, want digest %s reused", again, res.Digest)
	}

	_, err = env.ExecuteActivity(a.Resolve, activities.ResolveRequest{Image: repo + ":9.9.9"})
	if err == nil || !strings.Contains(err.Error(), "the registry does not have it") {
		t.Errorf("resolve a missing tag: got %v, want the registry does not have it", err)
	}
}

// A push cancelled midway (as by a worker crash), then repeated by the activity, converges: both tags name the
// activity's digest, which is the digest of the image whose push was interrupted.
func TestInterruptedPushRepeats(t *testing.T) {
	a, repo := artifact(t)
	c := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The image the activity builds: the same context and labels, so the engine's cache gives the same image.
	imageID, err := c.Build(ctx, docker.BuildRequest{ContextDir: filepath.Join(root, "demo"), Labels: map[string]string{
		"org.opencontainers.image.revision": "def5678", "org.opencontainers.image.version": "2.0.0"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tags := docker.Tags(repo, "2.0.0", "def5678")

	// Cancel as soon as the engine reports progress: the push is under way.
	pushCtx, stop := context.WithCancel(ctx)
	_, err = c.TagAndPush(pushCtx, imageID, tags, func(string) { stop() })
	stop()
	if err == nil {
		t.Log("the push finished before the cancellation reached it; repeating it still must give one digest")
	} else if !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "cancel") {
		t.Logf("interrupted push: %v", err)
	}

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.SetTestTimeout(5 * time.Minute)
	env.RegisterActivity(a)
	res := build(t, env, a, request(repo, "2.0.0", "def5678"))
	for _, tag := range tags {
		if got, err := registry.Digest(ctx, tag); err != nil || got != res.Digest {
			t.Errorf("registry digest of %s: got %s, %v; want %s", tag, got, err, res.Digest)
		}
	}
	direct, err := c.TagAndPush(ctx, imageID, tags, nil)
	if err != nil || direct != res.Digest {
		t.Errorf("push again: got %s, %v; want %s", direct, err, res.Digest)
	}
}

// A registry that requires a login gets the worker's credential, on push through the engine and on resolve.
func TestBuildLogsIn(t *testing.T) {
	engine(t)
	reg := ocireg.New(ocireg.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pw, ok := r.BasicAuth(); !ok || user != "ci" || pw != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "login required", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	a, _ := artifact(t)
	repo := host + "/ferry-buildtest-login"
	t.Cleanup(func() { removeImages(t, engine(t), repo) })
	var asked []string
	a.Login = func(h string) (registry.Login, error) {
		asked = append(asked, h)
		return registry.Login{Username: "ci", Password: "s3cret"}, nil
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.SetTestTimeout(5 * time.Minute)
	env.RegisterActivity(a)

	res := build(t, env, a, request(repo, "1.0.0", "abc1234"))
	if got, err := registry.Digest(context.Background(), repo+":1.0.0", registry.Login{Username: "ci", Password: "s3cret"}); err != nil || got != res.Digest {
		t.Errorf("registry digest: got %s, %v; want %s", got, err, res.Digest)
	}
	if _, err := registry.Digest(context.Background(), repo+":1.0.0"); err == nil {
		t.Error("an anonymous resolve succeeded; the test registry does not require a login")
	}
	v, err := env.ExecuteActivity(a.Resolve, activities.ResolveRequest{Image: repo + ":1.0.0"})
	var resolved activities.ArtifactResult
	if err == nil {
		err = v.Get(&resolved)
	}
	if err != nil || resolved.Digest != res.Digest {
		t.Errorf("resolve: got %+v, %v; want digest %s", resolved, err, res.Digest)
	}
	if len(asked) == 0 || asked[0] != host {
		t.Errorf("got logins asked for %v, want %s", asked, host)
	}
}
