package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/internal/spec"
)

// failClosedChange is the GetVersion change ID under which metric analysis fails closed: every bake,
// blue-green watch and verification window must end with a judged measurement of each metric that is not in
// dry run (requireEvidence); a bakeless canary step waits out initialDelay before its one round; the
// blue-green watch adds initialDelay to its failureLimit+1 intervals; comparisons and throughput are not
// measured where no baseline serves traffic; and an inconclusive pause for a person freezes the bake or
// verification deadline.
const failClosedChange = "analysis-fail-closed"

// failsClosed reports whether the release runs under failClosedChange.
func (r *release) failsClosed(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, failClosedChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// windowTally counts one metric's measurements in the current window, and those that were judged.
type windowTally struct {
	measured, judged int
}

// tally counts a measurement of metric under kind in the window that began at since.
func (e *envRun) tally(kind, metric string, since time.Time, v analysis.Verdict) {
	if e.evidence == nil || !e.evidenceSince.Equal(since) {
		e.evidence, e.evidenceSince = map[string]windowTally{}, since
	}
	key := kind + "/" + metric
	t := e.evidence[key]
	t.measured++
	if v == analysis.Successful || v == analysis.Failed {
		t.judged++
	}
	e.evidence[key] = t
}

// comparesWithBaseline reports whether m needs the baseline's traffic: a comparison or a throughput metric.
func comparesWithBaseline(m spec.Metric) bool {
	return m.Compare == spec.CompareBaseline || m.Kind == spec.MetricThroughput
}

// requireEvidence ends a window of metric analysis (a bake, a blue-green watch, a verification window, a
// bakeless canary step): each metric of mr that is not in dry run, and that can be judged at this weight,
// must have at least one successful or failed measurement since mr.since. Errors and inconclusive
// verdicts are no evidence. Without it the window fails, or, with onNoEvidence: pause, waits for a person
// (awaitVerdict). Releases before failClosedChange pass as before.
func (r *release) requireEvidence(ctx workflow.Context, e *envRun, mr metricRound) error {
	if !r.failsClosed(ctx) {
		return nil
	}
	var missing []string
	for _, name := range mr.ma.Metrics {
		m := r.in.Spec.Metrics[name]
		if mr.ma.IsDryRun(name, m) || (comparesWithBaseline(m) && !e.hasBaseline()) {
			continue
		}
		var t windowTally
		if e.evidenceSince.Equal(mr.since) {
			t = e.evidence[mr.kind+"/"+name]
		}
		if t.judged > 0 {
			continue
		}
		what := "never measured"
		if t.measured > 0 {
			what = fmt.Sprintf("%s, none judged; last: %s", plural(t.measured, "measurement"), r.measurement(mr.kind, name).Detail)
		}
		missing = append(missing, fmt.Sprintf("metric %s (%s)", name, what))
	}
	if len(missing) == 0 {
		return nil
	}
	why := "no evidence: " + strings.Join(missing, "; ")
	if mr.ma.OnNoEvidence == spec.OnNoEvidencePause {
		return r.awaitVerdictHeld(ctx, e, mr.kind, why)
	}
	if mr.kind == StageVerify {
		return fmt.Errorf("verification failed: %s", why)
	}
	return fmt.Errorf("analysis failed at %d%%: %s", e.weight, why)
}

// hasBaseline reports whether the stable version serves traffic beside the new one, so that comparisons and
// throughput have a baseline.
func (e *envRun) hasBaseline() bool { return e.weight < 100 && e.stable != nil }

// awaitVerdictHeld is awaitVerdict that, under failClosedChange, adds the time a person took to
// e.verdictWait, by which the current bake or verification window lengthens.
func (r *release) awaitVerdictHeld(ctx workflow.Context, e *envRun, kind, why string) error {
	start := workflow.Now(ctx)
	err := r.awaitVerdict(ctx, kind, why)
	if r.failsClosed(ctx) {
		e.verdictWait += workflow.Now(ctx).Sub(start)
	}
	return err
}

// plural is "1 measurement" or "3 measurements".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
