package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/router"
)

// awaitContainer waits until a running container of service matches "track version" and returns its IDs.
func (ds *dockerStack) awaitContainer(t *testing.T, service, trackVersion string, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		cts, err := ds.eng.List(context.Background(), service, "staging")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range cts {
			if c.State == "running" && c.Track+" "+c.Version == trackVersion {
				ids = append(ids, c.ID)
			}
		}
		if len(ids) > 0 {
			return ids
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s container of %s ran within %s", trackVersion, service, within)
	return nil
}

// promoteCase releases 1.0.0 of a new service with a rolling deploy, then starts 1.1.0 with strategy (its
// containers ready after 3 s) and calls during once 1.1.0 starts on the stable track, that is during promote.
// It returns the exit code of 1.1.0's release and checks that afterwards only 1.0.0 runs and answers.
func (ds *dockerStack) promoteCase(t *testing.T, strategy, readyTimeout string, during func(service string, ids []string)) result {
	t.Helper()
	service := "dk-prom-" + uniqueSuffix()
	ds.cleanup(t, service)
	d1 := ds.push(t, service, "1.0.0")
	ds.push(t, service, "1.1.0")
	if r := ds.release(t, ds.spec(t, service, "{type: rolling}", ""), "1.0.0"); r.code != 0 {
		t.Fatalf("release 1.0.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	spec := ds.spec(t, service, strategy, "    config: {DEMO_READY_DELAY: 3s}\n")
	if readyTimeout != "" {
		data, _ := os.ReadFile(spec)
		_ = os.WriteFile(spec, []byte(strings.Replace(string(data), "timeout: 20s", "timeout: "+readyTimeout, 1)), 0o644)
	}
	done := make(chan result, 1)
	go func() { done <- ds.release(t, spec, "1.1.0") }()
	during(service, ds.awaitContainer(t, service, "stable 1.1.0", 3*time.Minute))
	r := <-done
	wantMap(t, "containers after 1.1.0 ended", ds.containers(t, service), map[string]int{"stable 1.0.0 " + d1: 2})
	wantMap(t, "versions through the router after 1.1.0 ended", ds.versions(t, service, 200), map[string]int{"1.0.0": 200})
	return r
}

func (ds *dockerStack) abort(t *testing.T, service string) {
	t.Helper()
	if r := ds.ferry(t, "abort", service, "--version", "1.1.0", "--reason", "abort during promote"); r.code != 0 {
		t.Errorf("abort: exit %d, want 0 (accepted)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestDockerPromoteInterrupted interrupts promotions on real containers behind the real router: an abort
// (canary and blue-green), the router stopped for 10 s, and a new stable set that never gets ready. Each
// time the old version must serve every request afterwards, and the release must say it rolled back.
func TestDockerPromoteInterrupted(t *testing.T) {
	t.Parallel()
	ds := startDockerStack(t)
	t.Run("abort canary", func(t *testing.T) {
		r := ds.promoteCase(t, "{type: canary, steps: [{weight: 100}]}", "", func(service string, _ []string) { ds.abort(t, service) })
		if r.code != 6 {
			t.Errorf("release 1.1.0: exit %d, want 6 (aborted, rolled back)\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("abort blue-green", func(t *testing.T) {
		r := ds.promoteCase(t, "{type: blue-green, scaleDownDelay: 30s}", "", func(service string, _ []string) { ds.abort(t, service) })
		if r.code != 6 {
			t.Errorf("release 1.1.0: exit %d, want 6 (aborted, rolled back)\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("router stopped 10s", func(t *testing.T) {
		r := ds.promoteCase(t, "{type: canary, steps: [{weight: 100}]}", "", func(string, []string) {
			_ = ds.router.Process.Kill()
			_ = ds.router.Wait()
			time.Sleep(10 * time.Second)
			ds.startRouter(t)
		})
		if r.code != 5 {
			t.Errorf("release 1.1.0: exit %d, want 5 (rolled back)\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("new stable set never ready", func(t *testing.T) {
		r := ds.promoteCase(t, "{type: canary, steps: [{weight: 100}]}", "8s", func(service string, ids []string) {
			// A frozen process answers no probe; the engine still stops and removes it.
			if out, err := exec.Command("docker", append([]string{"pause"}, ids...)...).CombinedOutput(); err != nil {
				t.Errorf("docker pause: %v\n%s", err, out)
			}
		})
		if r.code != 5 {
			t.Errorf("release 1.1.0: exit %d, want 5 (rolled back)\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
}

// TestDockerBlueGreenSwitchBack aborts a blue-green release during its scale-down delay, under load through
// the router, and measures how long after the abort was accepted the old version answers every request.
func TestDockerBlueGreenSwitchBack(t *testing.T) {
	ds := startDockerStack(t)
	service := "dk-switch-" + uniqueSuffix()
	ds.cleanup(t, service)
	d1 := ds.push(t, service, "1.0.0")
	ds.push(t, service, "1.1.0")
	if r := ds.release(t, ds.spec(t, service, "{type: rolling}", ""), "1.0.0"); r.code != 0 {
		t.Fatalf("release 1.0.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	done := make(chan result, 1)
	bg := ds.spec(t, service, "{type: blue-green, scaleDownDelay: 2m}", "")
	go func() { done <- ds.release(t, bg, "1.1.0") }()
	deadline := time.Now().Add(3 * time.Minute)
	for fmt.Sprint(ds.weightsOrNil(service)) != "[stable 1.1.0 100]" {
		if time.Now().After(deadline) {
			t.Fatal("1.1.0 never served all traffic on stable")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Requests one after another; lastNew is when the last answer from 1.1.0 arrived.
	var mu sync.Mutex
	var lastNew time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		hc := &http.Client{Timeout: 2 * time.Second}
		for n := 0; n < 20000; n++ {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+ds.proxy+"/", nil)
			req.Host = service + ".staging.localhost"
			resp, err := hc.Do(req)
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.Header.Get("X-Version") == "1.1.0" {
				mu.Lock()
				lastNew = time.Now()
				mu.Unlock()
			}
		}
	})
	start := time.Now()
	ds.abort(t, service)
	accepted := time.Now()
	r := <-done
	close(stop)
	wg.Wait()
	if r.code != 6 {
		t.Errorf("release 1.1.0: exit %d, want 6 (aborted, switched back)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	mu.Lock()
	back := lastNew.Sub(accepted)
	mu.Unlock()
	t.Logf("switch back: last answer from 1.1.0 %v after the abort was accepted (%v after `ferry abort` started)",
		back.Round(time.Millisecond), lastNew.Sub(start).Round(time.Millisecond))
	if back > time.Second {
		t.Errorf("1.1.0 answered %v after the abort was accepted, want under 1s", back)
	}
	wantMap(t, "containers after the switch back", ds.containers(t, service), map[string]int{"stable 1.0.0 " + d1: 2})
	wantMap(t, "versions through the router after the switch back", ds.versions(t, service, 200), map[string]int{"1.0.0": 200})
}

// weightsOrNil is weights without failing the test while the route does not exist yet.
func (ds *dockerStack) weightsOrNil(service string) []string {
	var out []string
	c := &router.Client{BaseURL: "http://" + ds.admin, Token: ds.token}
	st, err := c.Weights(context.Background(), service, "staging")
	if err != nil {
		return nil
	}
	for _, tr := range st.Routing.Tracks {
		out = append(out, fmt.Sprintf("%s %s %d", tr.Name, tr.Version, tr.Weight))
	}
	return out
}
