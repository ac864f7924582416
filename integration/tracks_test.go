package integration

import (
	"context"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/docker"
)

// trackSmoke is a smoke check of the new version's replicas, past the router.
const trackSmoke = "    checks:\n      smoke: [{name: page, http: {url: \"{{.TrackURL}}/\"}}]\n"

// TestDockerBlueGreenSmokeReachesTheNewVersion releases, blue-green, a version whose / answers 500 while its
// probes pass: the smoke check on {{.TrackURL}}/ fails it before the switch, so the router never sends it a
// request, and the old version keeps serving.
func TestDockerBlueGreenSmokeReachesTheNewVersion(t *testing.T) {
	t.Parallel()
	ds := startDockerStack(t)
	service := "dk-track-" + uniqueSuffix()
	ds.cleanup(t, service)
	d1 := ds.push(t, service, "1.0.0")
	ds.push(t, service, "1.1.0")
	strategy := "{type: blue-green, scaleDownDelay: 1s}"
	if r := ds.release(t, ds.spec(t, service, strategy, trackSmoke), "1.0.0"); r.code != 0 {
		t.Fatalf("release 1.0.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	stats, stop := ds.load(service, 2, 20000)
	bad := ds.spec(t, service, strategy, "    config: {DEMO_ERROR_RATE: \"1\"}\n"+trackSmoke)
	r := ds.release(t, bad, "1.1.0")
	stop()
	if r.code == 0 {
		t.Fatalf("release 1.1.0, whose / answers 500: exit 0, want a failure\n%s", r.stdout)
	}
	if stats.failed.Load() != 0 || len(stats.versions) != 1 || stats.versions["1.0.0"] == 0 {
		t.Errorf("through the router during the release: %v answered, %d failed %v; want 1.0.0 only", stats.versions, stats.failed.Load(), stats.errors)
	}
	wantMap(t, "containers after the rollback", ds.containers(t, service), map[string]int{"stable 1.0.0 " + d1: 2})
}

// TestDockerRollbackDeploysTheRecordedDigest runs 1.0.0 without Ferry's lock knowing it, moves the tag 1.0.0
// to another image, and releases 1.1.0, which fails its smoke check: the rollback restores the digest that
// served (current reads it from the labels), not the image the tag names now.
func TestDockerRollbackDeploysTheRecordedDigest(t *testing.T) {
	t.Parallel()
	ds := startDockerStack(t)
	service := "dk-digest-" + uniqueSuffix()
	ds.cleanup(t, service)
	d1 := ds.push(t, service, "1.0.0")
	ds.push(t, service, "1.1.0")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := ds.eng.Ensure(ctx, docker.Replicas{Service: service, Env: "staging", Track: "stable", Version: "1.0.0",
		Count: 2, Port: 8080, StopTimeout: time.Second, Image: ds.registry + "/" + service + "@" + d1,
		Vars: map[string]string{"FERRY_VERSION": "1.0.0"}}); err != nil {
		t.Fatal(err)
	}
	if moved := ds.pushAs(t, service, "1.0.0-moved", "1.0.0"); moved == d1 {
		t.Fatalf("the tag did not move: %s", moved)
	}
	// The smoke check wants 1.0.0's answer, so 1.1.0 fails it; the configuration stays the same, so the
	// restored 1.0.0 serves as it did.
	wantOld := "    checks:\n      smoke: [{name: version, http: {url: \"{{.TrackURL}}/version\", body: '\"1[.]0[.]0\"'}}]\n"
	bad := ds.spec(t, service, "{type: recreate}", wantOld)
	if r := ds.release(t, bad, "1.1.0"); r.code == 0 {
		t.Fatalf("release 1.1.0, which fails its smoke check: exit 0, want a rollback\n%s", r.stdout)
	}
	wantMap(t, "containers after the rollback", ds.containers(t, service), map[string]int{"stable 1.0.0 " + d1: 2})
	wantMap(t, "versions through the router after the rollback", ds.versions(t, service, 40), map[string]int{"1.0.0": 40})
}
