package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/probe"
	"github.com/ferryhq/ferry/internal/spec"
)

// labelEngine is a DockerEngine that lists fixed containers and records what else is asked of it.
type labelEngine struct {
	cts     []docker.Container
	ensured []docker.Replicas
	// id is the engine's ID; empty means "engine-a".
	id string
}

func (e *labelEngine) Ensure(_ context.Context, r docker.Replicas) ([]docker.Container, error) {
	e.ensured = append(e.ensured, r)
	return []docker.Container{{Track: r.Track, Version: r.Version, State: "running", Addr: "127.0.0.1:1"}}, nil
}
func (e *labelEngine) Roll(ctx context.Context, r docker.Replicas, o docker.RollOptions) ([]docker.Container, error) {
	cts, _ := e.Ensure(ctx, r)
	return cts, o.Serve(ctx, cts)
}
func (e *labelEngine) List(context.Context, string, string) ([]docker.Container, error) {
	return e.cts, nil
}
func (e *labelEngine) StartBeside(ctx context.Context, r docker.Replicas) ([]docker.Container, error) {
	return e.Ensure(ctx, r)
}
func (e *labelEngine) Prune(context.Context, string, string, string, func(docker.Container) bool, time.Duration) (int, error) {
	return 0, nil
}
func (e *labelEngine) Remove(context.Context, string, string, string, time.Duration) (int, error) {
	return 0, nil
}
func (e *labelEngine) WaitReady(context.Context, []docker.Container, docker.ReadyCheck) error {
	return nil
}
func (e *labelEngine) EngineID(context.Context) (string, error) {
	if e.id == "" {
		return "engine-a", nil
	}
	return e.id, nil
}

// routesRouter records the routings it is given.
type routesRouter struct{ set []Routes }

