package docker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/client"
)

// fakeBuilder is an engine that answers each POST /build with the next of its streams and records whether the
// request asked for no cache. It is a unit-test fake: the real engine's behaviour is covered in docker_test.go.
type fakeBuilder struct {
	mu      sync.Mutex
	streams []string
	noCache []bool
}

func (f *fakeBuilder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/build") {
		http.NotFound(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body) // the build context
	f.mu.Lock()
	n := len(f.noCache)
	f.noCache = append(f.noCache, r.URL.Query().Get("nocache") == "1")
	f.mu.Unlock()
	if n >= len(f.streams) {
		http.Error(w, "unexpected build", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, f.streams[n])
}

func fakeBuild(t *testing.T, streams ...string) (*fakeBuilder, string, []string, error) {
	t.Helper()
	f := &fakeBuilder{streams: streams}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	api, err := client.NewClientWithOpts(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithVersion("1.43"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var lines []string
	c := &Client{api: api}
	id, err := c.Build(context.Background(), BuildRequest{ContextDir: dir}, func(l string) { lines = append(lines, l) })
	return f, id, lines, err
}

const lostLayer = `{"stream":"Step 1/2 : FROM scratch\n"}
{"errorDetail":{"message":"failed to get digest sha256:5d1b: open /engine/imagedb/content/sha256/5d1b: no such file or directory"},"error":"failed to get digest sha256:5d1b: open /engine/imagedb/content/sha256/5d1b: no such file or directory"}
`

func TestBuildRetriesWithoutCacheWhenALayerIsRemoved(t *testing.T) {
	const id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f, got, lines, err := fakeBuild(t, lostLayer, `{"stream":"Step 1/2 : FROM scratch\n"}
{"aux":{"ID":"`+id+`"}}
`)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got != id {
		t.Errorf("ID = %q, want %q", got, id)
	}
	if want := []bool{false, true}; !slices.Equal(f.noCache, want) {
		t.Errorf("builds asked nocache %v, want %v", f.noCache, want)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "building again without the cache") {
		t.Errorf("the retry was not reported; lines: %q", lines)
	}
}

func TestBuildDoesNotRetryItsOwnFailure(t *testing.T) {
	f, _, _, err := fakeBuild(t, `{"errorDetail":{"message":"COPY failed: file not found in build context"},"error":"COPY failed: file not found in build context"}
`)
	var berr *BuildError
	if !errors.As(err, &berr) || !strings.Contains(berr.Message, "COPY failed") {
		t.Fatalf("err = %v, want a *BuildError about COPY", err)
	}
	if len(f.noCache) != 1 {
		t.Errorf("%d builds, want 1", len(f.noCache))
	}
}

func TestBuildRetriesOnlyOnce(t *testing.T) {
	f, _, _, err := fakeBuild(t, lostLayer, lostLayer)
	var berr *BuildError
	if !errors.As(err, &berr) || !lostCachedLayer(berr.Message) {
		t.Fatalf("err = %v, want the second lost-layer *BuildError", err)
	}
	if len(f.noCache) != 2 {
		t.Errorf("%d builds, want 2", len(f.noCache))
	}
}

func TestLostCachedLayer(t *testing.T) {
	for msg, want := range map[string]bool{
		"failed to get digest sha256:ab: open /x/sha256/ab: no such file or directory": true,
		"No such image: sha256:abcdef":                                true,
		"failed to register layer: layer does not exist sha256:1234":  true,
		"COPY failed: stat app: no such file or directory":            false,
		"The command '/bin/sh -c make' returned a non-zero code: 2":   false,
		"pull access denied for sha256:ab, repository does not exist": false,
	} {
		if got := lostCachedLayer(msg); got != want {
			t.Errorf("lostCachedLayer(%q) = %v, want %v", msg, got, want)
		}
	}
}
