// Package dockertest gives tests outside internal/docker the host's Docker engine and an OCI registry on
// loopback. Without an engine a test fails under CI=true, where one must be, and is skipped otherwise.
package dockertest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ocireg "github.com/google/go-containerregistry/pkg/registry"

	"github.com/ferryhq/ferry/internal/docker"
)

// Engine returns a client of the engine at DOCKER_HOST (the default socket when unset), closed when t ends.
func Engine(t testing.TB) *docker.Client {
	t.Helper()
	c, err := docker.New(os.Getenv("DOCKER_HOST"))
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

// Registry serves an in-process OCI registry on loopback until t ends and returns its host:port. The engine
// pushes to and pulls from it over plain HTTP, as it does for every loopback registry.
func Registry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(ocireg.New(ocireg.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Exclusive holds an exclusive lock named name, shared by every test process on this machine, until t ends. Tests
// that run `ferry demo` on Docker take it. Their containers no longer meet (each demo's worker has its own task
// queue, and so its own install label), but their images do: two demos build the same images of the service
// demo-shop, to which the build cache can give one image ID, each demo's cleanup removes its images by ID (and
// so the other's tags with them), and the tests' checks for leftovers look for any demo-shop image on the engine.
func Exclusive(t testing.TB, name string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "ferry-test-"+name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
