package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/workflows"
)

func TestPrintStatusMeasurements(t *testing.T) {
	v, b := 0.31, 0.1
	st := workflows.Status{Service: "checkout", Version: "1.4.2", State: "running", Env: "production", Stage: "canary",
		Measurements: []workflows.MeasurementStatus{
			{Metric: "latency", Kind: "analysis", Verdict: analysis.Failed, Value: &v, Baseline: &b, Measured: 3, Failures: 2,
				Detail: "median 0.31 vs baseline 0.1, p=0.001", Query: "p99", At: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)},
			{Metric: "error-rate", Kind: "analysis", Verdict: analysis.Error, DryRun: true, Measured: 1, Errors: 1},
		},
		Score: &workflows.ScoreStatus{Kind: "analysis", Score: 50, Verdict: analysis.Failed},
	}
	var out bytes.Buffer
	printStatus(&out, st, time.Now())
	for _, want := range []string{
		"metric  analysis latency 0.31 failed vs baseline 0.1 (3 measured, 2 failed) at ",
		": median 0.31 vs baseline 0.1, p=0.001 [p99]",
		"metric  analysis error-rate (dry run) - error (1 measured, 1 errors in a row)",
		"score   analysis 50: failed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("got:\n%s\nwant a line containing %q", out.String(), want)
		}
	}
}
