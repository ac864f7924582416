package main

import (
	"io"
	"testing"
	"time"
)

func TestScheduleCatch(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name      string
		sched     schedule
		onset     time.Duration
		errorRate float64
		want      time.Duration
		wantOK    bool
	}{
		{"argo, hard fault between measurements", argo, 7 * s, 0.5, 3 * s, true},
		{"argo, onset on a measurement is seen at the next", argo, 10 * s, 0.5, 5 * s, true},
		{"argo, mild fault over 3/5 of the window", argo, 7 * s, 0.03, 3 * s, true},
		{"argo, mild fault over 1/5 of the window waits for the next", argo, 9 * s, 0.03, 6 * s, true},
		{"argo measures at 0", argo, 0, 0.5, 5 * s, true},
		{"flagger, 5 failed checks", flagger, 7 * s, 0.5, 23 * s, true},
		{"flagger's first check is one interval in", flagger, 0, 0.5, 25 * s, true},
		{"a fault at the threshold is never caught", argo, 7 * s, 0.01, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.sched.catch(tc.onset, 5*s, tc.errorRate, 0.01)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("got %s, %v, want %s, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		in   []time.Duration
		want stats
	}{
		{nil, stats{}},
		{[]time.Duration{3 * s, 1 * s, 2 * s}, stats{n: 3, caught: 3, p50: 2 * s, p99: 3 * s, max: 3 * s}},
		{[]time.Duration{notCaught, 1 * s}, stats{n: 2, caught: 1, p50: 1 * s, p99: notCaught, max: notCaught}},
	} {
		if got := summarize(tc.in); got != tc.want {
			t.Errorf("summarize(%v): got %+v, want %+v", tc.in, got, tc.want)
		}
	}
	// Nearest rank: with 20 values p99 is the largest, p50 the 10th.
	var twenty []time.Duration
	for i := range 20 {
		twenty = append(twenty, time.Duration(i+1)*s)
	}
	if got := summarize(twenty); got.p50 != 10*s || got.p99 != 20*s {
		t.Errorf("20 values: got p50 %s, p99 %s, want 10s, 20s", got.p50, got.p99)
	}
}

func TestPlan(t *testing.T) {
	o, err := parseFlags([]string{"-faults", "20", "-fp-rounds", "25", "-seed", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	trials := plan(o)
	kinds, rounds := map[string]int{}, time.Duration(0)
	for _, tr := range trials {
		kinds[tr.kind.name]++
		if tr.kind.healthy {
			rounds += tr.bake / tr.interval
			continue
		}
		if tr.offset < tr.interval || tr.offset >= (1+onsetIntervals)*tr.interval {
			t.Errorf("%s #%d: onset at %s, want in [%s, %s)", tr.kind.name, tr.n, tr.offset, tr.interval, (1+onsetIntervals)*tr.interval)
		}
		if _, err := releaseSpec("bench-1", []string{"/bin/true"}, tr); err != nil {
			t.Errorf("%s #%d: the spec is refused: %v", tr.kind.name, tr.n, err)
		}
	}
	if kinds["hard"] != 20 || kinds["mild-errors"] != 20 || kinds["mild-latency"] != 20 || kinds["healthy"] != 3 || rounds != 25 {
		t.Errorf("got kinds %v and %d healthy rounds, want 20 of each fault, 3 healthy releases of 25 rounds", kinds, rounds)
	}
	if again := plan(o); again[7].offset != trials[7].offset {
		t.Errorf("the same seed planned onset %s, then %s", trials[7].offset, again[7].offset)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-compare-interval", "12s"}, {"-interval", "1s"}, {"-kinds", "hard,nope"}, {"-fp-rounds", "1"}, {"-lanes", "0"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: got no error, want one", args)
		}
	}
	o, err := parseFlags([]string{"-smoke"}, io.Discard)
	if err != nil || len(plan(o)) != 3 {
		t.Errorf("-smoke: got %d trials (%v), want 3: one hard, one mild-errors, one healthy", len(plan(o)), err)
	}
}
