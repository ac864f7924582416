package demo

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/dockertest"
	"github.com/ferryhq/ferry/worker"
	"github.com/ferryhq/ferry/workflows"
)

// TestRunOnDocker releases the demo on the host's engine with a real worker on the embedded server, while a
// reader polls the production URL the demo prints: the page changes from Previous to Version during the canary,
// ends on Version, and Close leaves no container or image of the demo behind.
func TestRunOnDocker(t *testing.T) {
	eng := dockertest.Engine(t)
	dockertest.Exclusive(t, "demo-docker")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	dk, err := StartDocker(ctx, DockerOptions{Host: os.Getenv("DOCKER_HOST"), Dir: dir, Install: "demo-docker"})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = dk.Close(context.Background())
		}
	}()

	srv, err := devserver.Start(ctx, devserver.Options{UIPort: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := worker.Dial(ctx, worker.DialOptions{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := worker.Config{Router: worker.RouterConfig{Admin: dk.Admin, Token: worker.Secret(dk.Token)}}
	w := worker.New(c, worker.Options{TaskQueue: "demo-docker", Logger: quiet, Config: cfg, DockerHost: os.Getenv("DOCKER_HOST"),
		Exec: activities.ExecPolicy{Root: dir, Allow: []string{filepath.Join(dir, "**")}}})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			w.Stop()
		}
	}()

	// The reader: which versions production's page showed, in order of first sight.
	var (
		mu   sync.Mutex
		seen []string
	)
	done := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		hc := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if v := pageVersion(hc, dk.URL("production")); v != "" {
				mu.Lock()
				if len(seen) == 0 || seen[len(seen)-1] != v {
					seen = append(seen, v)
				}
				mu.Unlock()
			}
		}
	}()
	res, err := Run(ctx, Options{Client: c, TaskQueue: "demo-docker", Identity: "tester", Out: io.Discard, Dir: dir, Docker: dk})
	close(done)
	<-read
	if err != nil || res.State != workflows.StateSucceeded || res.Version != Version {
		t.Fatalf("got %+v %v, want %s succeeded", res, err, Version)
	}
	// The canary at 10 % and 50 % alternates the two versions; what matters is that both served, Previous first.
	if len(seen) < 2 || seen[0] != Previous || !slices.Contains(seen, Version) {
		t.Errorf("production's page showed %v, want %s, then %s", seen, Previous, Version)
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	for range 20 {
		if v := pageVersion(hc, dk.URL("production")); v != Version {
			t.Fatalf("after the release production's page shows %q, want %s", v, Version)
		}
	}

	w.Stop()
	stopped = true
	if err := dk.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	closed = true
	cts, err := eng.API().ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", docker.LabelService+"="+Service))})
	if err != nil {
		t.Fatal(err)
	}
	if len(cts) != 0 {
		t.Errorf("%d containers of %s left after Close", len(cts), Service)
	}
	if n, err := eng.RemoveImages(ctx, dk.repository()); err != nil || n != 0 {
		t.Errorf("images of %s left after Close: %d (%v)", dk.repository(), n, err)
	}
	if pageVersion(hc, dk.URL("production")) != "" {
		t.Error("the router still answers after Close")
	}
}

// pageVersion returns the X-Version of a 200 answer from url, or "".
func pageVersion(hc *http.Client, url string) string {
	resp, err := hc.Get(url)
	if err != nil {
		return ""
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return resp.Header.Get("X-Version")
}
