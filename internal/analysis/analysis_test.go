package analysis

import (
	"math"
	"strings"
	"testing"
)

func ptr(f float64) *float64 { return &f }

// The cases follow the examples of Argo Rollouts' analysis documentation (features/analysis.md and the
// Prometheus provider's page), written as Ferry thresholds.
func TestEvaluateArgoExamples(t *testing.T) {
	tests := []struct {
		name   string
		t      Threshold
		values []float64
		want   Verdict
	}{
		// Background analysis: successCondition: result >= 0.95.
		{"success rate met", Threshold{SuccessCondition: "result >= 0.95"}, []float64{0.99}, Successful},
		{"success rate at the bound", Threshold{SuccessCondition: "result >= 0.95"}, []float64{0.95}, Successful},
		{"success rate missed", Threshold{SuccessCondition: "result >= 0.95"}, []float64{0.9}, Failed},
		// Multiple templates: successCondition: result <= 0.95 on an error rate.
		{"error rate met", Threshold{SuccessCondition: "result <= 0.95"}, []float64{0.01}, Successful},
		{"error rate missed", Threshold{SuccessCondition: "result <= 0.95"}, []float64{0.96}, Failed},
		// Failure conditions: failureCondition: result >= 10 (total errors).
		{"errors below the failure condition", Threshold{FailureCondition: "result >= 10"}, []float64{3}, Successful},
		{"errors meet the failure condition", Threshold{FailureCondition: "result >= 10"}, []float64{10}, Failed},
		// Inconclusive runs: no condition at all.
		{"no condition", Threshold{}, []float64{0.5}, Inconclusive},
		// Inconclusive runs: successCondition: result >= 0.90 and failureCondition: result < 0.50.
		{"between the conditions", Threshold{SuccessCondition: "result >= 0.90", FailureCondition: "result < 0.50"}, []float64{0.7}, Inconclusive},
		{"meets success of both", Threshold{SuccessCondition: "result >= 0.90", FailureCondition: "result < 0.50"}, []float64{0.95}, Successful},
		{"meets failure of both", Threshold{SuccessCondition: "result >= 0.90", FailureCondition: "result < 0.50"}, []float64{0.4}, Failed},
		// Prometheus provider: successCondition: result[0] >= 0.95, a vector result.
		{"indexed vector met", Threshold{SuccessCondition: "result[0] >= 0.95"}, []float64{0.97}, Successful},
		{"indexed vector missed", Threshold{SuccessCondition: "result[0] >= 0.95"}, []float64{0.5}, Failed},
		{"indexed empty vector", Threshold{SuccessCondition: "result[0] >= 0.95"}, nil, Error},
		// Prometheus provider: len(result) == 0 || result[0] >= 0.95 accepts no data explicitly.
		{"explicit empty vector", Threshold{SuccessCondition: "len(result) == 0 || result[0] >= 0.95"}, nil, Successful},
		// Web metric: asFloat(result) >= 0.90.
		{"asFloat", Threshold{SuccessCondition: "asFloat(result) >= 0.90"}, []float64{0.93}, Successful},
		// NaN handling: the Prometheus page's isNaN(result) || result >= 0.95.
		{"isNaN accepts NaN", Threshold{SuccessCondition: "isNaN(result) || result >= 0.95"}, []float64{math.NaN()}, Successful},
		{"isInf", Threshold{FailureCondition: "isInf(result)"}, []float64{math.Inf(1)}, Failed},
		// Ferry's shorthand.
		{"max met", Threshold{Max: ptr(0.01)}, []float64{0.005}, Successful},
		{"max missed", Threshold{Max: ptr(0.01)}, []float64{0.2}, Failed},
		{"min missed", Threshold{Min: ptr(10)}, []float64{2}, Failed},
		{"min and max", Threshold{Min: ptr(1), Max: ptr(2)}, []float64{1.5}, Successful},
		{"max without data", Threshold{Max: ptr(0.01)}, nil, Inconclusive},
		{"max on NaN", Threshold{Max: ptr(0.01)}, []float64{math.NaN()}, Inconclusive},
		{"max on several series", Threshold{Max: ptr(0.01)}, []float64{0, 1}, Error},
		// No data is never a pass by itself.
		{"success condition without data", Threshold{SuccessCondition: "result >= 0.95"}, nil, Inconclusive},
		{"failure condition without data", Threshold{FailureCondition: "result >= 10"}, nil, Inconclusive},
		{"scalar condition on several series", Threshold{SuccessCondition: "result > 0"}, []float64{1, 2}, Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, detail := Evaluate(tt.t, tt.values)
			if got != tt.want {
				t.Errorf("got %s (%s), want %s", got, detail, tt.want)
			}
			if detail == "" {
				t.Error("got an empty detail, want one")
			}
		})
	}
}

