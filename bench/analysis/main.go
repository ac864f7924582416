// Command analysis measures how fast metric analysis takes a bad canary out: the time from fault onset (the
// moment the router starts sending the canary its share of the traffic) to 100 % of the traffic on stable
// again, for each analysis interval given. It prints each figure beside the goal (2 intervals + 5 s) and
// beside what Argo Rollouts' and Flagger's documented settings give for the same interval.
//
//	go run ./bench/analysis                       # intervals 5s and 10s, 2 runs each
//	go run ./bench/analysis -intervals 3s,5s,10s -runs 3
//
// Everything is real and on loopback: the embedded Temporal server, an in-process worker, Ferry's router (in
// this process), two demo app backends (stable, and a canary answering half its requests with 500),
// Debian's prometheus scraping the router every second, and load through the router, bounded by -max-requests
// and by the run's time. The platform is the exec platform, whose commands run this program again
// (-platform) to set the router's weights.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/demoapp"
	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/internal/promtest"
	"github.com/ferryhq/ferry/internal/router"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/worker"
	"github.com/ferryhq/ferry/workflows"
)

const (
	queue   = "ferry-bench-analysis"
	service = "bench"
	env     = "production"
	token   = "bench-token"
	// failureLimit is the analysis' failureLimit, and Argo Rollouts' in the comparison.
	failureLimit = 1
	// flaggerThreshold is the threshold in Flagger's documentation examples (analysis.threshold: 5).
	flaggerThreshold = 5
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-platform" {
		if err := platform(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench/analysis -platform:", err)
			os.Exit(1)
		}
		return
	}
	var intervals string
	var runs int
	var maxRequests int64
	flag.StringVar(&intervals, "intervals", "5s,10s", "analysis intervals to measure, comma-separated (1s..1m)")
	flag.IntVar(&runs, "runs", 2, "runs per interval (1..10)")
	flag.Int64Var(&maxRequests, "max-requests", 500_000, "bound on the requests of each run's load")
	flag.BoolVar(&verbose, "v", false, "log the worker's and the SDK's warnings to stderr")
	flag.Parse()
	runs = min(max(runs, 1), 10)
	var ivs []time.Duration
	for _, s := range strings.Split(intervals, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < time.Second || d > time.Minute {
			fmt.Fprintf(os.Stderr, "bad -intervals %q: want durations of 1s..1m\n", s)
			os.Exit(2)
		}
		ivs = append(ivs, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := run(ctx, ivs, runs, maxRequests, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench/analysis:", err)
		os.Exit(1)
	}
}

// backends are the stable and canary demo apps, and the router in front of them.
type backends struct {
	stable, canary string // base URLs
	traffic, admin string // router listeners, host:port
}

// verbose logs the worker's and the SDK's warnings.
var verbose bool

func run(ctx context.Context, intervals []time.Duration, runs int, maxRequests int64, out io.Writer) error {
	quiet := slog.New(slog.DiscardHandler)
	logger := quiet
	if verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	dir, err := os.MkdirTemp("", "ferry-bench-analysis-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var b backends
	stop := []func(){}
	defer func() {
		for _, f := range slices.Backward(stop) {
			f()
		}
	}()
	for _, v := range []struct {
		url *string
		cfg demoapp.Config
	}{{&b.stable, demoapp.Config{Version: "1.0.0"}}, {&b.canary, demoapp.Config{Version: "1.1.0", ErrorRate: 0.5}}} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: demoapp.Handler(v.cfg)}
		go func() { _ = srv.Serve(l) }()
		stop = append(stop, func() { _ = srv.Close() })
		*v.url = "http://" + l.Addr().String()
	}
	rt, err := router.New(router.Options{Logger: quiet})
	if err != nil {
		return err
	}
	traffic, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.traffic, b.admin = traffic.Addr().String(), admin.Addr().String()
	rctx, rcancel := context.WithCancel(ctx)
	rdone := make(chan struct{})
	go func() { _ = rt.Serve(rctx, traffic, admin, router.ServeOptions{AdminToken: token}); close(rdone) }()
	stop = append(stop, func() { rcancel(); <-rdone })

	prom, err := promtest.Run(dir, b.admin)
	if err != nil {
		return err
	}
	stop = append(stop, prom.Stop)

	srv, err := devserver.Start(ctx, devserver.Options{Port: 0, UIPort: -1, Logger: quiet})
	if err != nil {
		return err
	}
	stop = append(stop, func() { _ = srv.Stop() })
	c, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(logger)})
	if err != nil {
		return err
	}
	stop = append(stop, c.Close)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	w := worker.New(c, worker.Options{TaskQueue: queue, Logger: logger,
		Exec:   activities.ExecPolicy{Root: dir, Allow: []string{self}},
		Config: worker.Config{Prometheus: worker.PrometheusConfig{Address: prom.URL}}})
	if err := w.Start(); err != nil {
		return err
	}
	stop = append(stop, w.Stop)

	fmt.Fprintf(out, "fault onset (canary takes 50 %% of the traffic, half of its answers 500) to 100 %% on stable\n")
	fmt.Fprintf(out, "analysis: error rate > 5 %% fails, failureLimit %d, Prometheus scraping every %s\n", failureLimit, promtest.ScrapeInterval)
	fmt.Fprintf(out, "(Ni): N inconclusive measurements (no data yet) delayed that run\n\n")
	fmt.Fprintf(out, "%-9s %-30s %-14s %-26s %s\n", "interval", "measured (each run)", "goal 2i + 5s", "Argo (failureLimit+1)×i", "Flagger threshold×i")
	version := 0
	for _, iv := range intervals {
		var each []string
		ok := true
		for range runs {
			version++
			d, inconclusive, err := once(ctx, c, b, dir, self, iv, fmt.Sprintf("1.1.%d", version), maxRequests)
			if err != nil {
				return fmt.Errorf("interval %s: %w", iv, err)
			}
			figure := fmt.Sprintf("%.1fs", d.Seconds())
			if inconclusive > 0 {
				figure += fmt.Sprintf("(%di)", inconclusive)
			}
			each = append(each, figure)
			ok = ok && d <= 2*iv+5*time.Second
		}
		verdict := "met"
		if !ok {
			verdict = "MISSED"
		}
		fmt.Fprintf(out, "%-9s %-30s %-14s %-26s %s\n", iv, strings.Join(each, " "),
			fmt.Sprintf("%.0fs %s", (2*iv+5*time.Second).Seconds(), verdict),
			fmt.Sprintf("%.0fs (failureLimit %d)", (time.Duration(failureLimit+1)*iv).Seconds(), failureLimit),
			fmt.Sprintf("%.0fs (threshold %d)", (flaggerThreshold*iv).Seconds(), flaggerThreshold))
	}
	return nil
}

