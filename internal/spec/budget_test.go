package spec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHistoryBudget(t *testing.T) {
	check := func(n int) []Check {
		var cs []Check
		for i := range n {
			cs = append(cs, Check{Name: "c" + string(rune('a'+i)), Exec: []string{"./check.sh"}})
		}
		return cs
	}
	canary := func(steps int, bake, interval time.Duration, checks int) Strategy {
		st := Strategy{Type: StrategyCanary, Analysis: &Analysis{Interval: Duration(interval), Checks: check(checks)}}
		for i := range steps {
			st.Steps = append(st.Steps, Step{Weight: (i + 1) * 100 / steps, Bake: Duration(bake)})
		}
		return st
	}
	tests := []struct {
		name string
		edit func(e *Environment)
		// wantPath is where the problem is reported, "" for none; wantIn lists text the message must hold.
		wantPath   string
		wantIn     []string
		wantEvents int
	}{
		{
			name: "verify a day every 10s",
			edit: func(e *Environment) {
				e.Verify = &Verify{Window: Duration(24 * time.Hour), Interval: Duration(10 * time.Second), Checks: check(1)}
			},
			wantPath:   "environments[1].verify.interval",
			wantIn:     []string{"worst-case history of 95,", "budget of 20,000", "environments[1].verify.interval 95,", "8641 rounds of 1 check"},
			wantEvents: 95192,
		},
		{
			name:       "20 steps of 1h bakes with 1m analysis of 3 checks",
			edit:       func(e *Environment) { e.Strategy = canary(20, time.Hour, time.Minute, 3) },
			wantPath:   "environments[1].strategy.steps",
			wantIn:     []string{"environments[1].strategy.steps 28,", "20 steps baking 20h with analysis of 3 checks every 1m: 1240 rounds"},
			wantEvents: 28868,
		},
		{
			name: "a weekend pause step with analysis",
			edit: func(e *Environment) {
				e.Strategy = canary(2, 10*time.Minute, time.Minute, 1)
				e.Strategy.Steps = append(e.Strategy.Steps[:1], append([]Step{{Pause: &Pause{Duration: Duration(64 * time.Hour)}}}, e.Strategy.Steps[1:]...)...)
			},
			wantPath:   "environments[1].strategy.steps",
			wantIn:     []string{"environments[1].strategy.steps 42,", "with analysis of 1 check every 1m: 3866 rounds"},
			wantEvents: 42703,
		},
		{
			name: "verify and steps both drive it",
			edit: func(e *Environment) {
				e.Strategy = canary(10, time.Hour, time.Minute, 2)
				e.Verify = &Verify{Window: Duration(12 * time.Hour), Interval: Duration(30 * time.Second), Checks: check(2)}
			},
			wantPath: "environments[1].verify.interval",
			wantIn:   []string{"worst-case history of 35,271 events", "environments[1].verify.interval 24,", "environments[1].strategy.steps 10,"},
		},
		{
			name: "big but within the budget",
			edit: func(e *Environment) {
				e.Gate = Gate{Approval: &Approval{Quorum: 2, Approvers: []string{"a", "b"}}}
				e.Strategy = canary(12, time.Hour, time.Minute, 2)
				e.Strategy.Steps = append(e.Strategy.Steps, Step{Pause: &Pause{}})
				e.Checks = Checks{Smoke: check(3), E2E: check(3)}
				e.Verify = &Verify{Window: Duration(2 * time.Hour), Interval: Duration(time.Minute), Checks: check(3)}
			},
		},
		{
			name: "a paused release is not a spec's cost",
			edit: func(e *Environment) {
				e.Strategy = canary(3, 10*time.Minute, time.Minute, 1)
				e.Strategy.Steps = append(e.Strategy.Steps, Step{Pause: &Pause{}})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := goSpec()
			tt.edit(&s.Environments[1])
			ApplyDefaults(s)
			err := Validate(s)
			est := EstimateHistory(&s.Environments[1], "environments[1]")
			t.Logf("estimate %d events", est.Events)
			if tt.wantEvents != 0 && est.Events != tt.wantEvents {
				t.Errorf("got an estimate of %d events, want %d", est.Events, tt.wantEvents)
			}
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("got error:\n%v\nwant none (estimate %d events)", err, est.Events)
				}
				if est.Events > HistoryBudget {
					t.Errorf("got an estimate of %d events, want at most %d", est.Events, HistoryBudget)
				}
				return
			}
			var ps *Problems
			if !errors.As(err, &ps) || len(ps.List) != 1 {
				t.Fatalf("got error %v, want one problem at %s", err, tt.wantPath)
			}
			p := ps.List[0]
			if p.Path != tt.wantPath {
				t.Errorf("got the problem at %q, want %q", p.Path, tt.wantPath)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(p.Message, w) {
					t.Errorf("got message %q, want it to contain %q", p.Message, w)
				}
			}
		})
	}
}

// TestHistoryEstimateGrowsWithRounds checks the estimate's monotony: more rounds or checks never cost less.
func TestHistoryEstimateGrowsWithRounds(t *testing.T) {
	base := Environment{Verify: &Verify{Window: Duration(time.Hour), Interval: Duration(time.Minute), Checks: []Check{{Exec: []string{"x"}}}}}
	shorter := base
	shorter.Verify = &Verify{Window: Duration(time.Hour), Interval: Duration(30 * time.Second), Checks: base.Verify.Checks}
	if a, b := EstimateHistory(&base, "e").Events, EstimateHistory(&shorter, "e").Events; b <= a {
		t.Errorf("got %d events at a 30s interval and %d at 1m, want more at 30s", b, a)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 95046: "95,046", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d): got %q, want %q", n, got, want)
		}
	}
}
