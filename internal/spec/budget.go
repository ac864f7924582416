package spec

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// HistoryBudget is the most events that one environment may add, in the worst case, to the history of a
// Release workflow run. Temporal terminates a run at 51,200 events, with no rollback and no lock release.
// A release continues as new between environments once its history passes 1,000 events, so one run holds
// at most about 21,000 events from the spec; the rest of the limit is room for human decisions (each Update
// costs 5 events, and the server accepts at most 2,000 per run), worker crashes and retried workflow tasks.
const HistoryBudget = 20_000

// Events that each piece of a release adds to its history, read off recorded histories
// (testdata/histories/*.json) and kept on the high side: every completion is counted with a workflow task of
// its own, though parallel checks that finish together often share one.
const (
	// eventsTask is a workflow task: scheduled, started, completed.
	eventsTask = 3
	// eventsActivity is a platform command or one check: scheduled, started, completed, and the workflow
	// task that handles its result. Retries add no events.
	eventsActivity = 3 + eventsTask
	// eventsTimer is a bake, pause, verification or window wait: started, fired, and a workflow task.
	eventsTimer = 2 + eventsTask
	// eventsUpdate is a human decision: accepted, completed, and a workflow task.
	eventsUpdate = 2 + eventsTask
	// eventsSignalOut is a signal to the environment lock: initiated, delivered, and a workflow task.
	eventsSignalOut = 2 + eventsTask
	// eventsSignalIn is the lock's grant: the signal and a workflow task.
	eventsSignalIn = 1 + eventsTask
	// eventsUpsert is one search attribute update (a stage change).
	eventsUpsert = 1

	// eventsMarkers bounds the version markers of a release run: one for each GetVersion change ID the Release
	// workflow asks, at most once per run: 17 change IDs as of metric-analysis and resolve-config-before-deploy.
	eventsMarkers = 17

	// eventsEnvBase is what every environment costs whatever its spec says: the run's start and close (5),
	// version markers (eventsMarkers), the worker's admission (6), the image's build or resolution and its
	// digest (7, in a release's first run only), the lock (upsert, request, grant: 11), the configuration's
	// resolution (6), deploy and readiness (2 × 7), the lock's release (6) and a rollback (upsert and two
	// commands: 13).
	eventsEnvBase = 5 + eventsMarkers + eventsActivity + (eventsActivity + eventsUpsert) + (eventsUpsert + eventsActivity + eventsSignalIn) + eventsActivity +
		2*(eventsUpsert+eventsActivity) + (eventsSignalOut + eventsUpsert) + (eventsUpsert + 2*eventsActivity)
	// eventsPauseEpisode is a pause, of a bake or a pause step, apart from analysis: the stage change, the
	// resume or promote, and the paused analysis' child workflow (started, cancelled, closed, with their
	// workflow tasks).
	eventsPauseEpisode = eventsUpsert + eventsUpdate + 16
	// windowWaits bounds the timers a deploy window gate arms: one to the next opening, and one more when a
	// daylight saving change moves it.
	windowWaits = 3
)

// HistoryEstimate is the worst-case number of events that one environment adds to a release's history.
type HistoryEstimate struct {
	Events int
	// Drivers are the fields that cost the most, largest first, as full paths with their events.
	Drivers []HistoryDriver
}

// HistoryDriver is one field's share of a HistoryEstimate and why it costs that much.
type HistoryDriver struct {
	Path   string
	Events int
	Why    string
}