// once routes everything to stable, starts the load, releases a canary that goes bad as soon as it takes
// traffic, and returns the time from its first set-weight above 0 to its set-weight back to 0, and how many
// of its measurements were inconclusive.
func once(ctx context.Context, c client.Client, b backends, dir, self string, interval time.Duration, version string, maxRequests int64) (time.Duration, int, error) {
	rc := &router.Client{BaseURL: "http://" + b.admin, Token: token}
	if err := setRoutes(ctx, rc, b, 0, ""); err != nil {
		return 0, 0, err
	}
	_ = os.Remove(filepath.Join(dir, "calls.log"))
	stopLoad := load(b.traffic, 4, maxRequests)
	defer stopLoad()

	argv := []string{self, "-platform", "http://" + b.admin, b.stable, b.canary, filepath.Join(dir, "calls.log")}
	max := 0.05
	s := spec.Spec{
		Service:  service,
		Image:    spec.Image{Repository: "registry.local/" + service},
		Platform: spec.Platform{Exec: &spec.ExecPlatform{Deploy: argv, SetWeight: argv, Promote: argv, Rollback: argv, Remove: argv}},
		Environments: []spec.Environment{{Name: env, Gate: spec.Gate{Auto: true}, Replicas: 1,
			Strategy: spec.Strategy{Type: spec.StrategyCanary,
				Steps: []spec.Step{{Weight: 50, Bake: spec.Duration(20 * interval)}, {Weight: 100}},
				Analysis: &spec.Analysis{Interval: spec.Duration(interval), FailureLimit: failureLimit,
					// A round that finds no data yet (a slow scrape) is inconclusive; a few are tolerated
					// rather than paused for a person, whom a benchmark does not have.
					MetricAnalysis: spec.MetricAnalysis{Metrics: []string{"error-rate"}, InconclusiveLimit: 3}}}}},
		Metrics: map[string]spec.Metric{"error-rate": {
			Query: `(sum(rate(ferry_router_requests_total{service="{{.Service}}",env="{{.Env}}",track="{{.Track}}",version="{{.Version}}",code=~"5.."}[{{.Interval}}])) or vector(0))` +
				` / sum(rate(ferry_router_requests_total{service="{{.Service}}",env="{{.Env}}",track="{{.Track}}",version="{{.Version}}"}[{{.Interval}}]))`,
			Max: &max}},
	}
	spec.ApplyDefaults(&s)
	if err := spec.Validate(&s); err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 25*interval+2*time.Minute) // the bake, and room for the rest
	defer cancel()
	in := workflows.ReleaseInput{Spec: s, Version: version, GitSHA: "0000000", StartedBy: "bench"}
	run, _, err := starter.Start(ctx, c, starter.StartOptions{TaskQueue: queue, Input: in})
	if err != nil {
		return 0, 0, err
	}
	res, err := starter.Wait(ctx, c, run)
	var outcome *starter.OutcomeError
	if err != nil && !errors.As(err, &outcome) {
		return 0, 0, err
	}
	if res.State != workflows.StateRolledBack {
		return 0, 0, fmt.Errorf("release %s ended %s (%s), want rolled back", version, res.State, res.Reason)
	}
	onset, back, err := weightChanges(filepath.Join(dir, "calls.log"))
	if err != nil {
		return 0, 0, err
	}
	// The inconclusive rounds (no data yet) each delayed the verdict by an interval.
	inconclusive := 0
	if v, err := c.QueryWorkflow(ctx, run.WorkflowID, "", workflows.QueryStatus); err == nil {
		var st workflows.Status
		if v.Get(&st) == nil {
			for _, m := range st.Measurements {
				inconclusive += m.Inconclusive
			}
		}
	}
	return back.Sub(onset), inconclusive, nil
}

