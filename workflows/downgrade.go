package workflows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// downgradeChange is the GetVersion change ID under which a release refuses to deploy over a newer stable
// version unless ReleaseInput.AllowDowngrade is set. Asked only when the environment's stable version is
// known and the release does not allow downgrades.
const downgradeChange = "refuse-downgrade"

// ErrTypeDowngrade is the type of the error that ends an environment refused as a downgrade. The release
// fails with ErrTypeFailed; this is its cause.
const ErrTypeDowngrade = "DowngradeRefused"

// checkDowngrade refuses to deploy the release's version to an environment whose stable version is newer,
// unless the release allows downgrades. It runs before anything runs in the environment, so the refusal
// leaves it as it was. Newer means (see olderThan): by semantic version when both versions parse as one,
// otherwise by commit time when both are known; when neither tells, the release goes ahead. A release that a
// newer version overtook after it started (lostRace) ends superseded instead (since lostRaceChange).
func (r *release) checkDowngrade(ctx workflow.Context, e *envRun) error {
	if r.in.AllowDowngrade || e.stable == nil ||
		workflow.GetVersion(ctx, downgradeChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	older, basis := olderThan(r.in.Version, r.in.CommitTime, *e.stable)
	if !older {
		return nil
	}
	if lostRace(r.status.StartedAt, *e.stable) &&
		workflow.GetVersion(ctx, lostRaceChange, workflow.DefaultVersion, 1) == 1 {
		// Nothing was wrong with this release when it started: a newer one overtook it and deployed first.
		r.supersededBy = e.stable.Version
		r.supersedeWhy = fmt.Sprintf("%s became the stable version of %s at %s, after %s started, and is newer (%s)",
			e.stable.Version, e.spec.Name, e.stable.DeployedAt.UTC().Format(time.RFC3339), r.in.Version, basis)
		return errSupersededByStable
	}
	msg := fmt.Sprintf("%s runs %s, newer than %s (%s): refused as a downgrade; start the release with "+
		"--allow-downgrade to deploy an older version", e.spec.Name, e.stable.Version, r.in.Version, basis)
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeDowngrade, nil)
}

// lostRaceChange is the GetVersion change ID under which a release that finds a newer stable version, one that
// was deployed after the release started, ends superseded rather than failed. Asked only by releases that are
// refused as downgrades.
const lostRaceChange = "downgrade-after-start-is-superseded"

// errSupersededByStable ends an environment whose stable version overtook the release (see lostRace); the
// release's supersededBy says by what.
var errSupersededByStable = errors.New("superseded by a newer stable version")

// lostRace reports whether stable became the environment's stable version after the release that started at
// started began: the release lost a race to a newer one, which is no mistake of whoever started it. A stable
// version without a deploy time (adopted, or recorded by an older lock) never counts.
func lostRace(started time.Time, stable Artifact) bool {
	return !stable.DeployedAt.IsZero() && stable.DeployedAt.After(started)
}

// olderThan reports whether version (committed at commit, zero when unknown) is older than stable, and on
// what basis: "by semantic version" when both versions parse as semantic versions (a leading v allowed),
// otherwise "committed ... before ..." when both commit times are known. When neither applies it reports
// false: nothing says the release is older.
func olderThan(version string, commit time.Time, stable Artifact) (bool, string) {
	a, aok := parseSemver(version)
	b, bok := parseSemver(stable.Version)
	if aok && bok {
		return a.compare(b) < 0, "by semantic version"
	}
	if !commit.IsZero() && !stable.CommitTime.IsZero() {
		return commit.Before(stable.CommitTime), fmt.Sprintf("committed %s, before %s's %s",
			commit.UTC().Format(time.RFC3339), stable.Version, stable.CommitTime.UTC().Format(time.RFC3339))
	}
	return false, ""
}

// semver is a parsed semantic version (semver.org 2.0.0); build metadata is dropped, as it does not order.
type semver struct {
	major, minor, patch uint64
	pre                 []string
}

// parseSemver parses MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], with an optional leading v.
func parseSemver(s string) (semver, bool) {
	s = strings.TrimPrefix(s, "v")
	s, build, hasBuild := strings.Cut(s, "+")
	if hasBuild && !validIdents(build, false) {
		return semver{}, false
	}
	core, pre, hasPre := strings.Cut(s, "-")
	var v semver
	if hasPre {
		if !validIdents(pre, true) {
			return semver{}, false
		}
		v.pre = strings.Split(pre, ".")
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return semver{}, false
	}
	nums := [3]*uint64{&v.major, &v.minor, &v.patch}
	for i, p := range parts {
		n, ok := numeric(p)
		if !ok {
			return semver{}, false
		}
		*nums[i] = n
	}
	return v, true
}

// validIdents checks dot-separated identifiers of [0-9A-Za-z-]; prerelease numbers have no leading zero.
func validIdents(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for _, c := range id {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
		if _, isNum := numeric(id); pre && !isNum && strings.Trim(id, "0123456789") == "" {
			return false // digits only, with a leading zero
		}
	}
	return true
}

// numeric parses a numeric identifier: digits, no leading zero.
func numeric(s string) (uint64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// compare returns -1, 0 or +1 as v is lower than, equal to or higher than w in semver precedence.
func (v semver) compare(w semver) int {
	for _, d := range [3][2]uint64{{v.major, w.major}, {v.minor, w.minor}, {v.patch, w.patch}} {
		if d[0] != d[1] {
			return cmp(d[0] < d[1])
		}
	}
	switch {
	case len(v.pre) == 0 && len(w.pre) == 0:
		return 0
	case len(v.pre) == 0:
		return 1 // a release is higher than its prereleases
	case len(w.pre) == 0:
		return -1
	}
	for i := 0; i < len(v.pre) && i < len(w.pre); i++ {
		a, b := v.pre[i], w.pre[i]
		if a == b {
			continue
		}
		an, aNum := numeric(a)
		bn, bNum := numeric(b)
		switch {
		case aNum && bNum:
			return cmp(an < bn)
		case aNum:
			return -1 // numeric identifiers are lower than alphanumeric ones
		case bNum:
			return 1
		default:
			return cmp(a < b)
		}
	}
	switch {
	case len(v.pre) < len(w.pre):
		return -1
	case len(v.pre) > len(w.pre):
		return 1
	}
	return 0
}

func cmp(less bool) int {
	if less {
		return -1
	}
	return 1
}
