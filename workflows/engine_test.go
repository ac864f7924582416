package workflows

import (
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// mainQueue is the task queue of the testsuite's workflows, where an unbound activity goes.
const mainQueue = "default-test-taskqueue"

// blueGreenWithTrackCheck is a blue-green staging whose smoke checks are one through the router and one that
// reaches the new version's replicas ({{.TrackURL}}).
func blueGreenWithTrackCheck() spec.Environment {
	bg := staging()
	bg.Strategy = spec.Strategy{Type: spec.StrategyBlueGreen}
	bg.Checks.Smoke = append(bg.Checks.Smoke, spec.Check{Name: "track", HTTP: &spec.HTTPCheck{URL: "{{.TrackURL}}/"}})
	return bg
}

const stableImage = "registry.local/checkout@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// The first Docker activity of an environment asks a worker which engine its host is; every later one runs on
// that engine's task queue and carries its ID, and so does the version the lock keeps. A check through the
// router stays on the main queue.
func TestDockerActivitiesRunOnTheBoundEngine(t *testing.T) {
	h := newHarness(t)
	h.stable["staging"] = &Artifact{Version: "1.4.1", Image: stableImage} // recorded before engines were bound
	h.engineOf = func(queue string, _ activities.PlatformRequest) (activities.EngineResult, error) {
		return activities.EngineResult{ID: "engine-b", Host: "local"}, nil
	}
	h.run(h.onDocker(releaseInput(blueGreenWithTrackCheck())))
	if res, errType := h.result(); errType != "" {
		t.Fatalf("got type %q (%s), want success", errType, res.Reason)
	}
	bound := mainQueue + "/docker/engine-b"
	want := []string{"engine " + mainQueue, "deploy " + bound, "ready " + bound, "smoke " + mainQueue, "track " + bound,
		"set-weight " + bound, "promote " + bound, "remove " + bound, "observe " + bound}
	if got := strings.Join(h.queues, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("task queues:\ngot:\n%s\n\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, req := range h.requests {
		if req.Engine != "engine-b" {
			t.Errorf("%s %s: got engine %q in the request, want engine-b", req.Vars.Track, req.Vars.Version, req.Engine)
		}
	}
	if got := h.status().Environments[0].Engine; got != "engine-b" {
		t.Errorf("status: got engine %q, want engine-b", got)
	}
	if d := h.released["staging"]; d == nil || d.Engine != "engine-b" || d.Version != "1.4.2" {
		t.Errorf("the lock's deployed version: got %+v, want 1.4.2 on engine-b", d)
	}
}

// A stable version the lock records on an engine binds the environment to that engine: the release asks that
// engine's queue, never the main one.
func TestStableVersionsEngineIsBound(t *testing.T) {
	h := newHarness(t)
	h.stable["staging"] = &Artifact{Version: "1.4.1", Image: stableImage, Engine: "engine-a"}
	h.engineOf = func(queue string, in activities.PlatformRequest) (activities.EngineResult, error) {
		if queue != mainQueue+"/docker/engine-a" || in.Engine != "engine-a" {
			t.Errorf("Engine asked on %s for %q, want engine-a's queue", queue, in.Engine)
		}
		return activities.EngineResult{ID: "engine-a", Host: "local"}, nil
	}
	h.run(h.onDocker(releaseInput(staging())))
	if res, errType := h.result(); errType != "" {
		t.Fatalf("got type %q (%s), want success", errType, res.Reason)
	}
	bound := mainQueue + "/docker/engine-a"
	want := []string{"engine " + bound, "deploy " + bound, "ready " + bound, "smoke " + mainQueue, "observe " + bound}
	if got := strings.Join(h.queues, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("task queues:\ngot:\n%s\n\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// When no worker of the stable version's engine answers, the environment is refused before its gate, naming
// both engines, and nothing runs.
func TestAnotherEngineIsRefused(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer func(queue string) (activities.EngineResult, error)
		want   string
	}{
		{"no worker of that engine", func(queue string) (activities.EngineResult, error) {
			if queue == mainQueue {
				return activities.EngineResult{ID: "engine-b", Host: "local"}, nil
			}
			return activities.EngineResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)
		}, `production's stable version 1.4.1 runs on Docker engine engine-a; this worker's host "local" is ` +
			"engine engine-b, and no worker of engine engine-a answered within 30s. Nothing was changed. Run a worker whose " +
			`host "local" reaches engine engine-a, or, if production now runs on another engine, record what serves there ` +
			"with `ferry adopt checkout --env production --version VERSION --image REPOSITORY@sha256:...`"},
		{"that engine's worker refuses", func(string) (activities.EngineResult, error) {
			return activities.EngineResult{}, temporal.NewNonRetryableApplicationError(
				`refused: checkout/production runs on Docker engine engine-a, and this worker's host "local" is engine engine-c`,
				activities.ErrTypeEngineMismatch, nil)
		}, `production's stable version 1.4.1 runs on Docker engine engine-a; refused: checkout/production runs on ` +
			`Docker engine engine-a, and this worker's host "local" is engine engine-c. Nothing was changed.`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.stable["production"] = &Artifact{Version: "1.4.1", Image: stableImage, Engine: "engine-a"}
			h.engineOf = func(queue string, _ activities.PlatformRequest) (activities.EngineResult, error) {
				return tt.answer(queue)
			}
			h.run(h.onDocker(releaseInput(production()))) // production's gate asks for an approval nobody gives
			res, errType := h.result()
			if errType != ErrTypeFailed || !strings.Contains(res.Reason, tt.want) {
				t.Errorf("got type %q reason\n%q\nwant %s with\n%q", errType, res.Reason, ErrTypeFailed, tt.want)
			}
			h.wantCalls()
			if d, ok := h.released["production"]; !ok || d != nil {
				t.Errorf("the lock: got released %v with %+v, want released with no deployed version", ok, d)
			}
		})
	}
}
