package workflows

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// onDocker puts in on the Docker platform, whose release resolves its image to a digest first, and binds each
// environment to an engine: h.engineOf answers, by the activity's task queue, or else every worker's host is
// engine-a.
func (h *harness) onDocker(in ReleaseInput) ReleaseInput {
	h.env.OnActivity(artifactActs.Resolve, mock.Anything, mock.Anything).Return(activities.ArtifactResult{
		Image: "registry.local/checkout@sha256:" + strings.Repeat("b", 64), Digest: "sha256:" + strings.Repeat("b", 64)}, nil)
	h.env.OnActivity(platformActs.Engine, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.PlatformRequest) (activities.EngineResult, error) {
			h.noteQueue(ctx, "engine")
			h.mu.Lock()
			fn := h.engineOf
			h.mu.Unlock()
			if fn == nil {
				return activities.EngineResult{ID: "engine-a", Host: "local"}, nil
			}
			return fn(activity.GetInfo(ctx).TaskQueue, in)
		})
	in.Spec.Platform = spec.Platform{Docker: &spec.DockerPlatform{Port: 8080}}
	return in
}

// A canary where the platform says nothing serves is refused before anything runs there: its 10 % step
// would be 100 %, and its rollback would have nothing to return to.
func TestCanaryWithoutStableIsRefused(t *testing.T) {
	h := newHarness(t)
	prod := production()
	prod.Gate = spec.Gate{Auto: true}
	h.answerCurrent(activities.CurrentResult{Known: true})
	h.run(withCurrent(releaseInput(prod)))
	res, errType := h.result()
	want := "production: a canary needs a stable version to send the rest of the traffic to, and no version serves " +
		"production: release the first version with another strategy (rolling, recreate or blue-green), or, if a " +
		"version does serve there, record it with `ferry adopt checkout --env production --version VERSION --image REPOSITORY@sha256:...`"
	if errType != ErrTypeFailed || res.Reason != want {
		t.Errorf("got type %q reason\n%q\nwant %s\n%q", errType, res.Reason, ErrTypeFailed, want)
	}
	h.wantCalls("current production")
}

// The stable image the platform names by digest is what a rollback restores; a lock that knows the version
// only takes the digest from the Docker platform, when the platform runs that version.
func TestRollbackGetsTheStableDigest(t *testing.T) {
	digest := "registry.local/checkout@sha256:" + strings.Repeat("a", 64)
	rolling := staging()
	rolling.Name = "production"
	tests := []struct {
		name      string
		lock      *Artifact
		current   activities.CurrentResult
		wantCalls []string
		wantImage string
	}{
		{"current names the digest", nil, activities.CurrentResult{Known: true, Version: "1.3.9", Image: digest},
			[]string{"current production", "deploy production stable 1.4.2 0", "ready production stable 1.4.2 0", "rollback production stable 1.3.9"}, digest},
		{"lock knows a tag", &Artifact{Version: "1.3.9", Image: "registry.local/checkout:1.3.9"},
			activities.CurrentResult{Known: true, Version: "1.3.9", Image: digest},
			[]string{"current production", "deploy production stable 1.4.2 0", "ready production stable 1.4.2 0", "rollback production stable 1.3.9"}, digest},
		{"lock knows a tag, another version runs", &Artifact{Version: "1.3.9", Image: "registry.local/checkout:1.3.9"},
			activities.CurrentResult{Known: true, Version: "1.3.8", Image: digest},
			[]string{"current production", "deploy production stable 1.4.2 0", "ready production stable 1.4.2 0", "rollback production stable 1.3.9"},
			"registry.local/checkout:1.3.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.lock != nil {
				h.stable["production"] = tt.lock
			}
			h.answerCurrent(tt.current)
			in := h.onDocker(releaseInput(rolling))
			var rollbackImage string
			h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
				var req activities.PlatformRequest
				if info.ActivityType.Name == "Rollback" && args.Get(&req) == nil {
					rollbackImage = req.Vars.StableImage
				}
			})
			h.checkFn = func(name string, _ activities.CheckRequest) bool { return name != "smoke" }
			h.run(in)
			if _, errType := h.result(); errType != ErrTypeRolledBack {
				t.Errorf("got type %q, want %s", errType, ErrTypeRolledBack)
			}
			h.wantCalls(tt.wantCalls...)
			if rollbackImage != tt.wantImage {
				t.Errorf("rollback's stable image: got %q, want %q", rollbackImage, tt.wantImage)
			}
		})
	}
}

