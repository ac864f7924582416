package main

import (
	"math"
	"slices"
	"time"
)

// schedule is how another tool measures a canary step: at first·interval, (first+1)·interval, ... after the
// step starts, failing after needed failed measurements.
type schedule struct {
	first, needed int
}

var (
	// argo: Argo Rollouts measures at once when the analysis run starts, then every interval, and fails the
	// run after failureLimit+1 failed measurements (failureLimit 0 by default, as Ferry's).
	argo = schedule{first: 0, needed: 1}
	// flagger: Flagger checks one interval after the start, then every interval, and rolls back after
	// threshold failed checks.
	flagger = schedule{first: 1, needed: flaggerThreshold}
)

// catch is when s catches a fault that starts onset after the step starts and fails the share errorRate of
// the requests, judged by an error rate over the last interval against max: the time from onset to the
// measurement that fails the analysis, and false if none does. The model is generous to the tool: its
// metric sees each answer at once, and its rollback takes no time.
func (s schedule) catch(onset, interval time.Duration, errorRate, max float64) (time.Duration, bool) {
	if errorRate <= max || interval <= 0 {
		return 0, false
	}
	failed := 0
	// Once the window is past the onset every measurement fails, so the loop ends within a few rounds.
	for k := s.first; k <= s.first+int(onset/interval)+s.needed+1; k++ {
		since := time.Duration(k)*interval - onset
		if since > 0 && errorRate*min(1, float64(since)/float64(interval)) > max {
			if failed++; failed == s.needed {
				return since, true
			}
		}
	}
	return 0, false
}

// stats are the nearest-rank percentiles of durations, in which a fault not caught counts as longer than
// any caught one.
type stats struct {
	n, caught     int
	p50, p99, max time.Duration // math.MaxInt64 for "not caught"
}

const notCaught = time.Duration(math.MaxInt64)

func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := slices.Sorted(slices.Values(ds))
	rank := func(p float64) time.Duration { return s[int(math.Ceil(p*float64(len(s))))-1] }
	st := stats{n: len(s), p50: rank(0.5), p99: rank(0.99), max: s[len(s)-1]}
	for _, d := range s {
		if d != notCaught {
			st.caught++
		}
	}
	return st
}
