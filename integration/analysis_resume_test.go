package integration

import (
	"math"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferryhq/ferry/internal/promtest"
	"github.com/ferryhq/ferry/workflows"
)

// healthGauge is a service whose one gauge, resume_health, a test sets: 0 is healthy, 1 fails the spec's max,
// NaN is no evidence.
type healthGauge struct{ bits atomic.Uint64 }

func (g *healthGauge) set(v float64) { g.bits.Store(math.Float64bits(v)) }

func (g *healthGauge) serve(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "resume_health", Help: "Set by the test."},
		func() float64 { return math.Float64frombits(g.bits.Load()) }))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// resumeSpec is a canary held at 50 % for a 16 s bake, judged every 2 s by resume_health; the first
// inconclusive measurement pauses it for a person (inconclusiveLimit 0), the first failed one rolls it back.
const resumeSpec = execPlatformSpec + `environments:
  - name: production
    strategy:
      type: canary
      steps: [{weight: 50, bake: 16s}]
      analysis: {interval: 2s, metrics: [health]}
metrics:
  health:
    query: max(resume_health)
    max: 0.5
`

// TestInconclusivePauseKeepsTheRestOfTheBake pauses a bake on an inconclusive measurement (NaN) after about
// 6 s of its 16, holds the pause for longer than the whole bake, resumes, and makes the version fail 6 s
// later: inside the 10 s of bake that were left. The release rolls back on that failure. Had the pause not
// frozen the bake, its deadline would have passed during the pause and the release would have promoted on
// the first measurement after the resume.
func TestInconclusivePauseKeepsTheRestOfTheBake(t *testing.T) {
	t.Parallel()
	var health healthGauge
	prom := promtest.Start(t, health.serve(t))
	queue := "resume-bake-" + uniqueSuffix()
	w := background("worker-resume-bake", "worker", "--task-queue", queue, "--exec-root", stack.execRoot,
		"--exec-allow", stack.execRoot+"/**", "--prometheus-address", prom.URL)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer stop(w)
	a := newApp(t, "resume-bake", resumeSpec, nil)
	env := append(ferryEnv(), "FERRY_TASK_QUEUE="+queue)
	if r := ferryEnvArgs(t, env, "start", "--spec", a.spec(), "--version", "1.0.0", "--git-sha", "0a1b2c3"); r.code != 0 {
		t.Fatalf("start: exit %d\n%s", r.code, r.stderr)
	}
	awaitStatus(t, "resume-bake", "1.0.0", time.Minute, func(s workflows.Status) bool { return !s.BakeUntil.IsZero() })
	time.Sleep(6 * time.Second) // about 3 healthy measurements
	health.set(math.NaN())
	awaitStatus(t, "resume-bake", "1.0.0", time.Minute, func(s workflows.Status) bool {
		return s.Paused && strings.Contains(s.Waiting, "inconclusive")
	})
	health.set(0)
	time.Sleep(18 * time.Second) // longer than the whole bake
	if s := status(t, "resume-bake", "1.0.0"); s.State != workflows.StateRunning || !s.Paused {
		t.Fatalf("after 18 s paused: got %s paused=%v %q, want still paused", s.State, s.Paused, s.Reason)
	}
	if r := ferryEnvArgs(t, env, "resume", "resume-bake", "--version", "1.0.0"); r.code != 0 {
		t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
	}
	resumed := time.Now()
	time.Sleep(6 * time.Second)
	health.set(1)
	s := awaitStatus(t, "resume-bake", "1.0.0", time.Minute, func(s workflows.Status) bool { return s.State != workflows.StateRunning })
	if s.State != workflows.StateRolledBack || !strings.Contains(s.Reason, "health") {
		t.Fatalf("got %s %q %.1f s after the resume, want rolled back on metric health: the bake had 10 s left",
			s.State, s.Reason, time.Since(resumed).Seconds())
	}
	for _, c := range a.calls() {
		if strings.HasPrefix(c, "promote") {
			t.Errorf("got %q, want no promotion", c)
		}
	}
}
