package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/internal/promtest"
)

// fpGoal is the highest share of baseline comparisons that may fail on a healthy canary.
const fpGoal = 0.05

// goal is the detection goal of the error-rate threshold at interval iv: 2 intervals + 5 s.
func goal(iv time.Duration) time.Duration { return 2*iv + 5*time.Second }

func header(out io.Writer, o options, trials []trial) {
	fmt.Fprintf(out, "fault onset (a random moment inside the canary step) to 100 %% of the traffic on stable\n")
	fmt.Fprintf(out, "%d trials in %d lanes, seed %d, Prometheus scraping every %s, canary step at %d %%\n",
		len(trials), o.lanes, o.seed, promtest.ScrapeInterval, canaryWeight)
	fmt.Fprintf(out, "error rate (max %.0f %%): interval %s; baseline comparison of p50 latency: interval %s, samples every %s\n",
		100*maxErrorRate, o.interval, o.compareInterval, (o.compareInterval / 12).Round(time.Second))
	fmt.Fprintf(out, "spec defaults: initialDelay = interval, failureLimit 0, inconclusiveLimit 0, consecutiveErrorLimit 4, confidence 0.95, tolerance 0\n")
	fmt.Fprintf(out, "a fault starts uniformly in [initialDelay, initialDelay + %d intervals] after the weight change\n\n", onsetIntervals)
}

// printTrial prints one trial's line as it ends.
func printTrial(out io.Writer, r result) {
	head := fmt.Sprintf("lane %d %-13s #%-3d", r.lane, r.kind.name, r.n)
	if r.kind.healthy {
		fmt.Fprintf(out, "%s %s, %d comparisons, %d failed\n", head, r.state, len(r.comparisons), count(r.comparisons, analysis.Failed))
		return
	}
	switch r.outcome() {
	case caught:
		line := fmt.Sprintf("%s fault at +%.1fs, caught: 100 %% on stable %.1fs later", head, r.onset.Sub(r.weightAt).Seconds(), r.detection().Seconds())
		if d, ok := argo.catch(r.onset.Sub(r.weightAt), r.interval, r.kind.fault.ErrorRate, maxErrorRate); ok && !r.kind.compare {
			line += fmt.Sprintf(" (Argo model %.1fs)", d.Seconds())
		}
		fmt.Fprintln(out, line)
	case missed:
		what := "promoted with the fault on"
		if r.paused {
			what = "paused for a person (inconclusive) with the fault on"
		}
		fmt.Fprintf(out, "%s fault at +%.1fs, NOT caught: %s\n", head, r.onset.Sub(r.weightAt).Seconds(), what)
	case early:
		fmt.Fprintf(out, "%s %s before the fault (false positive): %s\n", head, stoppedHow(r), r.reason)
	}
}

func stoppedHow(r result) string {
	if r.paused {
		return "paused"
	}
	return "rolled back"
}

func count(vs []analysis.Verdict, v analysis.Verdict) int {
	n := 0
	for _, x := range vs {
		if x == v {
			n++
		}
	}
	return n
}

// report prints the figures of each fault kind and the two goals, and returns whether both were met.
func report(out io.Writer, o options, results []result) bool {
	fmt.Fprintf(out, "\n%-46s %-7s %-22s %-15s %-24s %s\n", "fault", "caught", "Ferry p50/p99/max", "goal 2i+5s",
		"Argo model p50/p99/max", "Flagger model p50/p99/max")
	hardMet := true
	for _, name := range o.kinds {
		k := kindNamed(name)
		ferry, argoS, flaggerS, early := kindStats(k, results)
		row := fmt.Sprintf("%-46s %-7s %-22s", k.name+": "+k.what, fmt.Sprintf("%d/%d", ferry.caught, ferry.n), triple(ferry))
		if k.compare {
			row += fmt.Sprintf(" %-15s %-24s %s", "-", "n/a (no comparison)", "n/a (thresholds only)")
		} else {
			iv := o.interval
			met := ferry.n > 0 && ferry.p99 <= goal(iv)
			hardMet = hardMet && (met || k.name != "hard")
			row += fmt.Sprintf(" %-15s %-24s %s", fmt.Sprintf("%.0fs %s", goal(iv).Seconds(), metWord(met)), triple(argoS), triple(flaggerS))
		}
		fmt.Fprintln(out, row)
		if early > 0 {
			fmt.Fprintf(out, "    and %d of %d stopped before the fault started (false positives, left out above)\n", early, ferry.n+early)
		}
	}
	return goals(out, o, results, hardMet)
}