// TestEvaluateNoValue runs every special value under every form of threshold: no data, NaN and -Inf are
// never a pass (nor a failure, unless a condition that holds says so), and +Inf fails a max and passes
// nothing by itself.
func TestEvaluateNoValue(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	forms := []struct {
		name string
		t    Threshold
	}{
		{"max", Threshold{Max: ptr(0.01)}},
		{"min", Threshold{Min: ptr(0.95)}},
		{"min and max", Threshold{Min: ptr(0), Max: ptr(0.01)}},
		{"success", Threshold{SuccessCondition: "result < 0.01"}},
		{"success negated", Threshold{SuccessCondition: "!(result >= 0.01)"}},
		{"failure", Threshold{FailureCondition: "result >= 0.01"}},
		{"failure on a low value", Threshold{FailureCondition: "result < 0.95"}},
		{"both", Threshold{SuccessCondition: "result < 0.01", FailureCondition: "result >= 0.05"}},
		{"list success", Threshold{SuccessCondition: "result[0] < 0.01"}},
		{"list failure", Threshold{FailureCondition: "result[0] >= 0.01"}},
		{"list both", Threshold{SuccessCondition: "all(result, # < 0.01)", FailureCondition: "any(result, # >= 0.05)"}},
	}
	for _, f := range forms {
		for _, v := range []struct {
			name   string
			values []float64
		}{{"no data", nil}, {"NaN", []float64{nan}}, {"-Inf", []float64{-inf}}, {"NaN among values", []float64{0.001, nan}}} {
			t.Run(f.name+"/"+v.name, func(t *testing.T) {
				got, detail := Evaluate(f.t, v.values)
				if got == Successful || got == Failed {
					t.Errorf("got %s (%s), want inconclusive or error", got, detail)
				}
			})
		}
		t.Run(f.name+"/+Inf", func(t *testing.T) {
			got, detail := Evaluate(f.t, []float64{inf})
			if got == Successful {
				t.Errorf("got %s (%s), want anything but a pass", got, detail)
			}
			upper := f.t.Max != nil || strings.Contains(f.t.FailureCondition, ">=") || strings.Contains(f.t.SuccessCondition, "<")
			if upper && got != Failed {
				t.Errorf("got %s (%s) under an upper bound, want failed", got, detail)
			}
		})
	}
	// A condition that names the case decides it.
	named := []struct {
		name   string
		t      Threshold
		values []float64
		want   Verdict
	}{
		{"empty accepted", Threshold{SuccessCondition: "len(result) == 0 || result[0] < 0.01"}, nil, Successful},
		{"empty refused", Threshold{FailureCondition: "len(result) == 0"}, nil, Failed},
		{"NaN accepted", Threshold{SuccessCondition: "isNaN(result) || result < 0.01"}, []float64{nan}, Successful},
		{"NaN refused", Threshold{FailureCondition: "isNaN(result[0]) || result[0] >= 0.01"}, []float64{nan}, Failed},
		{"+Inf accepted", Threshold{SuccessCondition: "isInf(result) || result > 10"}, []float64{inf}, Successful},
		{"+Inf meets a min-like success", Threshold{SuccessCondition: "result > 10"}, []float64{inf}, Inconclusive},
		{"+Inf meets a min", Threshold{Min: ptr(10)}, []float64{inf}, Inconclusive},
		{"-Inf below a min", Threshold{Min: ptr(10)}, []float64{-inf}, Inconclusive},
		{"finite values still pass", Threshold{FailureCondition: "result >= 0.01"}, []float64{0.001}, Successful},
	}
	for _, tt := range named {
		t.Run(tt.name, func(t *testing.T) {
			if got, detail := Evaluate(tt.t, tt.values); got != tt.want {
				t.Errorf("got %s (%s), want %s", got, detail, tt.want)
			}
		})
	}
}

