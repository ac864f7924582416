package analysis

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Directions: the change that fails a comparison.
const (
	Increase = "increase"
	Decrease = "decrease"
	Either   = "either"
)

// minSamples is the fewest samples per side that a comparison judges; fewer is inconclusive.
const minSamples = 3

// Comparison configures Compare.
type Comparison struct {
	// Direction is the change that fails: Increase (default), Decrease or Either.
	Direction string
	// Tolerance is the relative change of the median allowed even when significant: 0.1 is 10 %.
	Tolerance float64
	// Confidence is the confidence level of the test: a difference counts when p < 1 - Confidence.
	Confidence float64
}

// CompareResult is Compare's judgement with the figures behind it.
type CompareResult struct {
	Verdict Verdict
	// Canary and Baseline are the medians of the samples.
	Canary, Baseline float64
	// U is the Mann-Whitney U statistic of the canary's samples; P the two-sided p-value.
	U, P   float64
	Detail string
}

// Compare judges a canary's samples against a baseline's over the same window the way Kayenta's
// Mann-Whitney classifier does: the canary fails when the two samples differ significantly (two-sided
// Mann-Whitney U test at the confidence level, normal approximation with tie and continuity corrections) in
// the failing direction and its median moved by more than the tolerance. Too few samples on either side are
// inconclusive, never a pass.
func Compare(canary, baseline []float64, c Comparison) CompareResult {
	canary, baseline = finite(canary), finite(baseline)
	if len(canary) < minSamples || len(baseline) < minSamples {
		return CompareResult{Verdict: Inconclusive, Detail: fmt.Sprintf(
			"too few samples to compare: %d canary, %d baseline (need %d each)", len(canary), len(baseline), minSamples)}
	}
	res := CompareResult{Canary: median(canary), Baseline: median(baseline)}
	res.U, res.P = mannWhitney(canary, baseline)
	confidence := c.Confidence
	if confidence == 0 {
		confidence = 0.95
	}
	change := res.Canary - res.Baseline
	allowed := c.Tolerance * math.Abs(res.Baseline)
	worse := false
	switch c.Direction {
	case Decrease:
		worse = -change > allowed
	case Either:
		worse = math.Abs(change) > allowed
	default:
		worse = change > allowed
	}
	significant := res.P < 1-confidence
	figures := fmt.Sprintf("median %s vs baseline %s, p=%.3g", num(res.Canary), num(res.Baseline), res.P)
	if significant && worse {
		res.Verdict, res.Detail = Failed, figures+": a significant change beyond the tolerance"
	} else {
		res.Verdict, res.Detail = Successful, figures
	}
	return res
}

// mannWhitney returns the U statistic of x against y and the two-sided p-value. gonum sorts the pooled
// samples with their labels and supplies the normal distribution.
func mannWhitney(x, y []float64) (u, p float64) {
	n1, n2 := float64(len(x)), float64(len(y))
	pooled := append(slices.Clone(x), y...)
	fromX := make([]bool, len(pooled))
	for i := range x {
		fromX[i] = true
	}
	stat.SortWeightedLabeled(pooled, fromX, nil)
	// Average ranks over ties, and the tie correction term Σ(t³ - t).
	var rankSumX, ties float64
	for i := 0; i < len(pooled); {
		j := i
		for j < len(pooled) && pooled[j] == pooled[i] {
			j++
		}
		rank := float64(i+j+1) / 2 // ranks i+1..j, averaged
		for k := i; k < j; k++ {
			if fromX[k] {
				rankSumX += rank
			}
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	u = rankSumX - n1*(n1+1)/2
	n := n1 + n2
	sigma := math.Sqrt(n1 * n2 / 12 * ((n + 1) - ties/(n*(n-1))))
	if sigma == 0 {
		return u, 1 // every sample equal: no difference at all
	}
	z := (math.Abs(u-n1*n2/2) - 0.5) / sigma
	if z < 0 {
		z = 0
	}
	return u, math.Min(1, 2*distuv.UnitNormal.Survival(z))
}

func finite(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return stat.Quantile(0.5, stat.LinInterp, s, nil)
}

// Throughput judges the new version's request rate against the baseline's at the canary's traffic weight
// (percent). The router splits traffic by weight, so at weight w the canary should see w/(100-w) of the
// baseline's rate; the canary fails when it sees less than (1 - tolerance) of that. A canary with no
// traffic fails, whatever the baseline; a baseline with no traffic is inconclusive. At weight 100 there is
// no baseline, and any traffic passes.
func Throughput(canary, baseline float64, weight int, tolerance float64) (Verdict, string) {
	if math.IsNaN(canary) || canary <= 0 {
		return Failed, "the new version receives no traffic"
	}
	if weight >= 100 {
		return Successful, fmt.Sprintf("%s req/s at 100 %%", num(canary))
	}
	if math.IsNaN(baseline) || baseline <= 0 {
		return Inconclusive, fmt.Sprintf("%s req/s, but the baseline receives no traffic", num(canary))
	}
	expected := baseline * float64(weight) / float64(100-weight)
	detail := fmt.Sprintf("%s req/s where %d %% of the traffic gives %s", num(canary), weight, num(expected))
	if canary < expected*(1-tolerance) {
		return Failed, detail + fmt.Sprintf(", below the tolerance of %s", num(tolerance))
	}
	return Successful, detail
}

// Scored is one comparison's verdict as Score counts it.
type Scored struct {
	Verdict  Verdict
	Critical bool
}

// Score rates a round of comparisons 0..100 the way Kayenta does: the share of judged comparisons that
// passed. Inconclusive and errored ones are left out; a failed critical comparison scores 0. At least pass
// is Successful, at least marginal Inconclusive, anything lower Failed. A round with nothing judged is
// Inconclusive.
func Score(results []Scored, pass, marginal float64) (float64, Verdict) {
	var judged, passed float64
	for _, r := range results {
		switch r.Verdict {
		case Successful:
			judged, passed = judged+1, passed+1
		case Failed:
			if r.Critical {
				return 0, Failed
			}
			judged++
		}
	}
	if judged == 0 {
		return 0, Inconclusive
	}
	score := 100 * passed / judged
	switch {
	case score >= pass:
		return score, Successful
	case score >= marginal:
		return score, Inconclusive
	}
	return score, Failed
}
