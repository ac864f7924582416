package activities

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/spec"
)

// noEngine is a DockerEngine that must not be reached.
type noEngine struct{ t *testing.T }

func (e noEngine) fail() error { e.t.Error("the engine was called"); return errors.New("called") }
func (e noEngine) Ensure(context.Context, docker.Replicas) ([]docker.Container, error) {
	return nil, e.fail()
}
func (e noEngine) Roll(context.Context, docker.Replicas, docker.RollOptions) ([]docker.Container, error) {
	return nil, e.fail()
}
func (e noEngine) StartBeside(context.Context, docker.Replicas) ([]docker.Container, error) {
	return nil, e.fail()
}
func (e noEngine) Prune(context.Context, string, string, string, func(docker.Container) bool, time.Duration) (int, error) {
	return 0, e.fail()
}
func (e noEngine) List(context.Context, string, string) ([]docker.Container, error) {
	return nil, e.fail()
}
func (e noEngine) Remove(context.Context, string, string, string, time.Duration) (int, error) {
	return 0, e.fail()
}
func (e noEngine) WaitReady(context.Context, []docker.Container, docker.ReadyCheck) error {
	return e.fail()
}
func (e noEngine) EngineID(context.Context) (string, error) { return "", e.fail() }

// TestDockerDriverRefuses checks the failures no retry can fix: each is a non-retryable InvalidSpec that says
// what is wrong, and the engine is never reached.
func TestDockerDriverRefuses(t *testing.T) {
	pinned := "127.0.0.1:5000/app@sha256:" + strings.Repeat("a", 64)
	vars := TemplateVars{Service: "app", Env: "staging", Version: "1.0.0", Image: pinned, Track: "stable",
		Replicas: 1, Strategy: spec.StrategyRolling}
	tests := []struct {
		name string
		d    *Docker
		in   PlatformRequest
		op   func(*Docker, PlatformRequest) error
		want string
	}{
		{"unknown host", &Docker{Engines: map[string]DockerEngine{"local": noEngine{t}, "edge": noEngine{t}}},
			PlatformRequest{Kind: "docker", Platform: spec.Platform{Docker: &spec.DockerPlatform{Host: "prod", Port: 8080}}, Vars: vars},
			func(d *Docker, in PlatformRequest) error { return d.Deploy(context.Background(), in) },
			`platform.docker.host: "prod" is not a Docker host of this worker (it knows: edge, local)`},
		{"no router", &Docker{Engines: map[string]DockerEngine{"local": noEngine{t}}},
			PlatformRequest{Kind: "docker", Platform: spec.Platform{Docker: &spec.DockerPlatform{Host: "local", Port: 8080}}, Vars: vars},
			func(d *Docker, in PlatformRequest) error { return d.Deploy(context.Background(), in) },
			"needs a traffic router, and this worker has none"},
		{"no section", &Docker{Engines: map[string]DockerEngine{"local": noEngine{t}}},
			PlatformRequest{Kind: "docker", Vars: vars},
			func(d *Docker, in PlatformRequest) error { return d.Ready(context.Background(), in) },
			"no platform.docker section"},
		{"tag without resolver", &Docker{Engines: map[string]DockerEngine{"local": noEngine{t}}},
			PlatformRequest{Kind: "docker", Platform: spec.Platform{Docker: &spec.DockerPlatform{Port: 8080}},
				Vars: TemplateVars{Service: "app", Env: "staging", Version: "1.0.0", Image: "127.0.0.1:5000/app:1.0.0", Track: "canary"}},
			func(d *Docker, in PlatformRequest) error { return d.Deploy(context.Background(), in) },
			"is not pinned to a digest"},
		{"rollback without stable", &Docker{Engines: map[string]DockerEngine{"local": noEngine{t}}},
			PlatformRequest{Kind: "docker", Platform: spec.Platform{Docker: &spec.DockerPlatform{Port: 8080}}, Vars: vars},
			func(d *Docker, in PlatformRequest) error { return d.Rollback(context.Background(), in) },
			"rollback needs the stable version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op(tt.d, tt.in)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != ErrTypeInvalidSpec || !app.NonRetryable() {
				t.Fatalf("got %v, want a non-retryable %s", err, ErrTypeInvalidSpec)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err.Error(), tt.want)
			}
		})
	}
}

func TestRepository(t *testing.T) {
	for ref, want := range map[string]string{
		"127.0.0.1:5000/app:1.0":                "127.0.0.1:5000/app",
		"127.0.0.1:5000/app@sha256:abc":         "127.0.0.1:5000/app",
		"127.0.0.1:5000/team/app":               "127.0.0.1:5000/team/app",
		"registry.example.com/app:1@sha256:abc": "registry.example.com/app",
	} {
		if got := repository(ref); got != want {
			t.Errorf("repository(%q): got %q, want %q", ref, got, want)
		}
	}
}

// ensureEngine records the replicas Ensure is asked for.
type ensureEngine struct {
	noEngine
	got []docker.Replicas
}

func (e *ensureEngine) Ensure(_ context.Context, r docker.Replicas) ([]docker.Container, error) {
	e.got = append(e.got, r)
	return nil, nil
}

// TestDockerDeployCarriesLiveness checks that a canary's containers get the spec's liveness check (which
// their label carries to the supervisor), and that a spec without one gives none.
func TestDockerDeployCarriesLiveness(t *testing.T) {
	pinned := "127.0.0.1:5000/app@sha256:" + strings.Repeat("a", 64)
	vars := TemplateVars{Service: "app", Env: "staging", Version: "1.0.0", Image: pinned, Track: "canary", Replicas: 1, Strategy: spec.StrategyCanary}
	live := &spec.Liveness{Path: "/healthz", Interval: spec.Duration(3 * time.Second), Timeout: spec.Duration(time.Second), Retries: 4}
	for _, l := range []*spec.Liveness{live, nil} {
		eng := &ensureEngine{noEngine: noEngine{t}}
		d := &Docker{Engines: map[string]DockerEngine{"local": eng}}
		in := PlatformRequest{Kind: "docker", Platform: spec.Platform{Docker: &spec.DockerPlatform{Port: 8080, Liveness: l}}, Vars: vars}
		if err := d.Deploy(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if len(eng.got) != 1 {
			t.Fatalf("got %d Ensure calls, want 1", len(eng.got))
		}
		got := eng.got[0].Liveness
		switch {
		case l == nil && got != nil:
			t.Errorf("no liveness in the spec: got %+v, want none", *got)
		case l != nil && (got == nil || *got != docker.Liveness{Path: "/healthz", Interval: 3 * time.Second, Timeout: time.Second, Retries: 4}):
			t.Errorf("got liveness %+v, want the spec's", got)
		}
	}
}
