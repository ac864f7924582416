package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/dockertest"
)

// TestDemoDocker runs `ferry demo --platform docker --exit` on the host's engine: both releases succeed, the
// output names the platform and the router's URL, and nothing the demo made is left on the engine.
func TestDemoDocker(t *testing.T) {
	clearEnv(t)
	eng := dockertest.Engine(t)
	dockertest.Exclusive(t, "demo-docker")
	stdout, stderr, code := ferry(t, "demo", "--port", "0", "--ui-port", "-1", "--exit", "--approve-after", "0s", "--platform", "docker")
	if code != exitOK {
		t.Fatalf("ferry demo exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"platform: docker (the Docker engine at ",
		"the router serves production at http://127.0.0.1:",
		"demo-shop 0.9.0 succeeded: production serves it at http://127.0.0.1:",
		"demo-bot approved production\n",
		"demo-shop 1.0.0: production canary, step 2/3, weight 50%",
		"demo-shop 1.0.0 succeeded\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	demoLeftovers(t, eng)
}

// demoLeftovers fails the test for any container or image of demo-shop on the engine.
func demoLeftovers(t *testing.T, eng *docker.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cts, err := eng.API().ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", docker.LabelService+"=demo-shop"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cts {
		t.Errorf("container %s (%s, %s) is left behind", c.Names, c.Image, c.State)
	}
	imgs, err := eng.API().ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		for _, ref := range append(img.RepoTags, img.RepoDigests...) {
			if strings.Contains(ref, "/demo-shop:") || strings.Contains(ref, "/demo-shop@") {
				t.Errorf("image %s is left behind", ref)
			}
		}
	}
}

func TestDemoPlatformFlag(t *testing.T) {
	clearEnv(t)
	_, stderr, code := ferry(t, "demo", "--port", "0", "--ui-port", "-1", "--exit", "--platform", "kubernetes")
	if code != exitRejected || !strings.Contains(stderr, `--platform is "kubernetes", want auto, exec or docker`) {
		t.Errorf("got %d %q, want %d and the flag named", code, stderr, exitRejected)
	}
	// An engine that cannot answer: --platform docker fails and says why, where auto would fall back to exec.
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
	_, stderr, code = ferry(t, "demo", "--port", "0", "--ui-port", "-1", "--exit", "--platform", "docker")
	if code == exitOK || !strings.Contains(stderr, "demo on docker: docker engine: ") {
		t.Errorf("--platform docker without an engine: got %d %q, want a failure naming the engine", code, stderr)
	}
}
