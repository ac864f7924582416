package docker

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	ocireg "github.com/google/go-containerregistry/pkg/registry"

	"github.com/ferryhq/ferry/internal/registry"
)

// TestPullLogsIn runs a replica whose image sits in a registry that requires a login and that the engine does
// not hold: without logins the pull is refused, with UseLogins the engine pulls with the credential.
func TestPullLogsIn(t *testing.T) {
	c := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := uniqueID(t)
	cleanup(t, c, id)
	reg := ocireg.New(ocireg.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pw, ok := r.BasicAuth(); !ok || user != "deploy" || pw != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "login required", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	repo := host + "/ferry-test-" + id
	login := registry.Login{Username: "deploy", Password: "s3cret"}

	imageID, err := c.Build(ctx, BuildRequest{ContextDir: buildContext(t, demoDockerfile), Labels: map[string]string{"ferry.test": id}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := c.TagAndPushAs(ctx, imageID, []string{repo + ":1.0.0"}, login, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The engine must pull: it holds the image no longer.
	if _, err := c.api.ImageRemove(ctx, imageID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
		t.Fatal(err)
	}
	r := Replicas{Service: "svc-" + id, Env: "staging", Track: "stable", Version: "1.0.0", Image: repo + "@" + digest,
		Count: 1, Port: 8080, Vars: map[string]string{"VERSION": "1.0.0"}, StopTimeout: time.Second}

	if _, err := c.Ensure(ctx, r); err == nil || !strings.Contains(err.Error(), "pull "+r.Image) {
		t.Fatalf("ensure without logins: got %v, want the pull refused", err)
	}
	var asked []string
	c.UseLogins(func(h string) (registry.Login, error) {
		asked = append(asked, h)
		if h != host {
			return registry.Login{}, nil
		}
		return login, nil
	})
	cts, err := c.Ensure(ctx, r)
	if err != nil || len(cts) != 1 {
		t.Fatalf("ensure with the login: got %v, %v; want one container", cts, err)
	}
	if len(asked) != 1 || asked[0] != host {
		t.Errorf("got logins asked for %v, want [%s]", asked, host)
	}
}
