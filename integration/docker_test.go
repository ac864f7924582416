package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/dockertest"
	"github.com/ferryhq/ferry/internal/router"
)

// dockerStack is a `ferry router` and a worker on their own task queue, whose Docker platform routes through
// that router, with an in-process OCI registry on loopback.
type dockerStack struct {
	eng        *docker.Client
	registry   string
	proxy      string // the router's traffic listener
	env        []string
	demo       string // the static demo binary
	worker     *exec.Cmd
	workerArgs []string
	router     *exec.Cmd
	routerArgs []string
	admin      string
	token      string
}

// startRouter starts the stack's router and waits until its admin API listens.
func (ds *dockerStack) startRouter(t *testing.T) {
	t.Helper()
	ds.router = background("router", ds.routerArgs...)
	if err := ds.router.Start(); err != nil {
		t.Fatal(err)
	}
	if err := waitPort(ds.admin, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// weights reads the router's weights of service in staging: "stable 1.0.0 50".
func (ds *dockerStack) weights(t *testing.T, service string) []string {
	t.Helper()
	c := &router.Client{BaseURL: "http://" + ds.admin, Token: ds.token}
	st, err := c.Weights(context.Background(), service, "staging")
	if err != nil {
		t.Fatalf("router weights: %v", err)
	}
	var out []string
	for _, tr := range st.Routing.Tracks {
		out = append(out, fmt.Sprintf("%s %s %d", tr.Name, tr.Version, tr.Weight))
	}
	return out
}

// startWorker starts the stack's worker process.
func (ds *dockerStack) startWorker(t *testing.T) {
	t.Helper()
	w := exec.Command(stack.bin, ds.workerArgs...)
	w.Env = ds.env
	logFile, _ := os.OpenFile(filepath.Join(stack.logDir, "docker-worker.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	w.Stdout, w.Stderr = logFile, logFile
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	ds.worker = w
}

const dockerQueue = "ferry-docker"

// startDockerStack needs a Docker engine: without one the test fails under CI=true and is skipped otherwise.
func startDockerStack(t *testing.T) *dockerStack {
	t.Helper()
	return startInstall(t, stack.address, dockerQueue+"-"+uniqueSuffix())
}

// startInstall starts a Docker stack whose worker polls queue on the Temporal server at address. The
// worker's install is its task queue, and the stack's engine client sees that install's containers only.
func startInstall(t *testing.T, address, queue string) *dockerStack {
	t.Helper()
	eng := dockertest.Engine(t)
	eng.UseInstall(queue)
	ds := newDockerStack(t, eng, address, queue)
	ds.startWorker(t)
	t.Cleanup(func() { stop(ds.worker) })
	return ds
}

// newDockerStack starts the router and prepares the registry, the demo binary and the worker arguments of a
// stack on eng whose workers poll queue on the Temporal server at address; it starts no worker.
func newDockerStack(t *testing.T, eng *docker.Client, address, queue string) *dockerStack {
	t.Helper()
	ds := &dockerStack{eng: eng}
	ds.registry = dockertest.Registry(t)

	ds.demo = filepath.Join(t.TempDir(), "demoapp")
	build := exec.Command("go", "build", "-o", ds.demo, "../testdata/demoapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the demo service: %v\n%s", err, out)
	}

	listen, admin := fmt.Sprintf("127.0.0.1:%d", freePort()), fmt.Sprintf("127.0.0.1:%d", freePort())
	ds.proxy = listen
	const token = "docker-it-token"
	ds.admin, ds.token = admin, token
	ds.routerArgs = []string{"router", "--listen", listen, "--admin", admin, "--admin-token", token,
		"--state", filepath.Join(t.TempDir(), "routes.json")}
	ds.startRouter(t)
	t.Cleanup(func() { stop(ds.router) })
	ds.env = append(ferryEnv(), "FERRY_TASK_QUEUE="+queue, "TEMPORAL_ADDRESS="+address)
	ds.workerArgs = []string{"worker", "--router-admin", "http://" + admin, "--router-token", token}
	return ds
}

// push builds the demo image FROM scratch for version (a label makes each version's digest its own) and pushes
// it as <registry>/<service>:<version>.
func (ds *dockerStack) push(t *testing.T, service, version string) string {
	t.Helper()
	return ds.pushAs(t, service, version, version)
}

// pushAs pushes the demo image whose label says content as <registry>/<service>:<tag>.
func (ds *dockerStack) pushAs(t *testing.T, service, content, tag string) string {
	t.Helper()
	version := content
	dir := t.TempDir()
	bin, err := os.ReadFile(ds.demo)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "demoapp"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// The service's label comes first, so that no layer of this image is shared with another test's: tests run in
	// parallel on one engine, and one's cleanup must never remove a cached layer that another's build builds on.
	df := fmt.Sprintf("FROM scratch\nLABEL ferry.it.service=%s\nCOPY demoapp /demoapp\nLABEL demo.version=%s\nEXPOSE 8080\nENTRYPOINT [\"/demoapp\"]\n", service, version)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := ds.eng.Build(ctx, docker.BuildRequest{ContextDir: dir, Labels: map[string]string{"ferry.it": service}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := ds.registry + "/" + service + ":" + tag
	digest, err := ds.eng.TagAndPush(ctx, id, []string{ref}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return digest
}

// cleanup removes the service's containers and then its images, whatever the test left behind.
func (ds *dockerStack) cleanup(t *testing.T, service string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, env := range []string{"staging"} {
			if _, err := ds.eng.Remove(ctx, service, env, "", time.Second); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if _, err := ds.eng.RemoveImages(ctx, ds.registry+"/"+service); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

func (ds *dockerStack) ferry(t *testing.T, args ...string) result {
	t.Helper()
	return ferryEnvArgs(t, ds.env, args...)
}

// dockerSpec is a one-environment spec on the Docker platform with the given strategy and config lines.
func (ds *dockerStack) spec(t *testing.T, service, strategy, config string) string {
	t.Helper()
	s := fmt.Sprintf(`service: %s
image: {repository: %s/%s}
platform:
  docker:
    port: 8080
    readiness: {path: /readyz, interval: 200ms, timeout: 20s}
    stopTimeout: 2s
environments:
  - name: staging
    replicas: 2
    strategy: %s
%s`, service, ds.registry, service, strategy, config)
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// versions sends n requests through the router for service and counts the X-Version of the answers.
func (ds *dockerStack) versions(t *testing.T, service string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	hc := &http.Client{Timeout: 5 * time.Second}
	for range n {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ds.proxy+"/", nil)
		req.Host = service + ".staging.localhost"
		resp, err := hc.Do(req)
		if err != nil {
			got["error: "+err.Error()]++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			got[fmt.Sprintf("status %d", resp.StatusCode)]++
			continue
		}
		got[resp.Header.Get("X-Version")]++
	}
	return got
}

// containers lists the running containers of service by track and version: "stable 1.0.0 sha256:...".
func (ds *dockerStack) containers(t *testing.T, service string) map[string]int {
	t.Helper()
	cts, err := ds.eng.List(context.Background(), service, "staging")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, c := range cts {
		if c.State == "running" {
			got[c.Track+" "+c.Version+" "+c.Digest]++
		}
	}
	return got
}

func (ds *dockerStack) release(t *testing.T, specPath, version string) result {
	t.Helper()
	return ds.ferry(t, "start", "--spec", specPath, "--version", version, "--git-sha", "0a1b2c3", "--wait", "--timeout", "5m")
}

func wantMap(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// TestDockerStrategies releases two versions of the demo service with each strategy on real containers behind
// the real router, and checks the containers' labels and counts and which version answers through the router.
func TestDockerStrategies(t *testing.T) {
	t.Parallel()
	ds := startDockerStack(t)
	for _, st := range []struct{ name, strategy string }{
		{"rolling", "{type: rolling, maxSurge: 1, maxUnavailable: 0}"},
		{"recreate", "{type: recreate}"},
		{"blue-green", "{type: blue-green, scaleDownDelay: 1s}"},
		{"canary", "{type: canary, steps: [{weight: 50}]}"},
	} {
		t.Run(st.name, func(t *testing.T) {
			service := "dk-" + st.name + "-" + uniqueSuffix()
			ds.cleanup(t, service)
			d1, d2 := ds.push(t, service, "1.0.0"), ds.push(t, service, "1.1.0")
			spec := ds.spec(t, service, st.strategy, "")
			first := spec
			if st.name == "canary" {
				// A canary needs a stable version: the first one goes out rolling.
				first = ds.spec(t, service, "{type: rolling}", "")
			}
			for _, v := range []struct{ version, digest, spec string }{{"1.0.0", d1, first}, {"1.1.0", d2, spec}} {
				if r := ds.release(t, v.spec, v.version); r.code != 0 {
					t.Fatalf("release %s: exit %d\n%s\n%s", v.version, r.code, r.stdout, r.stderr)
				}
				wantMap(t, "containers after "+v.version, ds.containers(t, service), map[string]int{"stable " + v.version + " " + v.digest: 2})
				wantMap(t, "versions through the router after "+v.version, ds.versions(t, service, 40), map[string]int{v.version: 40})
			}
		})
	}
}

// TestDockerBadVersionRollsBack releases a version whose readiness never comes as a canary: the release rolls
// back, its containers are gone and all traffic reaches the old digest.
func TestDockerBadVersionRollsBack(t *testing.T) {
	t.Parallel()
	ds := startDockerStack(t)
	service := "dk-bad-" + uniqueSuffix()
	ds.cleanup(t, service)
	d1 := ds.push(t, service, "1.0.0")
	ds.push(t, service, "1.1.0")
	strategy := "{type: canary, steps: [{weight: 50}]}"
	if r := ds.release(t, ds.spec(t, service, "{type: rolling}", ""), "1.0.0"); r.code != 0 {
		t.Fatalf("release 1.0.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	bad := ds.spec(t, service, strategy, "    config: {DEMO_READY_DELAY: 1h}\n")
	if r := ds.release(t, bad, "1.1.0"); r.code == 0 {
		t.Fatalf("release 1.1.0 of a version never ready: exit 0, want a failure\n%s", r.stdout)
	}
	wantMap(t, "containers after the rollback", ds.containers(t, service), map[string]int{"stable 1.0.0 " + d1: 2})
	wantMap(t, "versions through the router after the rollback", ds.versions(t, service, 40), map[string]int{"1.0.0": 40})
}

// uniqueSuffix names what one test creates, apart from what other tests (running in parallel, or before on
// the same engine) created: the time for runs of the package, a counter for tests within one run.
func uniqueSuffix() string {
	return fmt.Sprintf("%x%x", time.Now().UnixNano()&0xffffff, suffixes.Add(1))
}

var suffixes atomic.Int64

// TestDockerWorkerKilledDuringRollingDeploy kills the worker (SIGKILL) while a rolling deploy replaces the
// stable containers, starts another, and checks that the deploy converges to exactly the declared replicas.
func TestDockerWorkerKilledDuringRollingDeploy(t *testing.T) {
	t.Parallel()
	ds := startDockerStack(t)
	service := "dk-kill-" + uniqueSuffix()
	ds.cleanup(t, service)
	ds.push(t, service, "1.0.0")
	d2 := ds.push(t, service, "1.1.0")
	strategy := "{type: rolling, maxSurge: 1, maxUnavailable: 0}"
	if r := ds.release(t, ds.spec(t, service, strategy, ""), "1.0.0"); r.code != 0 {
		t.Fatalf("release 1.0.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Each new container takes 3s to be ready, so the roll is under way for a while.
	slow := ds.spec(t, service, strategy, "    config: {DEMO_READY_DELAY: 3s}\n")
	done := make(chan result, 1)
	go func() { done <- ds.release(t, slow, "1.1.0") }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if cts := ds.containers(t, service); cts["stable 1.1.0 "+d2] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no container of 1.1.0 started within 2m")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = ds.worker.Process.Kill()
	_ = ds.worker.Wait()
	ds.startWorker(t)
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("release 1.1.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("release 1.1.0 did not end within 5m")
	}
	wantMap(t, "containers after the restarted deploy", ds.containers(t, service), map[string]int{"stable 1.1.0 " + d2: 2})
	wantMap(t, "versions through the router", ds.versions(t, service, 40), map[string]int{"1.1.0": 40})
}

// TestDockerRouterKilledMidCanary kills the router (SIGKILL) while a canary holds half the traffic, restarts it
// with the same state file, and checks that the weights are back and the release completes.
func TestDockerRouterKilledMidCanary(t *testing.T) {
	t.Parallel()
	ds := startDockerStack(t)
	service := "dk-router-" + uniqueSuffix()
	ds.cleanup(t, service)
	ds.push(t, service, "1.0.0")
	d2 := ds.push(t, service, "1.1.0")
	if r := ds.release(t, ds.spec(t, service, "{type: rolling}", ""), "1.0.0"); r.code != 0 {
		t.Fatalf("release 1.0.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The pause holds the canary at 50 % until the test resumes it.
	done := make(chan result, 1)
	spec := ds.spec(t, service, "{type: canary, steps: [{weight: 50}, {pause: {}}]}", "")
	go func() { done <- ds.release(t, spec, "1.1.0") }()
	want := "[canary 1.1.0 50 stable 1.0.0 50]"
	deadline := time.Now().Add(3 * time.Minute)
	for {
		c := &router.Client{BaseURL: "http://" + ds.admin, Token: ds.token}
		if st, err := c.Weights(context.Background(), service, "staging"); err == nil && len(st.Routing.Tracks) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the canary never took traffic within 3m")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := fmt.Sprint(ds.weights(t, service)); got != want {
		t.Fatalf("weights before the kill: got %s, want %s", got, want)
	}
	_ = ds.router.Process.Kill()
	_ = ds.router.Wait()
	ds.startRouter(t)
	if got := fmt.Sprint(ds.weights(t, service)); got != want {
		t.Errorf("weights after the restart: got %s, want %s", got, want)
	}
	got := ds.versions(t, service, 200)
	if got["1.0.0"] == 0 || got["1.1.0"] == 0 || got["1.0.0"]+got["1.1.0"] != 200 {
		t.Errorf("versions through the restarted router: got %v, want both versions and no errors", got)
	}
	if r := ds.ferry(t, "resume", service, "--version", "1.1.0"); r.code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := waitResult(t, done, 3*time.Minute); r.code != 0 {
		t.Fatalf("release 1.1.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	wantMap(t, "containers after the release", ds.containers(t, service), map[string]int{"stable 1.1.0 " + d2: 2})
}

// loadStats counts the requests a load run sent through the router and how they were answered.
type loadStats struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	versions     map[string]int
	errors       []string // the first few failures
}

func (s *loadStats) record(version, failure string) {
	s.sent.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if failure != "" {
		s.failed.Add(1)
		if len(s.errors) < 10 {
			s.errors = append(s.errors, failure)
		}
		return
	}
	s.versions[version]++
}

// load sends GET / for service's staging route through the router from workers connections, until stop is
// called or max requests were sent, and returns the counts and stop. Each request has its own time bound, and
// stop lets the requests in flight finish, so that stopping fails none.
func (ds *dockerStack) load(service string, workers int, max int64) (*loadStats, func()) {
	s := &loadStats{versions: map[string]int{}}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var done atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() && s.sent.Load() < max {
				req, _ := http.NewRequest(http.MethodGet, "http://"+ds.proxy+"/", nil)
				req.Host = service + ".staging.localhost"
				resp, err := hc.Do(req)
				if err != nil {
					s.record("", err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					s.record("", fmt.Sprintf("status %d from %s", resp.StatusCode, resp.Header.Get("X-Version")))
					continue
				}
				s.record(resp.Header.Get("X-Version"), "")
			}
		}()
	}
	return s, func() {
		done.Store(true)
		wg.Wait()
		hc.CloseIdleConnections()
	}
}

// awaitWeight waits until the router sends weight percent of service's traffic to track.
func (ds *dockerStack) awaitWeight(t *testing.T, service, track string, weight int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, w := range ds.weights(t, service) {
			var name, version string
			var got int
			if _, err := fmt.Sscanf(w, "%s %s %d", &name, &version, &got); err == nil && name == track && got == weight {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the router does not send %d %% to %s within %v: %v", weight, track, within, ds.weights(t, service))
}

// awaitSent waits until s has sent n more requests than it had when called.
func awaitSent(t *testing.T, s *loadStats, n int64, within time.Duration) {
	t.Helper()
	target := s.sent.Load() + n
	deadline := time.Now().Add(within)
	for s.sent.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("sent %d requests, want %d within %v", s.sent.Load(), target, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loadRequests is the acceptance figure: at least this many requests through the router during a full canary
// and a blue-green switch, none failing.
const loadRequests = 50_000

// TestDockerLoadThroughCanaryAndBlueGreen keeps requests flowing through the router while a canary goes
// 10 → 50 → 100 % (each step held until a share of the load went through it) and then a blue-green release
// switches: none of at least 50,000 requests may fail.
func TestDockerLoadThroughCanaryAndBlueGreen(t *testing.T) {
	ds := startDockerStack(t)
	service := "dk-load-" + uniqueSuffix()
	ds.cleanup(t, service)
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		ds.push(t, service, v)
	}
	canary := ds.spec(t, service, "{type: canary, steps: [{weight: 10}, {pause: {}}, {weight: 50}, {pause: {}}, {weight: 100}]}", "")
	blueGreen := ds.spec(t, service, "{type: blue-green, scaleDownDelay: 1s}", "")
	if r := ds.release(t, blueGreen, "1.0.0"); r.code != 0 {
		t.Fatalf("release 1.0.0: exit %d\n%s", r.code, r.stderr)
	}

	s, stop := ds.load(service, 8, 4*loadRequests)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	began := time.Now()
	done := make(chan result, 1)
	go func() { done <- ds.release(t, canary, "1.1.0") }()
	for _, weight := range []int{10, 50} {
		ds.awaitWeight(t, service, "canary", weight, 3*time.Minute)
		awaitSent(t, s, loadRequests/4, 3*time.Minute)
		if r := ds.ferry(t, "promote", service, "--version", "1.1.0"); r.code != 0 {
			t.Fatalf("promote at %d %%: exit %d\n%s", weight, r.code, r.stderr)
		}
	}
	if r := <-done; r.code != 0 {
		t.Fatalf("release 1.1.0 (canary): exit %d\n%s", r.code, r.stderr)
	}
	if r := ds.release(t, blueGreen, "1.2.0"); r.code != 0 {
		t.Fatalf("release 1.2.0 (blue-green): exit %d\n%s", r.code, r.stderr)
	}
	// Past the switch, the rest of the acceptance figure goes to the new version alone.
	if left := loadRequests - s.sent.Load(); left > 0 {
		awaitSent(t, s, left, 3*time.Minute)
	}
	stop()
	stopped = true
	took := time.Since(began)

	sent, failed := s.sent.Load(), s.failed.Load()
	t.Logf("load: %d requests in %v (%.0f/s) through a canary 10 → 50 → 100 %% and a blue-green switch; %d failed; by version %v",
		sent, took.Round(time.Millisecond), float64(sent)/took.Seconds(), failed, s.versions)
	if failed != 0 {
		t.Errorf("%d of %d requests failed; the first: %v", failed, sent, s.errors)
	}
	if sent < loadRequests {
		t.Errorf("sent %d requests, want at least %d", sent, loadRequests)
	}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		if s.versions[v] == 0 {
			t.Errorf("no request reached %s: %v", v, s.versions)
		}
	}
	if got := ds.versions(t, service, 50); got["1.2.0"] != 50 {
		t.Errorf("after the switch: %v, want all 50 on 1.2.0", got)
	}
}
