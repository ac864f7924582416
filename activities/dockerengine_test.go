package activities

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/spec"
)

// Engine names the engine of the request's host, after the worker polls that engine's queue.
func TestDockerEngineNamesTheEngine(t *testing.T) {
	d, _, _ := labelDriver()
	var polled []string
	d.Poll = func(id string) error { polled = append(polled, id); return nil }
	p := &Platform{Drivers: Drivers{spec.PlatformDocker: d}}
	res, err := p.Engine(context.Background(), dockerRequest("stable", 0))
	if err != nil {
		t.Fatal(err)
	}
	if res != (EngineResult{ID: "engine-a", Host: "local"}) {
		t.Errorf("got %+v, want engine-a of host local", res)
	}
	if len(polled) != 1 || polled[0] != "engine-a" {
		t.Errorf("got polled %q, want engine-a polled before the answer", polled)
	}
	if got := EngineQueue("ferry", "engine-a"); got != "ferry/docker/engine-a" {
		t.Errorf("got queue %q, want ferry/docker/engine-a", got)
	}
	exec := &Platform{Drivers: Drivers{spec.PlatformExec: &Exec{}}}
	in := PlatformRequest{Kind: spec.PlatformExec, Platform: spec.Platform{Exec: &spec.ExecPlatform{}}}
	if _, err := exec.Engine(context.Background(), in); !isType(err, ErrTypeInvalidSpec) {
		t.Errorf("exec: got %v, want a non-retryable %s", err, ErrTypeInvalidSpec)
	}
}

func isType(err error, typ string) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == typ && app.NonRetryable()
}

// Every Docker operation of a request bound to another engine is refused, non-retryable, before it touches
// a container or the router; bound to this engine, it acts.
func TestDockerRefusesAnotherEngine(t *testing.T) {
	ctx := context.Background()
	ops := map[string]func(*Docker, PlatformRequest) error{
		"deploy":     func(d *Docker, in PlatformRequest) error { return d.Deploy(ctx, in) },
		"ready":      func(d *Docker, in PlatformRequest) error { return d.Ready(ctx, in) },
		"set-weight": func(d *Docker, in PlatformRequest) error { return d.SetWeight(ctx, in) },
		"promote":    func(d *Docker, in PlatformRequest) error { return d.Promote(ctx, in) },
		"rollback":   func(d *Docker, in PlatformRequest) error { return d.Rollback(ctx, in) },
		"remove":     func(d *Docker, in PlatformRequest) error { return d.Remove(ctx, in) },
		"current":    func(d *Docker, in PlatformRequest) error { _, err := d.Current(ctx, in); return err },
		"observe":    func(d *Docker, in PlatformRequest) error { _, err := d.Observe(ctx, in); return err },
		"track urls": func(d *Docker, in PlatformRequest) error { _, err := d.TrackURLs(ctx, in); return err },
		"engine":     func(d *Docker, in PlatformRequest) error { _, err := d.Engine(ctx, in); return err },
	}
	for name, op := range ops {
		d, eng, r := labelDriver(ct("stable", "1.0.0", digestA, "running", 1))
		in := dockerRequest("canary", 10)
		in.Vars.StableVersion, in.Vars.StableImage = "1.0.0", "reg.test/app@"+digestA
		in.Engine = "engine-b"
		err := op(d, in)
		if !isType(err, ErrTypeEngineMismatch) {
			t.Errorf("%s: got %v, want a non-retryable %s", name, err, ErrTypeEngineMismatch)
			continue
		}
		if want := `app/production runs on Docker engine engine-b, and this worker's host "local" is engine engine-a`; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %q, want it to say %q", name, err, want)
		}
		if len(eng.ensured) > 0 || len(r.set) > 0 {
			t.Errorf("%s: got %d containers started and %d routings on another engine, want none", name, len(eng.ensured), len(r.set))
		}
	}
	d, eng, _ := labelDriver(ct("stable", "1.0.0", digestA, "running", 1))
	in := dockerRequest("canary", 10)
	in.Engine = "engine-a"
	if err := d.Deploy(ctx, in); err != nil || len(eng.ensured) != 1 {
		t.Errorf("deploy on the bound engine: got %v and %d containers started, want 1", err, len(eng.ensured))
	}
}

// A host the worker cannot use is refused with the reason, not as unknown.
func TestDockerUnusableHost(t *testing.T) {
	d, _, _ := labelDriver()
	d.Engines = map[string]DockerEngine{}
	d.Unusable = map[string]string{"local": "tcp://10.0.0.7:2375: plain tcp:// ..."}
	err := d.Deploy(context.Background(), dockerRequest("canary", 0))
	if !isType(err, ErrTypeInvalidSpec) || !strings.Contains(err.Error(), `platform.docker.host: "local" cannot be used on this worker: tcp://10.0.0.7:2375`) {
		t.Errorf("got %v, want the host refused with its reason", err)
	}
}