func (r *routesRouter) SetRoutes(_ context.Context, rt Routes) error {
	r.set = append(r.set, rt)
	return nil
}
func (r *routesRouter) Routes(context.Context, string, string) (Routes, bool, error) {
	return Routes{}, false, nil
}
func (r *routesRouter) RemoveRoutes(context.Context, string, string) error { return nil }
func (r *routesRouter) Hold(context.Context, string, string, time.Duration) error {
	return nil
}
func (r *routesRouter) Release(context.Context, string, string) error { return nil }

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func ct(track, version, digest, state string, port int) docker.Container {
	c := docker.Container{Track: track, Version: version, Digest: digest, State: state}
	if state == "running" {
		c.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	return c
}

func labelDriver(cts ...docker.Container) (*Docker, *labelEngine, *routesRouter) {
	eng, r := &labelEngine{cts: cts}, &routesRouter{}
	resolve := func(context.Context, string) (string, error) { return "", errors.New("a tag was resolved") }
	return &Docker{Engines: map[string]DockerEngine{"local": eng}, Router: r, Resolve: resolve}, eng, r
}

func dockerRequest(track string, weight int) PlatformRequest {
	return PlatformRequest{Kind: "docker", Platform: spec.Platform{Docker: &spec.DockerPlatform{Port: 8080}},
		Vars: TemplateVars{Service: "app", Env: "production", Version: "2.0.0", Image: "reg.test/app@" + digestB,
			Track: track, Weight: weight, Replicas: 2, Strategy: spec.StrategyCanary}}
}

// A 10 % step is served at 10 % or not at all: stable containers that do not run (restarting, say) fail the
// routing, retryably, and a stable track without containers fails it for good. Their share never goes to
// the canary.
func TestSetWeightNeverRenormalises(t *testing.T) {
	canary := ct("canary", "2.0.0", digestB, "running", 3)
	tests := []struct {
		name      string
		stable    []docker.Container
		wantErr   string
		retryable bool
	}{
		{"stable runs", []docker.Container{ct("stable", "1.0.0", digestA, "running", 1), ct("stable", "1.0.0", digestA, "restarting", 2)}, "", false},
		{"stable restarting", []docker.Container{ct("stable", "1.0.0", digestA, "restarting", 1), ct("stable", "1.0.0", digestA, "restarting", 2)},
			"90 % cannot go to the stable track: none of its containers runs (2 restarting)", true},
		{"no stable", nil, "90 % cannot go to the stable track: it has no container", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _, r := labelDriver(append(tt.stable, canary)...)
			err := d.SetWeight(context.Background(), dockerRequest("canary", 10))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, rt := range r.set[0].Tracks {
					got = append(got, fmt.Sprintf("%s %d %v", rt.Name, rt.Weight, rt.Backends))
				}
				if want := "[canary 10 [http://127.0.0.1:3] stable 90 [http://127.0.0.1:1]]"; fmt.Sprint(got) != want {
					t.Errorf("got routes %v, want %s", got, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			var app *temporal.ApplicationError
			nonRetryable := errors.As(err, &app) && app.NonRetryable()
			if nonRetryable == tt.retryable {
				t.Errorf("got non-retryable %v, want %v", nonRetryable, !tt.retryable)
			}
			if len(r.set) != 0 {
				t.Errorf("the router got %+v, want no routing", r.set)
			}
		})
	}
}

// Current counts restarting containers as what runs on stable, and names their image by digest.
func TestDockerCurrentByDigest(t *testing.T) {
	tests := []struct {
		name string
		cts  []docker.Container
		want CurrentResult
	}{
		{"restarting", []docker.Container{ct("stable", "1.0.0", digestA, "restarting", 1), ct("canary", "2.0.0", digestB, "running", 2)},
			CurrentResult{Known: true, Version: "1.0.0", Image: "reg.test/app@" + digestA}},
		{"roll under way", []docker.Container{ct("stable", "1.0.0", digestA, "running", 1), ct("stable", "1.1.0", digestB, "running", 2), ct("stable", "1.1.0", digestB, "exited", 3)},
			CurrentResult{Known: true, Version: "1.1.0", Image: "reg.test/app@" + digestB}},
		{"nothing", []docker.Container{ct("canary", "2.0.0", digestB, "running", 2)}, CurrentResult{Known: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _, _ := labelDriver(tt.cts...)
			got, err := d.Current(context.Background(), dockerRequest("stable", 0))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A rollback deploys the recorded digest, or the one a container of the stable version carries, and never
// resolves a tag: without a digest it refuses and says how to record one.
func TestDockerRollbackNeverResolvesTags(t *testing.T) {
	tests := []struct {
		name        string
		stableImage string
		cts         []docker.Container
		want        string // the image deployed, or the error
	}{
		{"recorded digest", "reg.test/app@" + digestA, nil, "reg.test/app@" + digestA},
		{"tag, digest in labels", "reg.test/app:1.0.0", []docker.Container{ct("stable", "1.0.0", digestA, "restarting", 1)}, "reg.test/app@" + digestA},
		{"no image, digest in labels", "", []docker.Container{ct("previous", "1.0.0", digestA, "running", 1)}, "reg.test/app@" + digestA},
		{"tag, no container", "reg.test/app:1.0.0", []docker.Container{ct("stable", "2.0.0", digestB, "running", 1)},
			"its recorded image reg.test/app:1.0.0 is a tag, not a digest, and no container of 1.0.0 is left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, eng, _ := labelDriver(tt.cts...)
			in := dockerRequest("stable", 0)
			in.Vars.Strategy = spec.StrategyRolling
			in.Vars.StableVersion, in.Vars.StableImage = "1.0.0", tt.stableImage
			err := d.Rollback(context.Background(), in)
			if strings.Contains(tt.want, "@sha256:") {
				if err != nil {
					t.Fatal(err)
				}
				if len(eng.ensured) != 1 || eng.ensured[0].Image != tt.want || eng.ensured[0].Version != "1.0.0" {
					t.Errorf("got %+v, want %s of 1.0.0 deployed", eng.ensured, tt.want)
				}
				return
			}
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || !app.NonRetryable() || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a non-retryable error containing %q", err, tt.want)
			}
			if len(eng.ensured) != 0 {
				t.Errorf("got %+v deployed, want nothing", eng.ensured)
			}
		})
	}
}

// fixedProber answers each URL with its status.
type fixedProber map[string]int

func (f fixedProber) Get(_ context.Context, url string) (probe.Response, error) {
	if st, ok := f[url]; ok {
		return probe.Response{Status: st}, nil
	}
	return probe.Response{}, fmt.Errorf("GET %s: connection refused", url)
}

// A check that names {{.TrackURL}} probes every replica of the track's version, past the router: one
// failing replica fails it, and a track without replicas fails it.
func TestTrackURLCheckProbesEachReplica(t *testing.T) {
	cts := []docker.Container{ct("preview", "2.0.0", digestB, "running", 11), ct("preview", "2.0.0", digestB, "running", 12),
		ct("preview", "1.9.0", digestA, "running", 13), ct("stable", "1.0.0", digestA, "running", 14)}
	tests := []struct {
		name       string
		statuses   fixedProber
		track      string
		wantPassed bool
		wantDetail string
	}{
		{"all pass", fixedProber{"http://127.0.0.1:11/": 200, "http://127.0.0.1:12/": 200, "http://127.0.0.1:14/": 500}, "preview", true,
			"2 replicas on the preview track: GET http://127.0.0.1:12/: status 200"},
		{"one fails", fixedProber{"http://127.0.0.1:11/": 200, "http://127.0.0.1:12/": 500, "http://127.0.0.1:14/": 200}, "preview", false,
			"replica 2 of 2 on the preview track: GET http://127.0.0.1:12/: status 500, want 200"},
		{"no replica", fixedProber{"http://127.0.0.1:14/": 200}, "canary", false, "no replica of 2.0.0 runs on the canary track"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _, _ := labelDriver(cts...)
			c := &Checks{HTTP: tt.statuses, Tracks: DriverTracks{Drivers: Drivers{"docker": d}}}
			req := dockerRequest(tt.track, 0)
			in := CheckRequest{Check: spec.Check{Name: "page", HTTP: &spec.HTTPCheck{URL: "{{.TrackURL}}/"}}, Vars: req.Vars, Platform: &req}
			res, err := c.RunCheck(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed != tt.wantPassed || res.Detail != tt.wantDetail {
				t.Errorf("got passed %v detail %q, want %v %q", res.Passed, res.Detail, tt.wantPassed, tt.wantDetail)
			}
		})
	}
	// Without the platform in the request, or on a platform that cannot reach a track, the check cannot run.
	c := &Checks{HTTP: fixedProber{}, Tracks: DriverTracks{Drivers: Drivers{"exec": &Exec{}}}}
	req := dockerRequest("canary", 0)
	req.Kind = "exec"
	for _, in := range []CheckRequest{
		{Check: spec.Check{HTTP: &spec.HTTPCheck{URL: "{{.TrackURL}}/"}}, Vars: req.Vars},
		{Check: spec.Check{HTTP: &spec.HTTPCheck{Path: "/"}}, BaseURL: "{{.TrackURL}}", Vars: req.Vars, Platform: &req},
	} {
		_, err := c.RunCheck(context.Background(), in)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != ErrTypeInvalidSpec {
			t.Errorf("got %v, want %s", err, ErrTypeInvalidSpec)
		}
	}
}
