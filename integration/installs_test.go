package integration

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// TestDockerTwoInstallsShareAnEngine runs two Ferry installs on one Docker engine, each with its own Temporal
// server, worker (on its own task queue), router and registry, and releases the same service name in both:
// each install's releases leave the other's containers running, untouched, and its router serving them.
func TestDockerTwoInstallsShareAnEngine(t *testing.T) {
	t.Parallel()
	a := startDockerStack(t)
	b := startInstall(t, startServer(t, "dev-b"), dockerQueue+"-b")
	service := "dk-installs-" + uniqueSuffix()
	a.cleanup(t, service)
	b.cleanup(t, service)
	a.push(t, service, "1.0.0")
	d11 := a.push(t, service, "1.1.0")
	d2 := b.push(t, service, "2.0.0")

	if r := a.release(t, a.spec(t, service, "{type: rolling}", ""), "1.0.0"); r.code != 0 {
		t.Fatalf("install A, release 1.0.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	aIDs := a.runningIDs(t, service)
	if r := b.release(t, b.spec(t, service, "{type: rolling}", ""), "2.0.0"); r.code != 0 {
		t.Fatalf("install B, release 2.0.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	wantIDs(t, "install A's containers after B released 2.0.0", a.runningIDs(t, service), aIDs)
	wantMap(t, "install A's router after B released 2.0.0", a.versions(t, service, 50), map[string]int{"1.0.0": 50})
	wantMap(t, "install B's containers", b.containers(t, service), map[string]int{"stable 2.0.0 " + d2: 2})

	bIDs := b.runningIDs(t, service)
	if r := a.release(t, a.spec(t, service, "{type: canary, steps: [{weight: 50}]}", ""), "1.1.0"); r.code != 0 {
		t.Fatalf("install A, release 1.1.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	wantIDs(t, "install B's containers after A released 1.1.0", b.runningIDs(t, service), bIDs)
	wantMap(t, "install B's router after A released 1.1.0", b.versions(t, service, 50), map[string]int{"2.0.0": 50})
	wantMap(t, "install A's containers", a.containers(t, service), map[string]int{"stable 1.1.0 " + d11: 2})
	wantMap(t, "install A's router", a.versions(t, service, 50), map[string]int{"1.1.0": 50})
}

// runningIDs returns the IDs of the install's running containers of service in staging, sorted.
func (ds *dockerStack) runningIDs(t *testing.T, service string) []string {
	t.Helper()
	cts, err := ds.eng.List(context.Background(), service, "staging")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cts {
		if c.State == "running" {
			ids = append(ids, c.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("%s: got %.12q, want %.12q", what, got, want)
	}
}

// startServer starts another embedded Temporal server (`ferry dev --no-worker`, without its UI), stopped when
// t ends, and returns its address once it serves.
func startServer(t *testing.T, name string) string {
	t.Helper()
	port := freePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dev := background(name, "dev", "--port", fmt.Sprint(port), "--ui-port", "-1", "--no-worker")
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(dev) })
	deadline := time.Now().Add(time.Minute)
	for {
		list := exec.Command(stack.bin, "list", "--output", "json")
		list.Env = append(ferryEnv(), "TEMPORAL_ADDRESS="+addr)
		out, err := list.CombinedOutput()
		if err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferry dev at %s never served a listing: %v\n%s", addr, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
