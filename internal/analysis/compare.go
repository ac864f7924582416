package analysis

import (
	"cmp"
	"fmt"
	"math"
	"slices"

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
	// Tolerance is the shift allowed, relative to the baseline's median: 0.1 lets the canary be 10 % worse.
	Tolerance float64
	// Confidence is the confidence level of the shift's interval. Default 0.95.
	Confidence float64
}

// CompareResult is Compare's judgement with the figures behind it.
type CompareResult struct {
	Verdict Verdict
	// Canary and Baseline are the medians of the samples (the mean of the two middle ones for an even count).
	Canary, Baseline float64
	// Shift is the Hodges-Lehmann estimate of the canary's shift from the baseline: the median of every
	// difference canary - baseline; Lower and Upper are its distribution-free confidence bounds (each
	// one-sided at the confidence level, or two-sided for Either).
	Shift, Lower, Upper float64
	// P is the one-sided p-value of the test in the failing direction (for Either, twice the smaller of
	// the two sides'), beyond the tolerance.
	P      float64
	Detail string
}

// Compare judges a canary's samples against a baseline's by two rank tests that must agree, one-sided in the
// failing direction, beyond the tolerance (tolerance × |baseline median|), at the confidence level:
//   - the Hodges-Lehmann interval of the shift (the order statistics of every difference canary - baseline
//     that the exact Mann-Whitney distribution picks; Kayenta's Mann-Whitney classifier decides on this
//     interval too, two-sided and with its tolerance on a ratio of means) lies beyond the tolerance, and
//   - the Brunner-Munzel test, which unlike Mann-Whitney's stays valid when the two sides spread
//     differently (a canary at 10 % of the traffic against a baseline at 90 %), rejects "no worse than the
//     tolerance".
//
// The canary fails when both do; Direction Either takes each side at half the level. The simulation test
// measures the resulting error rates.
//
// NaN samples are dropped; infinities take part by their rank. Samples are assumed independent: take them
// from windows that share no data. When the sample sizes cannot reach the confidence at all, not even with
// every canary sample beyond every baseline sample (3 a side for Either at 0.95, 4 a side at 0.99), the
// verdict is inconclusive and says so; it is never a pass.
func Compare(canary, baseline []float64, c Comparison) CompareResult {
	canary, baseline = dropNaN(canary), dropNaN(baseline)
	confidence := c.Confidence
	if confidence == 0 {
		confidence = 0.95
	}
	m, n := len(canary), len(baseline)
	if m == 0 || n == 0 {
		return CompareResult{Verdict: Inconclusive, Detail: fmt.Sprintf("no samples to compare: %d canary, %d baseline", m, n)}
	}
	diffs := differences(canary, baseline)
	res := CompareResult{Canary: median(canary), Baseline: median(baseline), Shift: median(diffs)}
	alpha := 1 - confidence
	if c.Direction == Either {
		alpha /= 2
	}
	k := rankBound(m, n, alpha)
	if k < 1 {
		res.Verdict, res.P = Inconclusive, 1
		res.Detail = fmt.Sprintf("too few samples to reach confidence %s: %d canary, %d baseline", num(confidence), m, n)
		return res
	}
	allowed := 0.0
	if c.Tolerance != 0 {
		allowed = c.Tolerance * math.Abs(res.Baseline)
	}
	if math.IsInf(allowed, 0) {
		res.Verdict, res.P = Inconclusive, 1
		res.Detail = fmt.Sprintf("the baseline's median is %s: a tolerance relative to it means nothing", num(res.Baseline))
		return res
	}
	higher := pHigher(shift(canary, -allowed), baseline) // P of "no higher than allowed"
	lower := pHigher(baseline, shift(canary, allowed))   // P of "no lower than allowed"
	// The interval of the shift must clear the tolerance on the failing side too.
	res.Lower, res.Upper = diffs[k-1], diffs[len(diffs)-k]
	var verdict string
	var beyond bool
	switch c.Direction {
	case Decrease:
		res.P, verdict, beyond = lower, "lower", res.Upper < -allowed
	case Either:
		res.P, verdict, beyond = 2*min(higher, lower), "higher", res.Lower > allowed
		if lower < higher {
			verdict, beyond = "lower", res.Upper < -allowed
		}
	default:
		res.P, verdict, beyond = higher, "higher", res.Lower > allowed
	}
	res.P = min(res.P, 1)
	res.Detail = fmt.Sprintf("median %s vs baseline %s, shift %s in [%s, %s], p=%.3g", num(res.Canary), num(res.Baseline),
		num(res.Shift), num(res.Lower), num(res.Upper), res.P)
	if res.P < 1-confidence && beyond {
		res.Verdict = Failed
		res.Detail += fmt.Sprintf(": %s than the baseline beyond the tolerance (%s) at confidence %s", verdict, num(allowed), num(confidence))
	} else {
		res.Verdict = Successful
	}
	return res
}

// shift returns xs + d; infinities stay as they are.
func shift(xs []float64, d float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x + d
	}
	return out
}

