package spec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	// Embedded zone data, so that window timezones validate (and resolve) the same on every machine.
	_ "time/tzdata"
)

// Weekdays are the day names a Window accepts, Monday first.
var Weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

var hoursRE = regexp.MustCompile(`^(\d\d):(\d\d)-(\d\d):(\d\d)$`)

// ParseHours parses a Window's hours, "HH:MM-HH:MM", into offsets from midnight. The end is exclusive and may
// be 24:00; the start must come before the end (a window does not span midnight).
func ParseHours(s string) (start, end time.Duration, err error) {
	m := hoursRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf(`must be "HH:MM-HH:MM", got %s`, QuoteValue(s))
	}
	start, okStart := clock(m[1], m[2])
	end, okEnd := clock(m[3], m[4])
	switch {
	case !okStart || !okEnd:
		return 0, 0, fmt.Errorf("must be times between 00:00 and 24:00, got %s", QuoteValue(s))
	case start >= end:
		return 0, 0, fmt.Errorf("start must be before end, got %s", QuoteValue(s))
	}
	return start, end, nil
}

// clock converts "HH", "MM" to an offset from midnight; 24:00 is valid, as the end of the day.
func clock(h, m string) (time.Duration, bool) {
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	d := time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute
	return d, mm < 60 && d <= 24*time.Hour
}

// ParseBlackout parses a blackout period, "YYYY-MM-DD/YYYY-MM-DD" with both days inclusive, into the instant
// it begins and the instant it ends (midnight after the last day, exclusive) in loc.
func ParseBlackout(s string, loc *time.Location) (start, end time.Time, err error) {
	first, last, ok := strings.Cut(s, "/")
	var err1, err2 error
	start, err1 = time.ParseInLocation(time.DateOnly, first, loc)
	end, err2 = time.ParseInLocation(time.DateOnly, last, loc)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return time.Time{}, time.Time{}, fmt.Errorf(`must be "YYYY-MM-DD/YYYY-MM-DD", got %s`, QuoteValue(s))
	case end.Before(start):
		return time.Time{}, time.Time{}, fmt.Errorf("start must not be after end, got %s", QuoteValue(s))
	}
	return start, end.AddDate(0, 0, 1), nil
}

func (v *validator) gate(g *Gate, p string) {
	switch {
	case g.Auto && (g.Approval != nil || g.Window != nil):
		v.add(p, "auto cannot be combined with approval or window")
	case !g.Auto && g.Approval == nil && g.Window == nil:
		v.add(p, "must be auto or set approval or window")
	}
	if a := g.Approval; a != nil {
		v.approval(a, p+".approval")
	}
	if w := g.Window; w != nil {
		v.window(w, p+".window")
	}
}

func (v *validator) approval(a *Approval, p string) {
	seen := map[string]bool{}
	for i, who := range a.Approvers {
		switch {
		case strings.TrimSpace(who) == "":
			v.add(index(p+".approvers", i), "must not be empty")
		case seen[who]:
			v.add(index(p+".approvers", i), "duplicate approver %q", who)
		default:
			seen[who] = true
		}
	}
	switch n := len(seen); {
	case n > 0 && (a.Quorum < 1 || a.Quorum > n):
		v.add(p+".quorum", "must be between 1 and the number of approvers (%d), got %d", n, a.Quorum)
	case n == 0 && a.Quorum < 1:
		v.add(p+".quorum", "must be at least 1, got %d", a.Quorum)
	}
}

func (v *validator) window(w *Window, p string) {
	seen := map[string]bool{}
	for i, day := range w.Days {
		dp := index(p+".days", i)
		if !v.oneOf(dp, day, Weekdays) {
			continue
		}
		if seen[day] {
			v.add(dp, "duplicate day %q", day)
		}
		seen[day] = true
	}
	if w.Hours != "" {
		if _, _, err := ParseHours(w.Hours); err != nil {
			v.add(p+".hours", "%v", err)
		}
	}
	loc, err := time.LoadLocation(w.Timezone)
	if err != nil || w.Timezone == "Local" {
		v.add(p+".timezone", "must be an IANA time zone like Europe/Berlin, got %s", QuoteValue(w.Timezone))
		loc = time.UTC
	}
	for i, b := range w.Blackout {
		if _, _, err := ParseBlackout(b, loc); err != nil {
			v.add(index(p+".blackout", i), "%v", err)
		}
	}
}
