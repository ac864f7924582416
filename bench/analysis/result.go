package main

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// result is what one trial gave.
type result struct {
	trial
	lane          int
	version       string
	state, reason string // the release's end
	paused        bool   // it paused for a person and the benchmark aborted it
	// weightAt is when the router took the canary's weight; onset when its fault started (zero: no fault, or
	// the release ended first); backAt when the router sent 100 % to stable again (zero: never).
	weightAt, onset, backAt time.Time
	// comparisons are the verdicts of the baseline comparisons measured while the canary was healthy.
	comparisons []analysis.Verdict
}

// outcome classifies a fault trial.
type outcome int

const (
	caught outcome = iota // rolled back after the fault started
	missed                // promoted, or paused for a person, with the fault on
	early                 // rolled back or paused before the fault started: a false positive
)

// check refuses an end that no trial should have: the benchmark, not the analysis, broke.
func (r result) check() error {
	switch {
	case r.paused, r.state == workflows.StateRolledBack:
		return nil
	case r.state == workflows.StateSucceeded && (r.kind.healthy || !r.onset.IsZero()):
		return nil
	}
	return fmt.Errorf("release %s ended %s (%s), want rolled back or promoted", r.version, r.state, r.reason)
}

func (r result) outcome() outcome {
	switch {
	case r.onset.IsZero():
		return early
	case r.paused || r.state == workflows.StateSucceeded:
		return missed
	case r.backAt.IsZero() || r.backAt.Before(r.onset):
		return early
	}
	return caught
}

// detection is the time from fault onset to 100 % on stable, for a caught fault.
func (r result) detection() time.Duration { return r.backAt.Sub(r.onset) }

// comparisons reads the verdicts of the baseline comparisons that completed before onset (all of them when
// onset is zero) from the release's history: the ones measured on a healthy canary.
func comparisons(ctx context.Context, c client.Client, run starter.Run, onset time.Time) ([]analysis.Verdict, error) {
	scheduled := map[int64]bool{}
	var out []analysis.Verdict
	it := c.GetWorkflowHistory(ctx, run.WorkflowID, run.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("read history of %s: %w", run.WorkflowID, err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "MeasureMetric" {
			scheduled[e.GetEventId()] = true
		}
		a := e.GetActivityTaskCompletedEventAttributes()
		if a == nil || !scheduled[a.GetScheduledEventId()] || !onset.IsZero() && !e.GetEventTime().AsTime().Before(onset) {
			continue
		}
		var res activities.MeasureResult
		if err := converter.GetDefaultDataConverter().FromPayloads(a.GetResult(), &res); err != nil {
			return nil, fmt.Errorf("decode a measurement of %s: %w", run.WorkflowID, err)
		}
		if res.Name == comparisonMetric {
			out = append(out, res.Verdict)
		}
	}
	return out, nil
}
