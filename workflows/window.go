package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/spec"
)

// windowHorizon bounds the search for the next open window; a spec whose window never opens within it fails.
const windowHorizon = 400

// nextWindowOpen returns t when the deploy window is open at t, otherwise the next instant it opens.
// It is pure (the caller passes workflow.Now), so it is safe in workflow code and easy to table-test. The
// window's fields are parsed by the same functions that validated them.
func nextWindowOpen(w *spec.Window, t time.Time) (time.Time, error) {
	loc := time.UTC
	if w.Timezone != "" {
		l, err := time.LoadLocation(w.Timezone)
		if err != nil {
			return time.Time{}, fmt.Errorf("window timezone: %w", err)
		}
		loc = l
	}
	from, to := time.Duration(0), 24*time.Hour
	if w.Hours != "" {
		var err error
		if from, to, err = spec.ParseHours(w.Hours); err != nil {
			return time.Time{}, fmt.Errorf("window hours: %w", err)
		}
	}
	var blackouts [][2]time.Time
	for _, b := range w.Blackout {
		start, end, err := spec.ParseBlackout(b, loc)
		if err != nil {
			return time.Time{}, fmt.Errorf("window blackout: %w", err)
		}
		blackouts = append(blackouts, [2]time.Time{start, end})
	}
	local := t.In(loc)
	for i := 0; i < windowHorizon; i++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+i, 0, 0, 0, 0, loc)
		if !dayAllowed(w.Days, day.Weekday()) || inBlackout(blackouts, day) {
			continue
		}
		// Wall-clock times of that day, so a DST change moves the window with the clocks.
		open, closeAt := wallClock(day, from), wallClock(day, to)
		if !local.Before(closeAt) {
			continue
		}
		if local.Before(open) {
			return open, nil
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("deploy window never opens in the next %d days", windowHorizon)
}

// wallClock is the instant at offset d (as on a clock, 24:00 being the next midnight) of day.
func wallClock(day time.Time, d time.Duration) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), int(d/time.Hour), int(d%time.Hour/time.Minute), 0, 0, day.Location())
}

// describeWindow is the one-line form used in status and timer summaries.
func describeWindow(w *spec.Window) string {
	days := "every day"
	if len(w.Days) > 0 {
		days = strings.Join(w.Days, ",")
	}
	hours := w.Hours
	if hours == "" {
		hours = "all day"
	}
	tz := w.Timezone
	if tz == "" {
		tz = "UTC"
	}
	return fmt.Sprintf("%s %s %s", days, hours, tz)
}

func inBlackout(periods [][2]time.Time, day time.Time) bool {
	for _, p := range periods {
		if !day.Before(p[0]) && day.Before(p[1]) {
			return true
		}
	}
	return false
}

// dayAllowed reports whether wd is one of days (spec.Weekdays names, mon..sun); no days means every day.
func dayAllowed(days []string, wd time.Weekday) bool {
	return len(days) == 0 || slices.Contains(days, spec.Weekdays[(int(wd)+6)%7])
}
