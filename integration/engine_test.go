package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/dockertest"
)

// engineTraffic is what two engine proxies saw of one service: the requests that name it (in the URL or the
// body, or by the ID of one of its containers), by proxy.
type engineTraffic struct {
	service string
	mu      sync.Mutex
	ids     map[string]bool // the service's containers, as their create answers named them
	seen    map[string][]string
}

func (tr *engineTraffic) saw(proxy string) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.seen[proxy]...)
}

// concerns reports whether a request names the service.
func (tr *engineTraffic) concerns(r *http.Request, body []byte) bool {
	uri, _ := url.QueryUnescape(r.URL.RequestURI())
	if strings.Contains(uri, tr.service) || bytes.Contains(body, []byte(tr.service)) {
		return true
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for id := range tr.ids {
		if strings.Contains(r.URL.Path, id) {
			return true
		}
	}
	return false
}

// engineProxy serves the Docker API of eng on a loopback tcp:// address, reporting engineID as the engine's ID
// in /info when it is set (so that a worker behind it sees another engine than the one behind eng's socket),
// and records in tr the requests about tr's service under name.
func engineProxy(t *testing.T, eng *docker.Client, name, engineID string, tr *engineTraffic) string {
	t.Helper()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "docker"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return eng.API().Dialer()(ctx)
		}},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			return rewriteInfo(resp, engineID, tr)
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if tr.concerns(r, body) {
			tr.mu.Lock()
			tr.seen[name] = append(tr.seen[name], r.Method+" "+r.URL.Path)
			tr.mu.Unlock()
			r = r.WithContext(context.WithValue(r.Context(), serviceRequest{}, true))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return "tcp://" + strings.TrimPrefix(srv.URL, "http://")
}

// serviceRequest marks the context of a request about the traced service.
type serviceRequest struct{}

// rewriteInfo puts engineID into an /info answer, and notes the IDs of the service's new containers.
func rewriteInfo(resp *http.Response, engineID string, tr *engineTraffic) error {
	path := resp.Request.URL.Path
	create := strings.HasSuffix(path, "/containers/create") && resp.Request.Context().Value(serviceRequest{}) != nil
	if resp.StatusCode/100 != 2 || !(create || (engineID != "" && strings.HasSuffix(path, "/info"))) {
		return nil
	}
	var doc map[string]any
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		err = json.Unmarshal(data, &doc)
	}
	if err != nil {
		return err
	}
	if create {
		tr.mu.Lock()
		tr.ids[fmt.Sprint(doc["Id"])] = true
		tr.mu.Unlock()
	} else {
		doc["ID"] = engineID
		data, _ = json.Marshal(doc)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Set("Content-Length", fmt.Sprint(len(data)))
	return nil
}

// startEngineWorker starts a worker on the stack's task queue whose host "local" is dockerHost.
func (ds *dockerStack) startEngineWorker(t *testing.T, name, dockerHost string) *exec.Cmd {
	t.Helper()
	w := exec.Command(stack.bin, ds.workerArgs...)
	w.Env = append(append([]string(nil), ds.env...), "DOCKER_HOST="+dockerHost)
	logFile, _ := os.OpenFile(filepath.Join(stack.logDir, name+"-worker.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	w.Stdout, w.Stderr = logFile, logFile
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(w) })
	return w
}