// kindStats gathers a kind's detection times, Ferry's and the models' for the same onsets, and counts the
// trials that stopped before their fault started.
func kindStats(k *faultKind, results []result) (ferry, argoS, flaggerS stats, early int) {
	var fs, as, gs []time.Duration
	for _, r := range results {
		if r.kind != k {
			continue
		}
		switch r.outcome() {
		case caught:
			fs = append(fs, r.detection())
		case missed:
			fs = append(fs, notCaught)
		default:
			early++
			continue
		}
		onset := r.onset.Sub(r.weightAt)
		for _, m := range []struct {
			s   schedule
			out *[]time.Duration
		}{{argo, &as}, {flagger, &gs}} {
			d, ok := m.s.catch(onset, r.interval, k.fault.ErrorRate, maxErrorRate)
			if !ok {
				d = notCaught
			}
			*m.out = append(*m.out, d)
		}
	}
	return summarize(fs), summarize(as), summarize(gs), early
}

// goals prints the two goals: the hard fault's p99 and the comparison's false positives on healthy canaries.
func goals(out io.Writer, o options, results []result, hardMet bool) bool {
	rate, fpMet := falsePositives(out, results)
	hard := "p99 of the hard fault ≤ 2 intervals + 5 s"
	if !slices.Contains(o.kinds, "hard") {
		hard, hardMet = hard+" (hard fault not run)", false
	}
	if o.smoke {
		fmt.Fprintf(out, "smoke run: no goal asserted (false positives %s)\n", rate)
		return true
	}
	fmt.Fprintf(out, "goal: %s: %s\n", hard, metWord(hardMet))
	fmt.Fprintf(out, "goal: false positives of the baseline comparison ≤ %.0f %%: %s, %s\n", 100*fpGoal, rate, metWord(fpMet))
	return hardMet && fpMet
}

// falsePositives prints the comparisons on a healthy canary, split by where they come from and by round
// (the first after the weight change, or a later one), and returns their failed share and whether it meets
// fpGoal.
func falsePositives(out io.Writer, results []result) (string, bool) {
	var all, healthy, first []analysis.Verdict
	for _, r := range results {
		all = append(all, r.comparisons...)
		if r.kind.healthy {
			healthy = append(healthy, r.comparisons...)
		}
		if len(r.comparisons) > 0 {
			first = append(first, r.comparisons[0])
		}
	}
	failed, judged := judgedFailed(all)
	hFailed, hJudged := judgedFailed(healthy)
	fFailed, fJudged := judgedFailed(first)
	fmt.Fprintf(out, "\nbaseline comparisons on a healthy canary: %d failed of %d judged (%d inconclusive, %d errors);\n", failed, judged,
		count(all, analysis.Inconclusive), count(all, analysis.Error))
	fmt.Fprintf(out, "  healthy releases %d of %d, latency trials before their fault %d of %d;\n", hFailed, hJudged, failed-hFailed, judged-hJudged)
	fmt.Fprintf(out, "  first round after the weight change %d of %d, later rounds %d of %d\n", fFailed, fJudged, failed-fFailed, judged-fJudged)
	if judged == 0 {
		return "no judged comparison", false
	}
	return fmt.Sprintf("%.1f %%", 100*float64(failed)/float64(judged)), float64(failed) <= fpGoal*float64(judged)
}

// judgedFailed counts the failed verdicts and the judged ones (successful or failed).
func judgedFailed(vs []analysis.Verdict) (failed, judged int) {
	failed = count(vs, analysis.Failed)
	return failed, failed + count(vs, analysis.Successful)
}

func metWord(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// triple formats p50/p99/max in seconds, "-" for a fault not caught.
func triple(s stats) string {
	if s.n == 0 {
		return "-"
	}
	f := func(d time.Duration) string {
		if d == notCaught {
			return "-"
		}
		return fmt.Sprintf("%.1f", d.Seconds())
	}
	return fmt.Sprintf("%s/%s/%ss", f(s.p50), f(s.p99), f(s.max))
}
