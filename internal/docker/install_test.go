package docker

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestInstallsDoNotTouchEachOther runs two installs on one engine that release the same service, env and
// track: each one's Ensure, List, Remove and Supervise see and touch only the containers it started, and a
// client without an install sees both.
func TestInstallsDoNotTouchEachOther(t *testing.T) {
	a, b := engine(t), engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := uniqueID(t)
	cleanup(t, a, id)
	a.UseInstall("install-a-" + id)
	b.UseInstall("install-b-" + id)
	repo := testRegistry(t) + "/ferry-test-" + id
	svc := "svc-" + id
	imageID, err := a.Build(ctx, BuildRequest{ContextDir: buildContext(t, demoDockerfile), Labels: map[string]string{"ferry.test": id}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := a.TagAndPush(ctx, imageID, []string{repo + ":1.0.0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	replicas := func(track, version string, count int) Replicas {
		return Replicas{Service: svc, Env: "staging", Track: track, Version: version, Image: repo + "@" + digest,
			Count: count, Port: 8080, Vars: map[string]string{"VERSION": version}, StopTimeout: time.Second}
	}
	aSet := replicas("stable", "1.0.0", 2)
	aCts, err := a.Ensure(ctx, aSet)
	if err != nil {
		t.Fatalf("ensure in A: %v", err)
	}
	// A's container on the track "sick" fails its liveness check a second after it starts, so that a
	// supervisor that saw it would restart it.
	sickSet := replicas("sick", "1.0.0", 1)
	sickSet.Vars["DEMO_UNHEALTHY_AFTER"] = "1s"
	sickSet.Liveness = &Liveness{Path: "/healthz", Interval: 200 * time.Millisecond, Timeout: time.Second, Retries: 2}
	sickCts, err := a.Ensure(ctx, sickSet)
	if err != nil {
		t.Fatalf("ensure in A: %v", err)
	}
	// B releases another version of the same service on the same track: an Ensure that saw A's containers
	// would replace them.
	bCts, err := b.Ensure(ctx, replicas("stable", "2.0.0", 1))
	if err != nil {
		t.Fatalf("ensure in B: %v", err)
	}
	aIDs := append(ids(aCts), ids(sickCts)...)
	wantIDs(t, "A lists", listIDs(ctx, t, a, svc), aIDs)
	wantIDs(t, "B lists", listIDs(ctx, t, b, svc), ids(bCts))
	wantIDs(t, "a client without an install lists", listIDs(ctx, t, engine(t), svc), append(aIDs, ids(bCts)...))
	for _, ct := range append(aCts, bCts...) {
		want := map[string]string{"1.0.0": "install-a-" + id, "2.0.0": "install-b-" + id}[ct.Version]
		info, err := a.api.ContainerInspect(ctx, ct.ID)
		if err != nil {
			t.Errorf("container %s of %s: %v", ct.Name, want, err)
		} else if got := info.Config.Labels[LabelInstall]; got != want {
			t.Errorf("container %s: got label %s=%q, want %q", ct.Name, LabelInstall, got, want)
		}
	}

	// B's supervisor probes only B's containers: A's sick one fails its checks and B never restarts it.
	var mu sync.Mutex
	var restarted []string
	sctx, stop := context.WithTimeout(ctx, 4*time.Second)
	defer stop()
	_ = b.Supervise(sctx, SuperviseOptions{Every: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), OnRestart: func(ct Container, _ error) {
		mu.Lock()
		defer mu.Unlock()
		restarted = append(restarted, ct.Service+" "+ct.Version)
	}})
	if slices.Contains(restarted, svc+" 1.0.0") {
		t.Errorf("B's supervisor restarted A's container: %v", restarted)
	}

	// B's Remove removes its own container only; A's Ensure keeps its own and starts none.
	if n, err := b.Remove(ctx, svc, "staging", "", time.Second); err != nil || n != 1 {
		t.Errorf("remove in B: removed %d (%v), want 1", n, err)
	}
	again, err := a.Ensure(ctx, aSet)
	if err != nil {
		t.Fatalf("ensure in A again: %v", err)
	}
	wantIDs(t, "A's stable containers after B removed its own", ids(again), ids(aCts))
	wantIDs(t, "B lists after its remove", listIDs(ctx, t, b, svc), nil)
}

// listIDs lists the IDs of c's containers of svc in staging, running or not.
func listIDs(ctx context.Context, t *testing.T, c *Client, svc string) []string {
	t.Helper()
	cts, err := c.List(ctx, svc, "staging")
	if err != nil {
		t.Fatal(err)
	}
	return ids(cts)
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %.12q, want %.12q", what, got, want)
	}
}
