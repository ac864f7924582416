package docker

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLivenessLabel(t *testing.T) {
	l := &Liveness{Path: "/healthz", Interval: 10 * time.Second, Timeout: 2 * time.Second, Retries: 3}
	got, port, stop, err := parseLivenessLabel(l.label(8080, 5*time.Second))
	if err != nil || got != *l || port != 8080 || stop != 5*time.Second {
		t.Errorf("round trip: got %+v %d %s %v, want %+v 8080 5s", got, port, stop, err, *l)
	}
	for _, bad := range []string{"", "{}", `{"path":"/h","port":8080,"interval":"1s","timeout":"1s","retries":0}`,
		`{"path":"h","port":8080,"interval":"1s","timeout":"1s","retries":1}`, `{"path":"/h","interval":"1s","timeout":"1s","retries":1}`,
		`{"path":"/h","port":8080,"interval":"soon","timeout":"1s","retries":1}`} {
		if _, _, _, err := parseLivenessLabel(bad); err == nil {
			t.Errorf("%q: got no error", bad)
		}
	}
	if err := (&Liveness{Path: "/h", Interval: time.Second}).validate(); err == nil {
		t.Error("a liveness without timeout and retries: got valid")
	}
}

// TestSuperviseRestartsOnFailedLiveness runs three containers of the demo service: one whose /healthz starts
// failing a second after each start, with a liveness check; one healthy, with the same check; and one failing
// like the first but without a check. Supervise must restart the first (at the same address, where it serves
// again), log it, and leave the other two alone.
func TestSuperviseRestartsOnFailedLiveness(t *testing.T) {
	c := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := uniqueID(t)
	cleanup(t, c, id)
	repo := testRegistry(t) + "/ferry-test-" + id
	svc := "svc-" + id
	imageID, err := c.Build(ctx, BuildRequest{ContextDir: buildContext(t, demoDockerfile), Labels: map[string]string{"ferry.test": id}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := c.TagAndPush(ctx, imageID, []string{repo + ":1.0.0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := &Liveness{Path: "/healthz", Interval: 200 * time.Millisecond, Timeout: time.Second, Retries: 2}
	run := func(track string, vars map[string]string, l *Liveness) Container {
		t.Helper()
		vars["VERSION"] = "1.0.0"
		cts, err := c.Ensure(ctx, Replicas{Service: svc, Env: "staging", Track: track, Version: "1.0.0", Image: repo + "@" + digest,
			Count: 1, Port: 8080, Vars: vars, StopTimeout: time.Second, Liveness: l})
		if err != nil || len(cts) != 1 {
			t.Fatalf("ensure %s: %v %v", track, cts, err)
		}
		return cts[0]
	}
	sick := run("sick", map[string]string{"DEMO_UNHEALTHY_AFTER": "1s"}, check)
	healthy := run("healthy", map[string]string{}, check)
	unchecked := run("unchecked", map[string]string{"DEMO_UNHEALTHY_AFTER": "1s"}, nil)
	started := func(ct Container) string {
		t.Helper()
		info, err := c.api.ContainerInspect(ctx, ct.ID)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.StartedAt
	}
	before := map[string]string{sick.ID: started(sick), healthy.ID: started(healthy), unchecked.ID: started(unchecked)}

	var logs bytes.Buffer
	var mu sync.Mutex
	restarts := map[string]int{}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Supervise(sctx, SuperviseOptions{
			Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs, mu: &mu}, nil)),
			Every:  100 * time.Millisecond,
			OnRestart: func(ct Container, err error) {
				if ct.Service != svc {
					return // another test's container on the same engine
				}
				if err != nil {
					t.Errorf("restart %s: %v", ct.Track, err)
				}
				mu.Lock()
				restarts[ct.Track]++
				mu.Unlock()
			},
		})
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := restarts["sick"]
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sick container was restarted %d times within 2m, want 2", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("supervise: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if restarts["healthy"] != 0 || restarts["unchecked"] != 0 {
		t.Errorf("got restarts %v, want only the sick container's", restarts)
	}
	if started(sick) == before[sick.ID] {
		t.Error("the sick container's start time did not change")
	}
	for _, ct := range []Container{healthy, unchecked} {
		if got := started(ct); got != before[ct.ID] {
			t.Errorf("%s container restarted: started %s, then %s", ct.Track, before[ct.ID], got)
		}
	}
	if !strings.Contains(logs.String(), "liveness: container restarted after failing its liveness check") ||
		!strings.Contains(logs.String(), "service="+svc) {
		t.Errorf("no restart in the log:\n%s", logs.String())
	}
	// Its port binding stays, so the router's backend address stays true: it serves there again.
	cts, err := c.List(ctx, svc, "staging")
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cts {
		if ct.ID == sick.ID && ct.Addr != sick.Addr {
			t.Errorf("the restarted container moved from %s to %s", sick.Addr, ct.Addr)
		}
	}
	var last error
	for range 100 {
		var resp *http.Response
		if resp, last = http.Get("http://" + sick.Addr + "/version"); last == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last != nil {
		t.Errorf("the restarted container does not serve at %s: %v", sick.Addr, last)
	}
}

// syncWriter lets the supervisor's logger and the test share a buffer.
type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
