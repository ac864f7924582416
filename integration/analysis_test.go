package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/promtest"
	"github.com/ferryhq/ferry/workflows"
)

// analysisStack is a dockerStack whose worker queries a real Prometheus that scrapes the stack's router.
type analysisStack struct {
	*dockerStack
	prom *promtest.Server
	// configs, analyses and extraMetrics are the spec lines of each version that differ from the default.
	configs, analyses, extraMetrics map[string]string
}

func startAnalysisStack(t *testing.T) *analysisStack {
	t.Helper()
	ds := startDockerStack(t)
	prom := promtest.Start(t, ds.admin) // the router serves /metrics on its admin listener
	// The stack's worker knows no Prometheus: replace it with one that does.
	stop(ds.worker)
	ds.workerArgs = append(ds.workerArgs, "--prometheus-address", prom.URL)
	ds.startWorker(t)
	return &analysisStack{dockerStack: ds, prom: prom,
		configs: map[string]string{}, analyses: map[string]string{}, extraMetrics: map[string]string{}}
}

// specFor writes the spec that releases version: a 21 s bake at 50 %, with that version's lines.
func (as *analysisStack) specFor(t *testing.T, service, version string) string {
	t.Helper()
	analysis := as.analyses[version]
	if analysis == "" {
		analysis = defaultAnalysis
	}
	return as.analysisSpec(t, service, "21s", analysis, as.configs[version], as.extraMetrics[version])
}

// analysisMetrics are the spec's metrics over the router's series of the release's service and track, on a
// window of a few scrapes. "or vector(0)" makes a track with traffic and no 5xx an error rate of 0; a track
// without traffic gives no data, which is inconclusive.
const analysisMetrics = `metrics:
  error-rate:
    query: >-
      (sum(rate(ferry_router_requests_total{service="{{.Service}}",env="{{.Env}}",track="{{.Track}}",version="{{.Version}}",code=~"5.."}[10s])) or vector(0))
      / sum(rate(ferry_router_requests_total{service="{{.Service}}",env="{{.Env}}",track="{{.Track}}",version="{{.Version}}"}[10s]))
    max: 0.05
  latency-p99:
    query: >-
      histogram_quantile(0.99, sum by (le) (rate(ferry_router_request_duration_seconds_bucket{service="{{.Service}}",env="{{.Env}}",track="{{.Track}}",version="{{.Version}}"}[10s])))
    max: 0.2
  throughput:
    kind: throughput
    query: sum(rate(ferry_router_requests_total{service="{{.Service}}",env="{{.Env}}",track="{{.Track}}",version="{{.Version}}"}[10s]))
  latency-vs-stable:
    compare: baseline
    query: >-
      histogram_quantile(0.5, sum by (le) (rate(ferry_router_request_duration_seconds_bucket{service="{{.Service}}",env="{{.Env}}",track="{{.Track}}",version="{{.Version}}"}[10s])))
`

// analysisSpec is a canary at 50 % for bake, analysed every 3 s by the metrics once their 10 s windows hold
// only traffic at that weight (before, stable's rate still counts the whole traffic and throughput looks low), with config lines for the new
// version (the demo's DEMO_ERROR_RATE and DEMO_LATENCY make it bad).
func (as *analysisStack) analysisSpec(t *testing.T, service, bake, analysis, config, extraMetrics string) string {
	t.Helper()
	strategy := fmt.Sprintf(`
      type: canary
      steps: [{weight: 50, bake: %s}]
      analysis:
        interval: 3s
        initialDelay: 10s
%s`, bake, analysis)
	return as.spec(t, service, strategy, config+analysisMetrics+extraMetrics)
}

const defaultAnalysis = `        failureLimit: 1
        inconclusiveLimit: 2
        metrics: [error-rate, latency-p99, throughput, latency-vs-stable]
        dryRun: [latency-vs-stable]
`

// status returns the release's status as `ferry status --output json` gives it.
func (as *analysisStack) status(t *testing.T, service, version string) workflows.Status {
	t.Helper()
	r := as.ferry(t, "status", service, "--version", version, "--output", "json")
	var st workflows.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status: exit %d: %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	return st
}

// measured returns the latest analysis measurement of metric.
func measured(st workflows.Status, metric string) *workflows.MeasurementStatus {
	for i, m := range st.Measurements {
		if m.Metric == metric && m.Kind == "analysis" {
			return &st.Measurements[i]
		}
	}
	return nil
}