// setRoutes sends weight percent of the traffic to the canary backend, as version, and the rest to stable.
func setRoutes(ctx context.Context, rc *router.Client, b backends, weight int, version string) error {
	r := router.Routing{Service: service, Env: env, Hosts: []string{service + "." + env + ".localhost"},
		Tracks: []router.Track{{Name: "stable", Version: "1.0.0", Weight: 100 - weight, Backends: []router.Backend{{URL: b.stable}}}}}
	if weight > 0 {
		r.Tracks = append(r.Tracks, router.Track{Name: "canary", Version: version, Weight: weight, Backends: []router.Backend{{URL: b.canary}}})
	}
	_, err := rc.SetWeights(ctx, r)
	return err
}

// platform is the exec platform's command: it sets the router's weights on set-weight (FERRY_OP and
// FERRY_WEIGHT and FERRY_VERSION, as the worker passes them) and logs "unix-nanos op weight" after the router took them.
func platform(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("want ADMIN_URL STABLE_URL CANARY_URL LOG, got %q", args)
	}
	op := os.Getenv("FERRY_OP")
	weight, _ := strconv.Atoi(os.Getenv("FERRY_WEIGHT"))
	if op == "set-weight" {
		b := backends{stable: args[1], canary: args[2]}
		rc := &router.Client{BaseURL: args[0], Token: token}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := setRoutes(ctx, rc, b, weight, os.Getenv("FERRY_VERSION")); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(args[3], os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%d %s %d\n", time.Now().UnixNano(), op, weight)
	return err
}

// weightChanges reads the platform log: the first set-weight above 0, and the first set-weight 0 after it.
func weightChanges(path string) (onset, back time.Time, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return onset, back, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[1] != "set-weight" {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		w, _ := strconv.Atoi(f[2])
		switch {
		case w > 0 && onset.IsZero():
			onset = time.Unix(0, ns)
		case w == 0 && !onset.IsZero():
			return onset, time.Unix(0, ns), nil
		}
	}
	return onset, back, errors.New("the platform log has no set-weight above 0 followed by one back to 0")
}

// load sends GET / through the router from workers connections until stopped or max requests were sent.
func load(traffic string, workers int, max int64) func() {
	var sent atomic.Int64
	var done atomic.Bool
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() && sent.Add(1) <= max {
				req, _ := http.NewRequest(http.MethodGet, "http://"+traffic+"/", nil)
				req.Host = service + "." + env + ".localhost"
				if resp, err := hc.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	return func() {
		done.Store(true)
		wg.Wait()
		hc.CloseIdleConnections()
	}
}