// TestDockerTwoEnginesOneQueue runs two workers on one task queue whose host "local" are different engines,
// and checks that each release's Docker activities all run on the engine its environment is bound to, and
// that a release whose stable version's engine no worker reaches any more is refused before anything changes.
//
// What it emulates: this machine has one Docker engine. Worker A reaches it through a loopback proxy that passes
// everything through; worker B through one that answers /info with another engine ID, as a second engine
// would. The proxies record every request that names the test's service, so the test sees which worker acted.
// The containers really run on the one engine, so the router reaches them whichever worker started them: the
// test reads who acted from the proxies, not from where the containers run.
func TestDockerTwoEnginesOneQueue(t *testing.T) {
	t.Parallel() // its own router, task queue, workers and service name
	eng := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	realID, err := eng.EngineID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds := newDockerStack(t, eng, stack.address, "ferry-engines-"+uniqueSuffix())
	service := "dk-engines-" + uniqueSuffix()
	ds.cleanup(t, service)
	tr := &engineTraffic{service: service, ids: map[string]bool{}, seen: map[string][]string{}}
	ids := map[string]string{"a": realID, "b": "ferry-it-engine-b-" + uniqueSuffix()}
	workers := map[string]*exec.Cmd{
		"a": ds.startEngineWorker(t, "engine-a", engineProxy(t, eng, "a", "", tr)),
		"b": ds.startEngineWorker(t, "engine-b", engineProxy(t, eng, "b", ids["b"], tr)),
	}
	ds.push(t, service, "1.0.0")
	d2 := ds.push(t, service, "1.1.0")
	ds.push(t, service, "1.2.0")

	// 1.0.0 goes out rolling (a canary needs a stable version), 1.1.0 as a canary: all their Docker activities
	// run on one engine, the one their status names.
	versions := []struct{ version, strategy string }{{"1.0.0", "{type: rolling}"}, {"1.1.0", "{type: canary, steps: [{weight: 50}]}"}}
	for _, v := range versions {
		if r := ds.release(t, ds.spec(t, service, v.strategy, ""), v.version); r.code != 0 {
			t.Fatalf("release %s: exit %d\n%s\n%s", v.version, r.code, r.stdout, r.stderr)
		}
	}
	bound, other := "a", "b"
	if len(tr.saw("a")) == 0 {
		bound, other = "b", "a"
	}
	t.Logf("requests about the service through worker a's engine: %d, through worker b's: %d", len(tr.saw("a")), len(tr.saw("b")))
	if len(tr.saw(bound)) == 0 || len(tr.saw(other)) > 0 {
		t.Fatalf("want exactly one worker to act on the service, got worker a %d times and worker b %d times:\na: %q\nb: %q",
			len(tr.saw("a")), len(tr.saw("b")), tr.saw("a"), tr.saw("b"))
	}
	for _, v := range versions {
		if got := status(t, service, v.version).Environments[0].Engine; got != ids[bound] {
			t.Errorf("release %s: status names engine %q, want %s, the engine of worker %s, which acted", v.version, got, ids[bound], bound)
		}
	}
	wantMap(t, "containers after 1.1.0", ds.containers(t, service), map[string]int{"stable 1.1.0 " + d2: 2})

	// The bound engine's worker goes away: the next release is refused, and nothing changes.
	stop(workers[bound])
	before := len(tr.saw(bound))
	started := time.Now()
	r := ds.release(t, ds.spec(t, service, "{type: canary, steps: [{weight: 50}]}", ""), "1.2.0")
	t.Logf("release 1.2.0 refused after %s", time.Since(started).Round(time.Second))
	if r.code != 4 {
		t.Fatalf("release 1.2.0 with engine %s gone: exit %d, want 4 (failed)\n%s\n%s", ids[bound], r.code, r.stdout, r.stderr)
	}
	st := status(t, service, "1.2.0")
	want := fmt.Sprintf(`staging's stable version 1.1.0 runs on Docker engine %s; this worker's host "local" is engine %s, `+
		"and no worker of engine %[1]s answered within 30s. Nothing was changed.", ids[bound], ids[other])
	if !strings.Contains(st.Environments[0].Reason, want) {
		t.Errorf("refusal: got %q, want it to say %q", st.Environments[0].Reason, want)
	}
	if n := len(tr.saw(other)); n > 0 || len(tr.saw(bound)) != before {
		t.Errorf("the refused release acted on the service: worker %s %q", other, tr.saw(other))
	}
	wantMap(t, "containers after the refusal", ds.containers(t, service), map[string]int{"stable 1.1.0 " + d2: 2})
	wantMap(t, "versions through the router after the refusal", ds.versions(t, service, 20), map[string]int{"1.1.0": 20})
}
