package main

import (
	"math/rand/v2"
	"time"

	"github.com/ferryhq/ferry/internal/demoapp"
	"github.com/ferryhq/ferry/internal/spec"
)

// Every demo app, stable and canary, answers its page after baseLatency plus a uniform jitter: 10–30 ms,
// median 20 ms, across the router's 10 ms, 25 ms and 50 ms histogram buckets, so that histogram_quantile
// follows a shift of the median rather than a bucket's midpoint.
const (
	baseLatency   = 10 * time.Millisecond
	latencyJitter = 20 * time.Millisecond
	medianLatency = baseLatency + latencyJitter/2
)

// Metric names in the benchmark's specs.
const (
	errorRateMetric  = "error-rate"
	comparisonMetric = "latency-vs-stable"
)

// faultKind is a kind of trial: the fault it injects and the analysis that judges it.
type faultKind struct {
	name, what string
	fault      demoapp.Fault
	// compare: the spec also compares the canary's p50 latency with stable's, at the comparison interval;
	// otherwise it judges the error rate alone, at the interval.
	compare bool
	// healthy: no fault; the comparison is in dryRun, and every one of its verdicts is counted.
	healthy bool
}

var (
	faultKinds = []*faultKind{
		{name: "hard", what: "50 % errors (max 1 %)", fault: demoapp.Fault{ErrorRate: 0.5}},
		{name: "mild-errors", what: "3 % errors (max 1 %)", fault: demoapp.Fault{ErrorRate: 0.03}},
		{name: "mild-latency", what: "+30 % p50 latency (comparison)",
			fault: demoapp.Fault{Latency: medianLatency * 3 / 10}, compare: true},
	}
	healthyKind = &faultKind{name: "healthy", what: "no fault (comparison in dryRun)", compare: true, healthy: true}
)

func faultNames() []string {
	names := make([]string, len(faultKinds))
	for i, k := range faultKinds {
		names[i] = k.name
	}
	return names
}

func kindNamed(name string) *faultKind {
	for _, k := range faultKinds {
		if k.name == name {
			return k
		}
	}
	return nil
}

// trial is one release of a canary: its fault, when the fault starts, and how long the step bakes.
type trial struct {
	kind     *faultKind
	n        int           // 1-based, within the kind
	interval time.Duration // the analysis interval, which is also initialDelay
	// offset is when the fault starts, after the weight change: initialDelay plus a uniform share of
	// onsetIntervals intervals. Zero for a healthy canary.
	offset time.Duration
	bake   time.Duration
}

// plan lists the trials, the longest kinds first so that the lanes finish together: the comparison kinds,
// then the error-rate ones. The onsets come from o.seed, whatever lane runs a trial.
func plan(o options) []trial {
	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
	var trials []trial
	for _, compare := range []bool{true, false} {
		for _, name := range o.kinds {
			k := kindNamed(name)
			if k.compare != compare {
				continue
			}
			iv := o.interval
			if compare {
				iv = o.compareInterval
			}
			for n := range o.faults {
				offset := iv + time.Duration(rng.Float64()*float64(onsetIntervals*iv))
				trials = append(trials, trial{kind: k, n: n + 1, interval: iv, offset: offset,
					bake: iv * (1 + onsetIntervals + marginIntervals)})
			}
		}
		if compare {
			trials = append(trials, healthyTrials(o)...)
		}
	}
	return trials
}

// healthyTrials splits fpRounds comparisons into releases of up to 10: a bake of initialDelay plus
// rounds-1 intervals has a round at every interval from initialDelay to its end.
func healthyTrials(o options) []trial {
	if o.fpRounds == 0 {
		return nil
	}
	n := (o.fpRounds + 9) / 10
	var out []trial
	for i := range n {
		rounds := o.fpRounds / n
		if i < o.fpRounds%n {
			rounds++
		}
		out = append(out, trial{kind: healthyKind, n: i + 1, interval: o.compareInterval,
			bake: o.compareInterval * time.Duration(rounds)})
	}
	return out
}

// releaseSpec is a canary of one step at canaryWeight that bakes t.bake, analysed every t.interval with the
// spec's defaults elsewhere: initialDelay one interval (the error rate's query window, as the README
// advises), failureLimit 0, inconclusiveLimit 0, consecutiveErrorLimit 4, confidence 0.95, tolerance 0.
func releaseSpec(service string, argv []string, t trial) (spec.Spec, error) {
	max := maxErrorRate
	metrics := map[string]spec.Metric{errorRateMetric: {Max: &max, Query: `(sum(rate(ferry_router_requests_total{` + selector + `,code=~"5.."}[{{.Interval}}])) or vector(0))` +
		` / sum(rate(ferry_router_requests_total{` + selector + `}[{{.Interval}}]))`}}
	ma := spec.MetricAnalysis{Metrics: []string{errorRateMetric}, InitialDelay: spec.Duration(t.interval)}
	if t.kind.compare {
		metrics[comparisonMetric] = spec.Metric{Compare: spec.CompareBaseline,
			Query: `histogram_quantile(0.5, sum by (le) (rate(ferry_router_request_duration_seconds_bucket{` + selector + `}[{{.Step}}])))`}
		ma.Metrics = append(ma.Metrics, comparisonMetric)
	}
	if t.kind.healthy {
		ma.DryRun = []string{comparisonMetric}
	}
	s := spec.Spec{
		Service:  service,
		Image:    spec.Image{Repository: "registry.local/" + service},
		Platform: spec.Platform{Exec: &spec.ExecPlatform{Deploy: argv, SetWeight: argv, Promote: argv, Rollback: argv, Remove: argv, Current: argv}},
		Environments: []spec.Environment{{Name: env, Strategy: spec.Strategy{Type: spec.StrategyCanary,
			Steps:    []spec.Step{{Weight: canaryWeight, Bake: spec.Duration(t.bake)}},
			Analysis: &spec.Analysis{Interval: spec.Duration(t.interval), MetricAnalysis: ma}}}},
		Metrics: metrics,
	}
	spec.ApplyDefaults(&s)
	return s, spec.Validate(&s)
}

// selector picks the series of one version on one track, as the README's examples do.
const selector = `service="{{.Service}}",env="{{.Env}}",track="{{.Track}}",version="{{.Version}}"`
