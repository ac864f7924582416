package workflows

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
)

func TestOlderThan(t *testing.T) {
	t1 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	tests := []struct {
		version string
		commit  time.Time
		stable  Artifact
		older   bool
		basis   string
	}{
		{"1.4.1", time.Time{}, Artifact{Version: "1.4.4"}, true, "by semantic version"},
		{"v1.4.1", time.Time{}, Artifact{Version: "1.4.4"}, true, "by semantic version"},
		{"1.4.10", time.Time{}, Artifact{Version: "v1.4.9"}, false, "by semantic version"},
		{"1.4.4", time.Time{}, Artifact{Version: "1.4.4"}, false, "by semantic version"},
		{"2.0.0-rc.1", time.Time{}, Artifact{Version: "2.0.0"}, true, "by semantic version"},
		{"2.0.0-rc.2", time.Time{}, Artifact{Version: "2.0.0-rc.10"}, true, "by semantic version"},
		{"2.0.0-beta", time.Time{}, Artifact{Version: "2.0.0-alpha.3"}, false, "by semantic version"},
		{"2.0.0-alpha", time.Time{}, Artifact{Version: "2.0.0-alpha.1"}, true, "by semantic version"},
		{"1.0.0+build.5", time.Time{}, Artifact{Version: "1.0.0+build.9"}, false, "by semantic version"},
		// Semver decides even against the commit times.
		{"1.5.0", t1, Artifact{Version: "1.4.0", CommitTime: t2}, false, "by semantic version"},
		// Not semver: commit times decide when both are known.
		{"build-7", t1, Artifact{Version: "build-9", CommitTime: t2}, true,
			"committed 2026-11-01T10:00:00Z, before build-9's 2026-11-01T11:00:00Z"},
		{"1.4", t1, Artifact{Version: "1.5", CommitTime: t2}, true,
			"committed 2026-11-01T10:00:00Z, before 1.5's 2026-11-01T11:00:00Z"},
		{"build-9", t2, Artifact{Version: "build-7", CommitTime: t1}, false,
			"committed 2026-11-01T11:00:00Z, before build-7's 2026-11-01T10:00:00Z"},
		{"1.04.0", t1, Artifact{Version: "1.5.0", CommitTime: t2}, true,
			"committed 2026-11-01T10:00:00Z, before 1.5.0's 2026-11-01T11:00:00Z"},
		// Neither tells: allowed.
		{"build-7", t1, Artifact{Version: "build-9"}, false, ""},
		{"1.4.1", time.Time{}, Artifact{Version: "main-abc1234"}, false, ""},
	}
	for _, tt := range tests {
		older, basis := olderThan(tt.version, tt.commit, tt.stable)
		if older != tt.older || basis != tt.basis {
			t.Errorf("olderThan(%s, %v, %+v): got %v %q, want %v %q", tt.version, tt.commit, tt.stable, older, basis, tt.older, tt.basis)
		}
	}
}

func TestParseSemverRejects(t *testing.T) {
	for _, s := range []string{"", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3-a..b", "1.2.3+", "1.2.x", "1.2.3-a_b", "vv1.2.3"} {
		if v, ok := parseSemver(s); ok {
			t.Errorf("parseSemver(%q): got %+v, want no semver", s, v)
		}
	}
	for _, s := range []string{"0.0.0", "v1.2.3", "1.2.3-0", "1.2.3-rc.1+sha.abc", "1.2.3-x-y.0a"} {
		if _, ok := parseSemver(s); !ok {
			t.Errorf("parseSemver(%q): got no semver, want one", s)
		}
	}
}

// A release older than the environment's stable version fails there before anything runs, and leaves the
// stable version to the lock; the next environment is never reached.
func TestDowngradeRefused(t *testing.T) {
	h := newHarness(t)
	h.stable["staging"] = &Artifact{Version: "1.4.4", Image: "registry.local/checkout:1.4.4"}
	in := releaseInput(staging(), production())
	in.Version = "1.4.1"
	h.run(in)
	res, errType := h.result()
	want := "staging runs 1.4.4, newer than 1.4.1 (by semantic version): refused as a downgrade; " +
		"start the release with --allow-downgrade to deploy an older version"
	if errType != ErrTypeFailed || res.State != StateFailed || res.Reason != want {
		t.Fatalf("got state %q type %q reason %q, want failed: %s", res.State, errType, res.Reason, want)
	}
	if res.Environments[0].State != StateFailed || res.Environments[0].Reason != want || res.Environments[1].State != "pending" {
		t.Errorf("environments: got %+v, want staging failed with the reason and production pending", res.Environments)
	}
	h.wantCalls() // nothing ran
	if d, ok := h.released["staging"]; !ok || d != nil {
		t.Errorf("staging lock: got released %v (%+v), want released with nothing deployed", ok, d)
	}
	if contains(h.signals, SignalLockStage+" staging") {
		t.Errorf("the refused release reached the gate: %v", h.signals)
	}
}

// With AllowDowngrade the older version deploys, and a newer or equal one never needed it.
func TestDowngradeAllowed(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version string
		allow   bool
	}{
		{"allowed", "1.4.1", true},
		{"newer", "1.4.5", false},
		{"same", "1.4.4", false},
		{"not comparable", "main-abc1234", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.stable["staging"] = &Artifact{Version: "1.4.4"}
			in := releaseInput(staging())
			in.Version, in.AllowDowngrade = tt.version, tt.allow
			h.run(in)
			if res, errType := h.result(); res.State != StateSucceeded {
				t.Fatalf("got %s (%s): %s, want succeeded", res.State, errType, res.Reason)
			}
			h.wantCalls("deploy staging stable "+tt.version+" 0", "ready staging stable "+tt.version+" 0")
			if d := h.released["staging"]; d == nil || d.Version != tt.version {
				t.Errorf("staging lock: got deployed %+v, want %s", d, tt.version)
			}
		})
	}
}

