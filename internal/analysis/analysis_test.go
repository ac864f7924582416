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

func TestMannWhitney(t *testing.T) {
	// Fully separated samples of 5: U = 0, σ = √(25·11/12) = 4.787, z = (12.5 - 0.5)/σ = 2.507, p = 0.01219.
	u, p := mannWhitney([]float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10})
	if u != 0 || math.Abs(p-0.01219) > 0.0001 {
		t.Errorf("got U=%v p=%v, want U=0 p=0.01219", u, p)
	}
	// Ties: x = 1,2,2,3 and y = 2,3,3,4 rank 1,3,3,6 and 3,6,6,8: U = 13 - 10 = 3; two ties of 3 give
	// σ² = 16/12·(9 - 48/56) = 10.857, z = (5 - 0.5)/3.295 = 1.366, p = 0.1720.
	u, p = mannWhitney([]float64{1, 2, 2, 3}, []float64{2, 3, 3, 4})
	if u != 3 || math.Abs(p-0.1720) > 0.0005 {
		t.Errorf("got U=%v p=%v, want U=3 p=0.1720", u, p)
	}
	if _, p := mannWhitney([]float64{1, 1, 1}, []float64{1, 1, 1}); p != 1 {
		t.Errorf("got p=%v for equal samples, want 1", p)
	}
}

func TestCompare(t *testing.T) {
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(tt.canary, tt.basel, tt.c)
			if got.Verdict != tt.want {
				t.Errorf("got %s (%s), want %s", got.Verdict, got.Detail, tt.want)
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
		{"no traffic", 0, 90, 10, 0.5, Failed},
		{"no traffic without a baseline", 0, 0, 10, 0.5, Failed},
		{"NaN is no traffic", math.NaN(), 90, 10, 0.5, Failed},
		{"baseline without traffic", 5, 0, 10, 0.5, Inconclusive},
		{"full weight", 100, 0, 100, 0.5, Successful},
		{"full weight without traffic", 0, 0, 100, 0.5, Failed},
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
