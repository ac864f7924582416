package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/router"
)

// Bounds of TestDockerCanaryShareWhileStableRestarts.
const (
	shareRequests = 2000
	// sharePace spreads the requests over about 40 s, so that they meet several restarts.
	sharePace     = 20 * time.Millisecond
	restartEvery  = 5 * time.Second
	restartRounds = 10
)

// TestDockerCanaryShareWhileStableRestarts holds a canary at 10 % while both stable containers restart again
// and again (each takes 3 s after a start to be ready), and sends 2,000 requests through the router meanwhile:
// the canary's share of all of them stays at 10 ± 3 %. While no stable container is ready, stable's 90 % is
// answered 503 by the router; it is never given to the canary.
func TestDockerCanaryShareWhileStableRestarts(t *testing.T) {
	t.Parallel()
	ds := startDockerStack(t)
	// Checks every 250 ms, so that the router takes the restarting containers out and back in within the test.
	stop(ds.router)
	ds.routerArgs = append(ds.routerArgs, "--health-interval", "250ms")
	ds.startRouter(t)
	service := "dk-restart-" + uniqueSuffix()
	ds.cleanup(t, service)
	ds.push(t, service, "1.0.0")
	ds.push(t, service, "1.1.0")
	if r := ds.release(t, ds.spec(t, service, "{type: rolling}", "    config: {DEMO_READY_DELAY: 3s}\n"), "1.0.0"); r.code != 0 {
		t.Fatalf("release 1.0.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	done := make(chan result, 1)
	canary := ds.spec(t, service, "{type: canary, steps: [{weight: 10}, {pause: {}}]}", "")
	go func() { done <- ds.release(t, canary, "1.1.0") }()
	ds.awaitWeight(t, service, "canary", 10, 3*time.Minute)
	ids := ds.awaitContainer(t, service, "stable 1.0.0", time.Minute)

	ctx, cancel := context.WithCancel(context.Background())
	restarts := make(chan int, 1)
	go func() { restarts <- restartLoop(ctx, t, ids) }()
	counts, took := ds.pacedVersions(t, service)
	cancel()
	rounds := <-restarts

	canaryShare := float64(counts["1.1.0"]) / shareRequests * 100
	t.Logf("%d requests in %v during %d restarts of both stable containers: canary %.1f %%; answers %v",
		shareRequests, took.Round(time.Millisecond), rounds, canaryShare, counts)
	if canaryShare < 7 || canaryShare > 13 {
		t.Errorf("canary share: got %.1f %% (%v), want 10 ± 3 %%", canaryShare, counts)
	}
	if counts["503 no healthy backend in track stable"] == 0 {
		t.Errorf("no request found stable without a ready container (%v): the restarts did not take it out", counts)
	}
	if r := ds.ferry(t, "abort", service, "--version", "1.1.0", "--reason", "end of the test"); r.code != 0 {
		t.Errorf("abort: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := waitResult(t, done, 3*time.Minute); r.code != 6 {
		t.Errorf("release 1.1.0: exit %d, want 6 (aborted, rolled back)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// restartLoop restarts the containers ids at once (SIGKILL, no grace) every restartEvery, at most
// restartRounds times, until ctx ends, and returns how many rounds it ran.
func restartLoop(ctx context.Context, t *testing.T, ids []string) int {
	rounds := 0
	tick := time.NewTicker(restartEvery)
	defer tick.Stop()
	for rounds < restartRounds {
		select {
		case <-ctx.Done():
			return rounds
		case <-tick.C:
		}
		cmd := exec.Command("docker", append([]string{"restart", "--time", "0"}, ids...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker restart: %v\n%s", err, out)
			return rounds
		}
		rounds++
	}
	return rounds
}

// pacedVersions sends shareRequests requests through the router for service, one every sharePace (or as soon
// as the last one answered), and counts them: by X-Version for a 200, "503 <the router's reason>" for the
// router's own 503, "status N" for other codes, "error" for failed requests. It returns the counts and how long
// the requests took; the whole run is bounded by 2 minutes.
func (ds *dockerStack) pacedVersions(t *testing.T, service string) (map[string]int, time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	defer hc.CloseIdleConnections()
	counts := map[string]int{}
	tick := time.NewTicker(sharePace)
	defer tick.Stop()
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	for range shareRequests {
		if time.Now().After(deadline) {
			t.Fatalf("sent fewer than %d requests within 2m: %v", shareRequests, counts)
		}
		<-tick.C
		req, _ := http.NewRequest(http.MethodGet, "http://"+ds.proxy+"/", nil)
		req.Host = service + ".staging.localhost"
		key := "error"
		if resp, err := hc.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch refused := resp.Header.Get(router.HeaderRefused); {
			case resp.StatusCode == http.StatusOK:
				key = resp.Header.Get("X-Version")
			case resp.StatusCode == http.StatusServiceUnavailable && refused != "":
				key = "503 " + refused
			default:
				key = fmt.Sprintf("status %d %.40s", resp.StatusCode, strings.TrimSpace(string(body)))
			}
		}
		counts[key]++
	}
	return counts, time.Since(start)
}