// Versions that are not semver fall back to commit times, which the lock hands out with the stable version.
func TestDowngradeByCommitTime(t *testing.T) {
	t1 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	h := newHarness(t)
	h.stable["staging"] = &Artifact{Version: "main-bbbbbbb", CommitTime: t1.Add(time.Hour)}
	in := releaseInput(staging())
	in.Version, in.CommitTime = "main-aaaaaaa", t1
	h.run(in)
	res, _ := h.result()
	if res.State != StateFailed || !strings.Contains(res.Reason, "staging runs main-bbbbbbb, newer than main-aaaaaaa (committed 2026-11-01T10:00:00Z, before main-bbbbbbb's 2026-11-01T11:00:00Z)") ||
		!strings.Contains(res.Reason, "--allow-downgrade") {
		t.Fatalf("got %s: %q, want failed as a downgrade by commit time", res.State, res.Reason)
	}
	h.wantCalls()

	// A release that completes records its commit time with the version, for the next release's check.
	h = newHarness(t)
	in.Version = "main-ccccccc"
	in.CommitTime = t1.Add(2 * time.Hour)
	h.stable["staging"] = &Artifact{Version: "main-bbbbbbb", CommitTime: t1.Add(time.Hour)}
	h.run(in)
	if d := h.released["staging"]; d == nil || d.Version != "main-ccccccc" || !d.CommitTime.Equal(in.CommitTime) {
		t.Errorf("staging lock: got deployed %+v, want main-ccccccc with its commit time", d)
	}
}

// The platform's current command names the stable version when the lock does not know it: the check uses it.
func TestDowngradeAgainstPlatformCurrent(t *testing.T) {
	h := newHarness(t)
	in := withCurrent(releaseInput(staging()))
	in.Version = "1.4.1"
	h.answerCurrent(activities.CurrentResult{Known: true, Version: "1.4.4"})
	h.run(in)
	res, _ := h.result()
	if res.State != StateFailed || !strings.HasPrefix(res.Reason, "staging runs 1.4.4, newer than 1.4.1 (by semantic version): refused as a downgrade") {
		t.Fatalf("got %s: %q, want failed as a downgrade of the platform's 1.4.4", res.State, res.Reason)
	}
	h.wantCalls("current staging") // asked, and nothing more
}

// A supersede that commit times decided carries its reason into the release's.
func TestSupersededByCommitTimeReason(t *testing.T) {
	h := newHarness(t)
	h.after(time.Minute, func() {
		h.env.SignalWorkflow(SignalSuperseded, SupersededSignal{By: "1.4.4", Reason: "1.4.4 was committed later"})
	})
	h.run(releaseInput(staging(), production()))
	if res, _ := h.result(); res.State != StateSuperseded || res.Reason != "superseded by 1.4.4: 1.4.4 was committed later" {
		t.Fatalf("got %s %q, want superseded by 1.4.4 with the reason", res.State, res.Reason)
	}
}

// Under churn an older release can be granted the lock after a newer one overtook it and deployed: it lost a
// race, nobody started a downgrade. It ends superseded by the newer version (exit 7, not a red 4), with
// nothing run. A newer version that was already stable when the release started still fails it.
func TestDowngradeAfterStartIsSuperseded(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name       string
		deployedAt time.Time
		state      string
		reason     string
	}{
		{"deployed after the start", t0.Add(time.Minute), StateSuperseded,
			"superseded by 1.4.4: 1.4.4 became the stable version of staging at 2026-11-01T10:01:00Z, after 1.4.1 started, and is newer (by semantic version)"},
		{"deployed before the start", t0.Add(-time.Minute), StateFailed,
			"staging runs 1.4.4, newer than 1.4.1 (by semantic version): refused as a downgrade; start the release with --allow-downgrade to deploy an older version"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.env.SetStartTime(t0)
			h.stable["staging"] = &Artifact{Version: "1.4.4", DeployedAt: tt.deployedAt}
			in := releaseInput(staging(), production())
			in.Version = "1.4.1"
			h.run(in)
			res, _ := h.result()
			if res.State != tt.state || res.Reason != tt.reason {
				t.Fatalf("got %s %q, want %s %q", res.State, res.Reason, tt.state, tt.reason)
			}
			if res.Environments[0].State != tt.state || res.Environments[1].State != "pending" {
				t.Errorf("environments: got %+v, want staging %s and production pending", res.Environments, tt.state)
			}
			h.wantCalls()
			if d, ok := h.released["staging"]; !ok || d != nil {
				t.Errorf("staging lock: got released %v (%+v), want released with nothing deployed", ok, d)
			}
		})
	}
}

// A release from before lostRaceChange fails as a downgrade, as it did.
func TestDowngradeAfterStartBeforeTheChange(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	h := newHarness(t)
	h.env.OnGetVersion(lostRaceChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	h.env.SetStartTime(t0)
	h.stable["staging"] = &Artifact{Version: "1.4.4", DeployedAt: t0.Add(time.Minute)}
	in := releaseInput(staging())
	in.Version = "1.4.1"
	h.run(in)
	if res, _ := h.result(); res.State != StateFailed {
		t.Fatalf("got %s: %s, want failed", res.State, res.Reason)
	}
}
