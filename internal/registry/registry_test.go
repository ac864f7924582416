package registry

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ocireg "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// push writes a random image to ref on the in-process registry and returns its digest.
func push(t *testing.T, ref string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestDigest(t *testing.T) {
	srv := httptest.NewServer(ocireg.New(ocireg.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	want := push(t, host+"/app:1.0")
	ctx := context.Background()

	got, err := Digest(ctx, host+"/app:1.0")
	if err != nil || got != want {
		t.Fatalf("Digest(tag): got %s, %v; want %s", got, err, want)
	}
	got, err = Digest(ctx, host+"/app@"+want)
	if err != nil || got != want {
		t.Fatalf("Digest(digest): got %s, %v; want %s", got, err, want)
	}
	pinned, err := Pinned(ctx, host+"/app:1.0")
	if err != nil || pinned != host+"/app@"+want {
		t.Fatalf("Pinned: got %s, %v; want %s", pinned, err, host+"/app@"+want)
	}

	for _, ref := range []string{host + "/app:2.0", host + "/other:1.0", "not a reference", "127.0.0.1:1/app:1.0"} {
		if got, err := Digest(ctx, ref); err == nil {
			t.Errorf("Digest(%q): got %s, want an error", ref, got)
		}
	}
}
