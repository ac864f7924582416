package docker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	ocireg "github.com/google/go-containerregistry/pkg/registry"

	"github.com/ferryhq/ferry/internal/registry"
)

// demoBinary is the static demo service built once for the package's tests; buildErr says why it is missing.
var demoBinary, buildErr = "", error(nil)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-docker-test-")
	if err != nil {
		log.Fatal(err)
	}
	demoBinary = filepath.Join(dir, "demoapp")
	cmd := exec.Command("go", "build", "-o", demoBinary, "../../testdata/demoapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("build the demo service: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// engine returns a client of the host's Docker engine. Without an engine the test fails under CI=true and is
// skipped otherwise.
func engine(t *testing.T) *Client {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	c, err := New(os.Getenv("DOCKER_HOST"))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = c.API().Ping(ctx)
	}
	if err != nil {
		msg := fmt.Sprintf("no Docker engine (set DOCKER_HOST or start dockerd): %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func uniqueID(t *testing.T) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

// testRegistry serves an in-process OCI registry on loopback, which the engine pushes to over plain HTTP.
func testRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(ocireg.New(ocireg.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// buildContext writes a build context holding the demo binary and the given Dockerfile.
func buildContext(t *testing.T, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	bin, err := os.ReadFile(demoBinary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "demoapp"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cleanup removes every container and image labelled ferry.test=id, whatever the test left behind.
func cleanup(t *testing.T, c *Client, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f := filters.NewArgs(filters.Arg("label", "ferry.service=svc-"+id))
		cts, err := c.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, ct := range cts {
			if err := c.api.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true}); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		imgs, err := c.api.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "ferry.test="+id))})
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, img := range imgs {
			if _, err := c.api.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}

const demoDockerfile = "FROM scratch\nCOPY demoapp /demoapp\nEXPOSE 8080\nENTRYPOINT [\"/demoapp\"]\n"

func ids(cts []Container) []string {
	out := make([]string, len(cts))
	for i, ct := range cts {
		out[i] = ct.ID
	}
	return out
}

// TestLifecycle builds an image FROM scratch, pushes it, runs and reconciles replicas, and removes them.
func TestLifecycle(t *testing.T) {
	c := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := uniqueID(t)
	cleanup(t, c, id)
	repo := testRegistry(t) + "/ferry-test-" + id
	svc := "svc-" + id

	var lines []string
	imageID, err := c.Build(ctx, BuildRequest{
		ContextDir: buildContext(t, demoDockerfile),
		Labels:     map[string]string{"ferry.test": id},
	}, func(l string) { lines = append(lines, l) })
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if !strings.HasPrefix(imageID, "sha256:") {
		t.Fatalf("got image ID %q, want sha256:...", imageID)
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "COPY demoapp /demoapp") }) {
		t.Errorf("build output has no COPY step: %q", lines)
	}

	tags := Tags(repo, "1.0.0", "abc123")
	digest, err := c.TagAndPush(ctx, imageID, tags, nil)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	for _, tag := range tags {
		got, err := registry.Digest(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		if got != digest {
			t.Errorf("registry digest of %s: got %s, want %s", tag, got, digest)
		}
	}
	again, err := c.TagAndPush(ctx, imageID, tags, nil)
	if err != nil || again != digest {
		t.Fatalf("push again: got %s, %v; want %s", again, err, digest)
	}

	stable := Replicas{
		Service: svc, Env: "staging", Track: "stable", Version: "1.0.0",
		Image: repo + "@" + digest, Count: 2, Port: 8080,
		Vars:        map[string]string{"VERSION": "1.0.0", "PORT": "8080"},
		StopTimeout: 2 * time.Second,
	}
	first, err := c.Ensure(ctx, stable)
	if err != nil {
		t.Fatalf("ensure: %v", err)
	}
	if len(first) != 2 {
		t.Fatalf("got %d containers, want 2", len(first))
	}
	ready := ReadyCheck{Path: "/readyz", Interval: 200 * time.Millisecond, Timeout: time.Minute, Threshold: 2}
	if err := c.WaitReady(ctx, first, ready); err != nil {
		t.Fatal(err)
	}
	for _, ct := range first {
		if ct.Digest != digest || ct.Version != "1.0.0" || ct.Track != "stable" || !strings.HasPrefix(ct.Addr, "127.0.0.1:") {
			t.Errorf("got container %+v, want stable 1.0.0 %s on 127.0.0.1", ct, digest)
		}
		if page := get(t, "http://"+ct.Addr+"/"); !strings.Contains(page, "1.0.0") {
			t.Errorf("GET / on %s: got %q, want the version 1.0.0", ct.Name, page)
		}
	}

	second, err := c.Ensure(ctx, stable)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(second), ids(first)) {
		t.Errorf("ensure again: got containers %v, want the same %v", ids(second), ids(first))
	}

	stable.Count = 3
	third, err := c.Ensure(ctx, stable)
	if err != nil {
		t.Fatal(err)
	}
	if len(third) != 3 || !slices.Contains(ids(third), first[0].ID) || !slices.Contains(ids(third), first[1].ID) {
		t.Errorf("scale to 3: got containers %v, want %v and one more", ids(third), ids(first))
	}

	canary := stable
	canary.Track, canary.Version, canary.Count = "canary", "1.0.1", 1
	canary.Vars = map[string]string{"VERSION": "1.0.1", "PORT": "8080"}
	can, err := c.Ensure(ctx, canary)
	if err != nil {
		t.Fatal(err)
	}
	// A changed configuration with the same digest replaces the container.
	canary.Vars = map[string]string{"VERSION": "1.0.1", "PORT": "8080", "DEMO_LATENCY": "1ms"}
	can2, err := c.Ensure(ctx, canary)
	if err != nil {
		t.Fatal(err)
	}
	if len(can2) != 1 || can2[0].ID == can[0].ID {
		t.Errorf("changed config: got containers %v, want one new container replacing %v", ids(can2), ids(can))
	}

	// A new digest for a track replaces its containers.
	imageID2, err := c.Build(ctx, BuildRequest{
		ContextDir: buildContext(t, demoDockerfile+"LABEL build=2\n"),
		Labels:     map[string]string{"ferry.test": id},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	digest2, err := c.TagAndPush(ctx, imageID2, Tags(repo, "1.0.2", ""), nil)
	if err != nil || digest2 == digest {
		t.Fatalf("push a second image: got %s, %v; want a digest other than %s", digest2, err, digest)
	}
	canary.Image, canary.Version = repo+"@"+digest2, "1.0.2"
	can3, err := c.Ensure(ctx, canary)
	if err != nil {
		t.Fatal(err)
	}
	if len(can3) != 1 || can3[0].ID == can2[0].ID || can3[0].Digest != digest2 {
		t.Errorf("new digest: got %+v, want one new container of %s", can3, digest2)
	}

	// A container that stopped is replaced.
	if err := c.api.ContainerStop(ctx, third[0].ID, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	fourth, err := c.Ensure(ctx, stable)
	if err != nil {
		t.Fatal(err)
	}
	if len(fourth) != 3 || slices.Contains(ids(fourth), third[0].ID) {
		t.Errorf("after a stop: got containers %v, want 3 without %.12s", ids(fourth), third[0].ID)
	}

	tracks, err := c.Current(ctx, svc, "staging")
	if err != nil {
		t.Fatal(err)
	}
	want := []Track{
		{Track: "canary", Version: "1.0.2", Digest: digest2, Replicas: 1},
		{Track: "stable", Version: "1.0.0", Digest: digest, Replicas: 3},
	}
	if !slices.Equal(tracks, want) {
		t.Errorf("current: got %+v, want %+v", tracks, want)
	}

	stable.Count = 1
	fifth, err := c.Ensure(ctx, stable)
	if err != nil {
		t.Fatal(err)
	}
	if len(fifth) != 1 || !slices.Contains(ids(fourth), fifth[0].ID) {
		t.Errorf("scale to 1: got containers %v, want one of %v", ids(fifth), ids(fourth))
	}
	if all, err := c.List(ctx, svc, "staging"); err != nil || len(all) != 2 {
		t.Errorf("scale to 1: got %d containers (%v), want 2 in all", len(all), err)
	}

	n, err := c.Remove(ctx, svc, "staging", "", 2*time.Second)
	if err != nil || n != 2 {
		t.Fatalf("remove: got %d, %v; want 2 removed", n, err)
	}
	left, err := c.List(ctx, svc, "staging")
	if err != nil || len(left) != 0 {
		t.Fatalf("after remove: got %d containers (%v), want none", len(left), err)
	}
	if n, err := c.Remove(ctx, svc, "staging", "", time.Second); err != nil || n != 0 {
		t.Errorf("remove again: got %d, %v; want 0, nil", n, err)
	}
}

// TestWaitReadyTimeout runs a container whose readiness path answers 503 and expects a NotReadyError naming it.
func TestWaitReadyTimeout(t *testing.T) {
	c := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := uniqueID(t)
	cleanup(t, c, id)
	repo := testRegistry(t) + "/ferry-test-" + id
	imageID, err := c.Build(ctx, BuildRequest{
		ContextDir: buildContext(t, demoDockerfile),
		Labels:     map[string]string{"ferry.test": id},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := c.TagAndPush(ctx, imageID, Tags(repo, "2.0.0", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Without the image, the engine pulls it from the registry by digest.
	if _, err := c.api.ImageRemove(ctx, imageID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
		t.Fatal(err)
	}
	cts, err := c.Ensure(ctx, Replicas{
		Service: "svc-" + id, Env: "staging", Track: "stable", Version: "2.0.0",
		Image: repo + "@" + digest, Count: 1, Port: 8080,
		Vars:        map[string]string{"VERSION": "2.0.0", "PORT": "8080", "DEMO_READY_DELAY": "1h"},
		StopTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.WaitReady(ctx, cts, ReadyCheck{Path: "/readyz", Interval: 100 * time.Millisecond, Timeout: 2 * time.Second})
	var nr *NotReadyError
	if !errors.As(err, &nr) {
		t.Fatalf("got %v, want a NotReadyError", err)
	}
	if got := nr.Last[cts[0].Name]; !strings.Contains(got, "503") && !strings.Contains(got, "connection") {
		t.Errorf("got last result %q for %s, want a 503", got, cts[0].Name)
	}
}

// TestBuildFailure checks that a failing build returns the engine's message.
func TestBuildFailure(t *testing.T) {
	c := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := uniqueID(t)
	cleanup(t, c, id)
	_, err := c.Build(ctx, BuildRequest{
		ContextDir: buildContext(t, "FROM scratch\nCOPY no-such-file /x\n"),
		Labels:     map[string]string{"ferry.test": id},
	}, nil)
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want a BuildError", err)
	}
	if !strings.Contains(be.Message, "no-such-file") {
		t.Errorf("got message %q, want it to name no-such-file", be.Message)
	}
}

// TestEnsureRejects checks the inputs Ensure refuses before it touches any container.
func TestEnsureRejects(t *testing.T) {
	c := engine(t)
	ok := Replicas{Service: "s", Env: "e", Track: "stable", Image: "127.0.0.1:5000/app@sha256:" + strings.Repeat("a", 64), Count: 1, Port: 8080}
	for name, mutate := range map[string]func(*Replicas){
		"tag not digest": func(r *Replicas) { r.Image = "127.0.0.1:5000/app:1.0" },
		"no track":       func(r *Replicas) { r.Track = "" },
		"no port":        func(r *Replicas) { r.Port = 0 },
		"negative count": func(r *Replicas) { r.Count = -1 },
	} {
		r := ok
		mutate(&r)
		if _, err := c.Ensure(context.Background(), r); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := httpClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(b)
}
