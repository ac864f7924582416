package workflows

import (
	"fmt"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/spec"
)

// windowHorizon bounds the search for the next open window; a spec whose window never opens within it fails.
const windowHorizon = 400

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// nextWindowOpen returns t when the deploy window is open at t, otherwise the next instant it opens.
// It is pure (the caller passes workflow.Now), so it is safe in workflow code and easy to table-test.
func nextWindowOpen(w *spec.Window, t time.Time) (time.Time, error) {
	loc := time.UTC
	if w.Timezone != "" {
		l, err := time.LoadLocation(w.Timezone)
		if err != nil {
			return time.Time{}, fmt.Errorf("window timezone: %w", err)
		}
		loc = l
	}
	startMin, endMin, err := parseHours(w.Hours)
	if err != nil {
		return time.Time{}, err
	}
	blackouts, err := parseBlackouts(w.Blackout, loc)
	if err != nil {
		return time.Time{}, err
	}
	local := t.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	for i := 0; i < windowHorizon; i++ {
		d := day.AddDate(0, 0, i)
		if !dayAllowed(w.Days, d.Weekday()) || inBlackout(blackouts, d) {
			continue
		}
		open := d.Add(time.Duration(startMin) * time.Minute)
		closeAt := d.Add(time.Duration(endMin) * time.Minute)
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

func parseHours(h string) (startMin, endMin int, err error) {
	if h == "" {
		return 0, 24 * 60, nil
	}
	from, to, ok := strings.Cut(h, "-")
	if !ok {
		return 0, 0, fmt.Errorf("window hours %q: want HH:MM-HH:MM", h)
	}
	if startMin, err = parseClock(from); err != nil {
		return 0, 0, err
	}
	if endMin, err = parseClock(to); err != nil {
		return 0, 0, err
	}
	if endMin <= startMin {
		return 0, 0, fmt.Errorf("window hours %q: end must be after start", h)
	}
	return startMin, endMin, nil
}

func parseClock(s string) (int, error) {
	c, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		if strings.TrimSpace(s) == "24:00" {
			return 24 * 60, nil
		}
		return 0, fmt.Errorf("window time %q: want HH:MM", s)
	}
	return c.Hour()*60 + c.Minute(), nil
}

type period struct{ from, to time.Time } // to is exclusive (midnight after the last day)

func parseBlackouts(list []string, loc *time.Location) ([]period, error) {
	out := make([]period, 0, len(list))
	for _, b := range list {
		from, to, ok := strings.Cut(b, "/")
		if !ok {
			to = from
		}
		f, err := time.ParseInLocation("2006-01-02", from, loc)
		if err != nil {
			return nil, fmt.Errorf("blackout %q: %w", b, err)
		}
		e, err := time.ParseInLocation("2006-01-02", to, loc)
		if err != nil {
			return nil, fmt.Errorf("blackout %q: %w", b, err)
		}
		out = append(out, period{f, e.AddDate(0, 0, 1)})
	}
	return out, nil
}

func inBlackout(ps []period, day time.Time) bool {
	for _, p := range ps {
		if !day.Before(p.from) && day.Before(p.to) {
			return true
		}
	}
	return false
}

func dayAllowed(days []string, wd time.Weekday) bool {
	if len(days) == 0 {
		return true
	}
	for _, d := range days {
		if weekdays[strings.ToLower(d)] == wd {
			return true
		}
	}
	return false
}