// A check that names {{.TrackURL}} carries the platform request of its track, so the worker can reach the
// track's replicas; a check through the environment's url does not.
func TestTrackURLCheckCarriesThePlatform(t *testing.T) {
	h := newHarness(t)
	bg := staging()
	bg.Strategy = spec.Strategy{Type: spec.StrategyBlueGreen}
	bg.Checks.Smoke = append(bg.Checks.Smoke, spec.Check{Name: "track", HTTP: &spec.HTTPCheck{URL: "{{.TrackURL}}/"}})
	in := h.onDocker(releaseInput(bg))
	h.answerCurrent(activities.CurrentResult{Known: true, Version: "1.4.1", Image: "registry.local/checkout@sha256:" + strings.Repeat("a", 64)})
	got := map[string]string{}
	h.checkFn = func(name string, req activities.CheckRequest) bool {
		switch {
		case req.Platform == nil:
			got[name] = "no platform"
		case req.Platform.Platform.Docker == nil:
			got[name] = "no docker section"
		default:
			got[name] = req.Platform.Kind + " " + req.Platform.Vars.Track + " " + req.Platform.Vars.Version
		}
		return name != "track"
	}
	h.run(in)
	if want := map[string]string{"smoke": "no platform", "track": "docker preview 1.4.2"}; len(got) != 2 || got["smoke"] != want["smoke"] || got["track"] != want["track"] {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, errType := h.result(); errType != ErrTypeRolledBack {
		t.Errorf("got type %q, want %s: the failed track check rolls back before the switch", errType, ErrTypeRolledBack)
	}
	h.wantCalls("current staging", "deploy staging preview 1.4.2 0", "ready staging preview 1.4.2 0", "set-weight staging preview 1.4.2 0", "remove staging preview 1.4.2 0")
}

// A rollback redeploys the stable version with the settings it was released with, which its lock recorded,
// and not with those of the release that failed; a version released with success records its own. A stable
// version without a record (adopted) rolls back with the release's settings.
func TestRollbackRestoresTheStableSettings(t *testing.T) {
	digest := "registry.local/checkout@sha256:" + strings.Repeat("a", 64)
	old := &Settings{Config: map[string]string{"MODE": "old"}, Secrets: map[string]string{"DB_PASSWORD": "vault:secret/checkout#old"}}
	rolling := staging()
	rolling.Name = "production"
	rolling.Config = map[string]string{"MODE": "new"}
	rolling.Secrets = map[string]string{"DB_PASSWORD": "vault:secret/checkout#new"}
	for _, tt := range []struct {
		name     string
		recorded *Settings
		want     map[string]string
	}{
		{"recorded", old, old.Config},
		{"not recorded", nil, rolling.Config},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.resolvesConfig()
			h.stable["production"] = &Artifact{Version: "1.3.9", Image: digest, Settings: tt.recorded}
			h.checkFn = func(name string, _ activities.CheckRequest) bool { return name != "smoke" }
			h.run(releaseInput(rolling))
			var got *activities.PlatformRequest
			for i, req := range h.requests {
				if req.Vars.StableVersion == "1.3.9" && h.calls[i] == "rollback production stable 1.3.9" {
					got = &h.requests[i]
				}
			}
			if got == nil {
				res, errType := h.result()
				t.Fatalf("no rollback: calls %q, result %s %q", h.calls, errType, res.Reason)
			}
			if got.Vars.Config["MODE"] != tt.want["MODE"] {
				t.Errorf("rollback config: got %v, want %v", got.Vars.Config, tt.want)
			}
			wantSecret := rolling.Secrets["DB_PASSWORD"]
			if tt.recorded != nil {
				wantSecret = tt.recorded.Secrets["DB_PASSWORD"]
			}
			if got.Secrets["DB_PASSWORD"] != wantSecret {
				t.Errorf("rollback secrets: got %v, want %s", got.Secrets, wantSecret)
			}
		})
	}
	h := newHarness(t)
	h.resolvesConfig()
	h.run(releaseInput(rolling))
	if got := h.released["production"]; got == nil || got.Settings == nil || got.Settings.Config["MODE"] != "new" ||
		got.Settings.Secrets["DB_PASSWORD"] != rolling.Secrets["DB_PASSWORD"] {
		t.Errorf("a promoted release recorded %+v, want its settings", got)
	}
}

// resolvesConfig makes the worker's ResolveConfig resolve every environment's secrets.
func (h *harness) resolvesConfig() {
	h.env.OnActivity(platformActs.ResolveConfig, mock.Anything, mock.Anything).Return(activities.ConfigResult{Hash: "hmac-sha256:x"}, nil)
}