// EstimateHistory returns the worst-case history events of environment e, found at path (such as
// "environments[1]"). It expects a spec with defaults applied; unset intervals count as their defaults.
func EstimateHistory(e *Environment, path string) HistoryEstimate {
	est := HistoryEstimate{Events: eventsEnvBase}
	add := func(field string, events int, why string) {
		est.Events += events
		if events > 0 && field != "" {
			est.Drivers = append(est.Drivers, HistoryDriver{Path: path + "." + field, Events: events, Why: why})
		}
	}
	if a := e.Gate.Approval; a != nil {
		add("gate.approval.quorum", 2*eventsSignalOut+2*eventsUpsert+max(a.Quorum, 1)*eventsUpdate,
			plural(max(a.Quorum, 1), "approval"))
	}
	if e.Gate.Window != nil {
		add("gate.window", 2*eventsSignalOut+eventsUpsert+windowWaits*eventsTimer, "waits for the window")
	}
	for _, c := range []struct {
		field  string
		checks []Check
	}{{"checks.smoke", e.Checks.Smoke}, {"checks.e2e", e.Checks.E2E}} {
		if n := len(c.checks); n > 0 {
			add(c.field, eventsUpsert+n*eventsActivity, plural(n, "check"))
		}
	}
	if v := e.Verify; v != nil && len(v.Checks)+len(v.Metrics) > 0 {
		interval := durationOr(v.Interval.D(), min(time.Minute, v.Window.D()))
		waits := ceilDiv(v.Window.D(), interval)
		rounds := waits + 1 // at the start and after each wait
		probes := len(v.Checks) + len(v.Metrics)
		add("verify.interval", eventsUpsert+rounds*probes*eventsActivity+waits*eventsTimer+inconclusiveEvents(&v.MetricAnalysis),
			fmt.Sprintf("%s over a %s window: %d rounds of %s%s", v.Interval, v.Window, rounds, plural(len(v.Checks), "check"), describeMetrics(len(v.Metrics))))
	}
	st := &e.Strategy
	switch st.Type {
	case StrategyCanary:
		steps, rounds := eventsUpsert+eventsActivity+finalizeEvents, 0 // stage, set-weight 100, promote
		var baked time.Duration
		for _, s := range st.Steps {
			if s.Pause != nil {
				steps += eventsPauseEpisode
				if d := s.Pause.Duration.D(); d > 0 {
					ev, n := bakeEvents(d, st.Analysis)
					steps, rounds, baked = steps+ev, rounds+n, baked+d
				}
				continue
			}
			ev, n := bakeEvents(s.Bake.D(), st.Analysis)
			steps, rounds, baked = steps+eventsActivity+ev, rounds+n, baked+s.Bake.D()
		}
		why := fmt.Sprintf("%d steps baking %s", len(st.Steps), FormatDuration(baked))
		if a := st.Analysis; a != nil {
			why += fmt.Sprintf(" with analysis of %s%s every %s: %d rounds", plural(len(a.Checks), "check"), describeMetrics(len(a.Metrics)), a.Interval, rounds)
			steps += len(st.Steps) * inconclusiveEvents(&a.MetricAnalysis)
		}
		add("strategy.steps", steps, why)
	case StrategyBlueGreen:
		add("strategy", eventsUpsert+eventsActivity+finalizeEvents+eventsUpsert+eventsTimer+eventsActivity, "")
		if a := st.Analysis; a != nil {
			watch := time.Duration(a.FailureLimit+1) * durationOr(a.Interval.D(), time.Minute)
			ev, n := bakeEvents(watch, a)
			add("strategy.analysis.failureLimit", ev+inconclusiveEvents(&a.MetricAnalysis),
				fmt.Sprintf("%d rounds of %s%s after the switch", n, plural(len(a.Checks), "check"), describeMetrics(len(a.Metrics))))
		}
	}
	sort.SliceStable(est.Drivers, func(i, j int) bool { return est.Drivers[i].Events > est.Drivers[j].Events })
	return est
}

// finalizeEvents is a canary's or blue-green's promotion: the stage change and three commands.
const finalizeEvents = eventsUpsert + 3*eventsActivity

// bakeEvents is a bake of d: its timers, and with analysis a round at every interval, one at the end and one
// more for a step without a bake (any of them may be the "at least once" round). It also returns the rounds.
func bakeEvents(d time.Duration, a *Analysis) (events, rounds int) {
	if a == nil {
		if d > 0 {
			return eventsTimer, 0
		}
		return 0, 0
	}
	rounds = 1
	timers := 0
	if d > 0 {
		rounds = int(d/durationOr(a.Interval.D(), time.Minute)) + 2
		timers = rounds + 1
	}
	return rounds*(len(a.Checks)+len(a.Metrics))*eventsActivity + timers*eventsTimer, rounds
}

// inconclusiveEvents bounds the pauses that inconclusive measurements cause in one step: each metric may
// pause the release once it passes the inconclusive limit, and each pause is a stage change and a resume.
func inconclusiveEvents(a *MetricAnalysis) int {
	return len(a.Metrics) * (eventsUpsert + eventsUpdate)
}

func ceilDiv(a, b time.Duration) int {
	if b <= 0 {
		return 0
	}
	return int((a + b - 1) / b)
}

func durationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// historyBudget rejects an environment whose worst-case history exceeds HistoryBudget, at the field that
// costs the most, naming every field that costs a tenth of the budget or more.
func (v *validator) historyBudget(e *Environment, path string) {
	est := EstimateHistory(e, path)
	if est.Events <= HistoryBudget {
		return
	}
	at := path
	var parts []string
	for i, d := range est.Drivers {
		if i > 0 && d.Events < HistoryBudget/10 {
			continue
		}
		if i == 0 {
			at = d.Path
		}
		part := fmt.Sprintf("%s %s events", d.Path, thousands(d.Events))
		if d.Why != "" {
			part += " (" + d.Why + ")"
		}
		parts = append(parts, part)
	}
	v.add(at, "worst-case history of %s events exceeds the budget of %s per environment: %s; use fewer "+
		"steps, checks or rounds (a longer interval, a shorter bake or window)",
		thousands(est.Events), thousands(HistoryBudget), strings.Join(parts, ", "))
}

// thousands formats n with a comma every three digits: 95,046.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// plural is "1 check" or "3 checks".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