// TestDockerAnalysis runs canaries of the demo service behind the real router, with load through it, judged
// by a real Prometheus that scrapes the router: a good version promotes; one that answers half its requests
// with 500 rolls back on its error rate; one that adds 300 ms to every request rolls back on its p99; and
// with Prometheus stopped, measurements are errors or inconclusive, never passes.
func TestDockerAnalysis(t *testing.T) {
	t.Parallel()
	as := startAnalysisStack(t)
	service := "dk-analysis-" + uniqueSuffix()
	as.cleanup(t, service)
	digests := map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0"} {
		digests[v] = as.push(t, service, v)
	}
	if r := as.release(t, as.spec(t, service, "{type: blue-green, scaleDownDelay: 1s}", ""), "1.0.0"); r.code != 0 {
		t.Fatalf("release 1.0.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Bounded load: 4 connections, at most 400,000 requests, stopped when the test ends.
	load, stopLoad := as.load(service, 4, 400_000)
	defer stopLoad()
	awaitSent(t, load, 200, time.Minute)

	stable := "1.0.0"
	rolledBack := func(t *testing.T, version, metric string) {
		t.Helper()
		r := as.release(t, as.specFor(t, service, version), version)
		if r.code == 0 {
			t.Fatalf("release %s: exit 0, want a rollback\n%s", version, r.stdout)
		}
		st := as.status(t, service, version)
		if st.State != workflows.StateRolledBack || !strings.Contains(st.Reason, "metric "+metric) {
			t.Errorf("release %s: got %s %q, want rolled back on %s", version, st.State, st.Reason, metric)
		}
		if m := measured(st, metric); m == nil || m.Verdict != "failed" || m.Value == nil {
			t.Errorf("release %s: got measurement %+v of %s, want a failed value", version, m, metric)
		} else {
			t.Logf("%s rolled back: %s = %s (%s) [%s]", version, metric, workflows.FormatValue(m.Value), m.Detail, m.Query)
		}
		wantMap(t, "containers after the rollback", as.containers(t, service), map[string]int{"stable " + stable + " " + digests[stable]: 2})
		wantMap(t, "versions through the router after the rollback", as.versions(t, service, 20), map[string]int{stable: 20})
	}

	t.Run("errors roll back", func(t *testing.T) {
		as.configs["1.1.0"] = "    config: {DEMO_ERROR_RATE: 0.5}\n"
		rolledBack(t, "1.1.0", "error-rate")
	})
	t.Run("latency rolls back", func(t *testing.T) {
		as.configs["1.2.0"] = "    config: {DEMO_LATENCY: 300ms}\n"
		rolledBack(t, "1.2.0", "latency-p99")
	})
	t.Run("good version promotes", func(t *testing.T) {
		r := as.release(t, as.specFor(t, service, "1.3.0"), "1.3.0")
		if r.code != 0 {
			t.Fatalf("release 1.3.0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		st := as.status(t, service, "1.3.0")
		for _, metric := range []string{"error-rate", "latency-p99", "throughput"} {
			m := measured(st, metric)
			if m == nil || m.Verdict != "successful" || m.Measured < 1 || m.Value == nil {
				t.Errorf("got %s measurement %+v, want a successful value", metric, m)
				continue
			}
			t.Logf("1.3.0 %s = %s vs baseline %s (%d measured): %s", metric, workflows.FormatValue(m.Value), workflows.FormatValue(m.Baseline), m.Measured, m.Detail)
		}
		if m := measured(st, "latency-vs-stable"); m == nil || !m.DryRun {
			t.Errorf("got latency-vs-stable %+v, want a dry-run measurement", m)
		}
		stable = "1.3.0"
		if got := as.versions(t, service, 20); got["1.3.0"] != 20 {
			t.Errorf("versions through the router after the promotion: %v, want all on 1.3.0", got)
		}
	})

	// An unreachable Prometheus: stop the real one.
	as.prom.Stop()
	t.Run("unreachable Prometheus errs", func(t *testing.T) {
		as.analyses["1.4.0"] = "        consecutiveErrorLimit: 1\n        metrics: [error-rate]\n"
		r := as.release(t, as.specFor(t, service, "1.4.0"), "1.4.0")
		if r.code == 0 {
			t.Fatalf("release 1.4.0 without Prometheus: exit 0, want a rollback\n%s", r.stdout)
		}
		st := as.status(t, service, "1.4.0")
		m := measured(st, "error-rate")
		if st.State != workflows.StateRolledBack || !strings.Contains(st.Reason, "2 errors in a row, limit 1") || m == nil || m.Verdict != "error" {
			t.Errorf("got %s %q, measurement %+v, want rolled back after 2 errors", st.State, st.Reason, m)
		}
	})
	t.Run("unreachable Prometheus is inconclusive", func(t *testing.T) {
		as.analyses["1.5.0"] = "        metrics: [error-rate-or-pause]\n"
		as.extraMetrics["1.5.0"] = "  error-rate-or-pause:\n    query: sum(rate(ferry_router_requests_total[10s]))\n    max: 1e9\n    onError: inconclusive\n"
		done := make(chan result, 1)
		go func() { done <- as.release(t, as.specFor(t, service, "1.5.0"), "1.5.0") }()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			st := as.status(t, service, "1.5.0")
			if st.Paused && strings.Contains(st.Waiting, "inconclusive") {
				if m := measured(st, "error-rate-or-pause"); m == nil || m.Verdict != "inconclusive" {
					t.Errorf("got measurement %+v, want inconclusive", m)
				}
				break
			}
			if st.State != "" && st.State != workflows.StateRunning || time.Now().After(deadline) {
				t.Fatalf("got %s %q waiting %q, want a pause on the inconclusive metric", st.State, st.Reason, st.Waiting)
			}
			time.Sleep(time.Second)
		}
		if r := as.ferry(t, "abort", service, "--version", "1.5.0", "--reason", "no metrics"); r.code != 0 {
			t.Fatalf("abort: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if r := <-done; r.code == 0 {
			t.Errorf("release 1.5.0 after abort: exit 0, want a failure")
		}
		st := as.status(t, service, "1.5.0")
		if st.State != workflows.StateAborted || st.Environments[0].State != workflows.StateRolledBack {
			t.Errorf("got %s (env %s), want aborted and rolled back", st.State, st.Environments[0].State)
		}
		wantMap(t, "containers after the abort", as.containers(t, service), map[string]int{"stable " + stable + " " + digests[stable]: 2})
	})

	stopLoad()
	if load.sent.Load() == 0 {
		t.Error("the load sent no requests")
	}
	t.Logf("load: %d requests, %d failed (answers other than 200, mostly the error version's 500s); by version %v",
		load.sent.Load(), load.failed.Load(), load.versions)
}

// failClosedSpec is a blue-green release judged by one metric, watched for one second.
const failClosedSpec = execPlatformSpec + `environments:
  - name: production
    strategy:
      type: blue-green
      scaleDownDelay: 1s
      analysis: {interval: 1s, metrics: [error-rate]}
metrics:
  error-rate:
    query: sum(rate(ferry_router_requests_total{service="{{.Service}}",code=~"5.."}[10s]))
    max: 0.05
`

// TestAnalysisFailsClosed releases a blue-green service judged by a metric on a worker whose Prometheus was
// stopped: the watch ends with errors only, no evidence, and the release rolls back instead of promoting. A
// worker without any Prometheus refuses the same spec at admission, naming the field and the remedy.
func TestAnalysisFailsClosed(t *testing.T) {
	t.Parallel()
	prom := promtest.Start(t)
	prom.Stop() // a real server that was there, and is gone
	queue := "fail-closed-" + uniqueSuffix()
	w := background("worker-fail-closed", "worker", "--task-queue", queue, "--exec-root", stack.execRoot,
		"--exec-allow", stack.execRoot+"/**", "--prometheus-address", prom.URL)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer stop(w)
	a := newApp(t, "fail-closed", failClosedSpec, nil)

	r := ferryEnvArgs(t, append(ferryEnv(), "FERRY_TASK_QUEUE="+queue),
		"start", "--spec", a.spec(), "--version", "1.0.0", "--git-sha", "0a1b2c3", "--wait")
	s := status(t, "fail-closed", "1.0.0")
	if r.code == 0 || s.State != workflows.StateRolledBack || !strings.Contains(s.Reason, "no evidence: metric error-rate") {
		t.Errorf("unreachable Prometheus: got exit %d, %s %q, want rolled back on no evidence\n%s", r.code, s.State, s.Reason, r.stderr)
	}
	for _, c := range a.calls() {
		if strings.HasPrefix(c, "promote") {
			t.Errorf("got %q, want no promotion", c)
		}
	}

	r = a.start("1.0.1", "--wait") // the shared worker has no Prometheus
	s = status(t, "fail-closed", "1.0.1")
	want := "environments[0].strategy.analysis.metrics: this worker cannot measure metrics: no Prometheus is configured; start the worker with --prometheus-address"
	if r.code == 0 || !strings.Contains(s.Reason, want) {
		t.Errorf("no Prometheus: got exit %d, %s %q, want refused with %q", r.code, s.State, s.Reason, want)
	}
	if n := len(a.calls()); n > 0 && strings.Contains(strings.Join(a.calls(), "\n"), "1.0.1") {
		t.Errorf("got calls %q, want nothing run for the refused release", a.calls())
	}
}