// pHigher is the one-sided p-value of the Brunner-Munzel test that x is stochastically higher than y: the
// probability, with no difference, of a statistic at least as high as x's. Midranks handle ties.
func pHigher(x, y []float64) float64 {
	m, n := float64(len(x)), float64(len(y))
	pooled := midranks(append(slices.Clone(x), y...))
	rx, ry := pooled[:len(x)], pooled[len(x):]
	ix, iy := midranks(x), midranks(y)
	meanX, meanY := mean(rx), mean(ry)
	spread := func(r, own []float64, mean, k float64) float64 {
		s := 0.0
		for i := range r {
			d := r[i] - own[i] - mean + (k+1)/2
			s += d * d
		}
		return s / (k - 1)
	}
	sx, sy := spread(rx, ix, meanX, m), spread(ry, iy, meanY, n)
	vx, vy := m*sx, n*sy
	if vx+vy == 0 { // complete separation, or all equal
		switch {
		case meanX > meanY:
			return 0
		case meanX < meanY:
			return 1
		}
		return 0.5
	}
	w := m * n * (meanX - meanY) / ((m + n) * math.Sqrt(vx+vy))
	// The t distribution with min(m, n) - 1 degrees of freedom, the conservative choice for unequal
	// spreads (Welch's estimate of them runs liberal with a dozen samples a side).
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: min(m, n) - 1}.Survival(w)
}

// midranks returns the rank of each value among xs, 1-based, equal values sharing their mean rank.
func midranks(xs []float64) []float64 {
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(xs[a], xs[b]) })
	ranks := make([]float64, len(xs))
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && xs[order[j]] == xs[order[i]] {
			j++
		}
		for k := i; k < j; k++ {
			ranks[order[k]] = float64(i+j+1) / 2
		}
		i = j
	}
	return ranks
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// differences returns every canary - baseline difference, sorted. Equal values differ by 0, infinities
// included, so +Inf against +Inf is a tie rather than NaN.
func differences(canary, baseline []float64) []float64 {
	d := make([]float64, 0, len(canary)*len(baseline))
	for _, x := range canary {
		for _, y := range baseline {
			if x == y {
				d = append(d, 0)
			} else {
				d = append(d, x-y)
			}
		}
	}
	slices.Sort(d)
	return d
}

// rankBound returns the largest k such that, with no shift, fewer than k of the m·n differences are below 0
// with probability at most alpha (a rank test at level alpha rejects when U is at most k-1). It is 0 when
// no k reaches alpha: the samples are too few for any rank test to reach the confidence. The probabilities are those of the exact Mann-Whitney U distribution (no ties), or its normal
// approximation when m·n is large.
func rankBound(m, n int, alpha float64) int {
	if m*n > maxExact {
		sigma := math.Sqrt(float64(m*n*(m+n+1)) / 12)
		z := distuv.UnitNormal.Quantile(1 - alpha)
		return max(int(math.Floor(float64(m*n)/2-z*sigma+0.5)), 0)
	}
	cdf := 0.0
	for k, p := range uDistribution(m, n) {
		cdf += p
		if cdf > alpha+1e-12 { // the sum of exact fractions may land a hair above alpha
			return k // P(U <= k-1) <= alpha < P(U <= k)
		}
	}
	return m * n
}

// maxExact is the largest m·n for which rankBound computes the exact distribution (about m·n·min(m,n)
// operations).
const maxExact = 40000

// uDistribution returns P(U = u) for u = 0..m·n under the null hypothesis, from the generating function
// Π_{i=1..m} (1 - q^(n+i)) / (1 - q^i) of the number of arrangements with each U.
func uDistribution(m, n int) []float64 {
	if m > n {
		m, n = n, m
	}
	c := make([]float64, m*n+1)
	c[0] = 1
	for i := 1; i <= m; i++ {
		for u := len(c) - 1; u >= n+i; u-- { // multiply by 1 - q^(n+i)
			c[u] -= c[u-n-i]
		}
		for u := i; u < len(c); u++ { // divide by 1 - q^i
			c[u] += c[u-i]
		}
	}
	total := 0.0
	for _, x := range c {
		total += x
	}
	for u := range c {
		c[u] /= total
	}
	return c
}

func dropNaN(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

// median is the middle value of xs, or the mean of the two middle values for an even count; NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 || s[mid-1] == s[mid] {
		return s[mid]
	}
	return s[mid-1]/2 + s[mid]/2
}

// Throughput judges the new version's request rate against the baseline's at the canary's traffic weight
// (percent). The router splits traffic by weight, so at weight w the canary should see w/(100-w) of the
// baseline's rate; the canary fails when it sees less than (1 - tolerance) of that, a rate of 0 included.
// No rate (NaN: an empty result) is inconclusive, as for a value metric, and so is a baseline without
// traffic: nothing says how much traffic there is to share. At weight 100 (or more) there is no baseline
// to measure the expected rate by, so the rate of the new version alone proves nothing and the verdict is
// inconclusive.
func Throughput(canary, baseline float64, weight int, tolerance float64) (Verdict, string) {
	switch {
	case weight >= 100:
		return Inconclusive, fmt.Sprintf("%s req/s at 100 %%: with no baseline there is no expected rate to judge it by", num(canary))
	case weight <= 0:
		return Inconclusive, fmt.Sprintf("%s req/s at 0 %%: the new version is not meant to receive traffic", num(canary))
	case math.IsNaN(canary) || math.IsInf(canary, 0):
		return Inconclusive, fmt.Sprintf("no rate for the new version (%s)", num(canary))
	case math.IsNaN(baseline) || math.IsInf(baseline, 0) || baseline <= 0:
		return Inconclusive, fmt.Sprintf("%s req/s, but the baseline receives no traffic (%s req/s)", num(canary), num(baseline))
	}
	expected := baseline * float64(weight) / float64(100-weight)
	detail := fmt.Sprintf("%s req/s where %d %% of the traffic gives %s", num(canary), weight, num(expected))
	if canary < expected*(1-tolerance) || canary <= 0 {
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