func TestThresholdCheck(t *testing.T) {
	tests := []struct {
		name string
		t    Threshold
		want string
	}{
		{"valid", Threshold{SuccessCondition: "result[0] >= 0.95", FailureCondition: "result < 0.5"}, ""},
		{"syntax", Threshold{SuccessCondition: "result >="}, "successCondition: "},
		{"not boolean", Threshold{FailureCondition: "result + 1"}, "failureCondition: "},
		{"unknown variable", Threshold{SuccessCondition: "value > 1"}, "successCondition: "},
		{"mixed", Threshold{Max: ptr(1), SuccessCondition: "result < 1"}, "not both"},
		{"min above max", Threshold{Min: ptr(2), Max: ptr(1)}, "min 2 is greater than max 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.t.Check()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// The bounds match the critical values of the Mann-Whitney U tables: a test at level alpha rejects when U
// is at most k-1.
func TestRankBound(t *testing.T) {
	tests := []struct {
		m, n  int
		alpha float64
		want  int
	}{
		{12, 12, 0.025, 38}, // two-sided 0.05: U <= 37
		{12, 12, 0.05, 43},  // one-sided 0.05: U <= 42
		{5, 5, 0.025, 3},    // two-sided 0.05: U <= 2
		{5, 5, 0.05, 5},     // one-sided 0.05: U <= 4
		{3, 3, 0.05, 1},     // one-sided 0.05: only U = 0, probability 1/20
		{3, 3, 0.025, 0},    // two-sided 0.05: out of reach
		{4, 4, 0.01, 0},     // one-sided 0.01: 1/70 > 0.01
		{8, 3, 0.05, 4},     // one-sided 0.05 for 8 and 3: U <= 3 (7/165)
	}
	for _, tt := range tests {
		if got := rankBound(tt.m, tt.n, tt.alpha); got != tt.want {
			t.Errorf("rankBound(%d, %d, %v): got %d, want %d", tt.m, tt.n, tt.alpha, got, tt.want)
		}
	}
	// The normal approximation, past maxExact, stays close to the exact bound.
	exact := rankBound(150, 250, 0.05)
	sigma := math.Sqrt(150 * 250 * 401 / 12.0)
	if approx := int(math.Floor(150*250/2 - 1.6449*sigma + 0.5)); math.Abs(float64(exact-approx)) > 3 {
		t.Errorf("exact bound %d, normal approximation %d: want them within 3", exact, approx)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{{[]float64{1, 2, 100}, 2}, {[]float64{100, 1, 3, 2}, 2.5}, {[]float64{5}, 5}, {[]float64{1, math.Inf(1)}, math.Inf(1)}} {
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v): got %v, want %v", tt.xs, got, tt.want)
		}
	}
}

func scaled(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}

func TestCompare(t *testing.T) {
	inf := math.Inf(1)
	base := []float64{0.10, 0.11, 0.09, 0.10, 0.12, 0.10, 0.11, 0.09, 0.10, 0.11}
	slow := []float64{0.30, 0.31, 0.29, 0.32, 0.30, 0.33, 0.31, 0.30, 0.29, 0.31}
	fast := []float64{0.05, 0.06, 0.05, 0.04, 0.05, 0.06, 0.05, 0.05, 0.04, 0.06}
	same := []float64{0.11, 0.10, 0.10, 0.09, 0.11, 0.12, 0.10, 0.10, 0.11, 0.09}
	tests := []struct {
		name          string
		canary, basel []float64
		c             Comparison
		want          Verdict
	}{
		{"same", same, base, Comparison{}, Successful},
		{"slower fails on increase", slow, base, Comparison{Direction: Increase}, Failed},
		{"faster passes on increase", fast, base, Comparison{Direction: Increase}, Successful},
		{"faster fails on decrease", fast, base, Comparison{Direction: Decrease}, Failed},
		{"faster fails on either", fast, base, Comparison{Direction: Either}, Failed},
		{"slower within a wide tolerance", slow, base, Comparison{Tolerance: 3}, Successful},
		{"high confidence still fails a clear change", slow, base, Comparison{Confidence: 0.999}, Failed},
		{"no canary data", nil, base, Comparison{}, Inconclusive},
		{"no baseline data", slow, nil, Comparison{}, Inconclusive},
		{"NaN samples do not count", []float64{math.NaN(), math.NaN(), 1}, base, Comparison{}, Inconclusive},
		{"lower canary never fails as an increase", fast, base, Comparison{Direction: Increase}, Successful},
		{"+Inf samples rank above every value", []float64{inf, inf, inf, inf, inf, inf}, base, Comparison{}, Failed},
		{"+Inf on both sides ties", []float64{inf, inf, inf, inf}, []float64{inf, inf, inf, inf}, Comparison{}, Successful},
		{"3 a side reaches one-sided 0.95", slow[:3], base[:3], Comparison{}, Failed},
		{"3 a side cannot reach two-sided 0.95", slow[:3], base[:3], Comparison{Direction: Either}, Inconclusive},
		{"4 a side cannot reach 0.99", slow[:4], base[:4], Comparison{Confidence: 0.99}, Inconclusive},
		{"tolerance applies to the shift", scaled(base, 1.15), base, Comparison{Tolerance: 0.2}, Successful},
		{"a shift beyond the tolerance fails", scaled(base, 1.5), base, Comparison{Tolerance: 0.2}, Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(tt.canary, tt.basel, tt.c)
			if got.Verdict != tt.want {
				t.Errorf("got %s (%s), want %s", got.Verdict, got.Detail, tt.want)
			}
			if got.Verdict == Inconclusive && len(tt.canary) > 0 && len(tt.basel) > 0 && !strings.Contains(got.Detail, "too few samples to reach confidence") {
				t.Errorf("got detail %q, want it to name the sample size", got.Detail)
			}
		})
	}
}

func TestThroughput(t *testing.T) {
	tests := []struct {
		name             string
		canary, baseline float64
		weight           int
		tolerance        float64
		want             Verdict
	}{
		{"proportional", 10, 90, 10, 0.5, Successful},
		{"half of expected at tolerance 0.5", 5, 90, 10, 0.5, Successful},
		{"too little", 2, 90, 10, 0.5, Failed},
		{"no traffic while the baseline has some", 0, 90, 10, 0.5, Failed},
		{"no traffic at all", 0, 0, 10, 0.5, Inconclusive},
		{"no rate is no data, not no traffic", math.NaN(), 90, 10, 0.5, Inconclusive},
		{"baseline without traffic", 5, 0, 10, 0.5, Inconclusive},
		{"baseline without data", 5, math.NaN(), 10, 0.5, Inconclusive},
		{"full weight has nothing to judge by", 100, 0, 100, 0.5, Inconclusive},
		{"full weight without traffic", 0, 0, 100, 0.5, Inconclusive},
		{"weight 0 expects no traffic", 0, 90, 0, 0.5, Inconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, detail := Throughput(tt.canary, tt.baseline, tt.weight, tt.tolerance); got != tt.want {
				t.Errorf("got %s (%s), want %s", got, detail, tt.want)
			}
		})
	}
}

// The thresholds follow the Kayenta example of Argo Rollouts' documentation: pass 90, marginal 75.
func TestScore(t *testing.T) {
	pass := func(n int) []Scored {
		s := make([]Scored, n)
		for i := range s {
			s[i].Verdict = Successful
		}
		return s
	}
	tests := []struct {
		name    string
		results []Scored
		score   float64
		want    Verdict
	}{
		{"all pass", pass(4), 100, Successful},
		{"marginal", append(pass(4), Scored{Verdict: Failed}), 80, Inconclusive},
		{"fail", append(pass(1), Scored{Verdict: Failed}), 50, Failed},
		{"critical", append(pass(9), Scored{Verdict: Failed, Critical: true}), 0, Failed},
		{"inconclusive left out", append(pass(2), Scored{Verdict: Inconclusive}, Scored{Verdict: Error}), 100, Successful},
		{"nothing judged", []Scored{{Verdict: Inconclusive}}, 0, Inconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			score, got := Score(tt.results, 90, 75)
			if score != tt.score || got != tt.want {
				t.Errorf("got %v %s, want %v %s", score, got, tt.score, tt.want)
			}
		})
	}
}
