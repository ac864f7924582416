package workflows

import (
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/spec"
)

func TestNextWindowOpen(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	weekdays := &spec.Window{Days: []string{"mon", "tue", "wed", "thu"}, Hours: "09:00-16:00", Timezone: "Europe/Berlin",
		Blackout: []string{"2026-12-20/2027-01-04"}}
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, berlin) }
	tests := []struct {
		name string
		w    *spec.Window
		now  time.Time
		want time.Time
	}{
		{"open now", weekdays, at(2026, 11, 26, 10, 0), at(2026, 11, 26, 10, 0)},
		{"before opening", weekdays, at(2026, 11, 26, 7, 30), at(2026, 11, 26, 9, 0)},
		{"at closing (end exclusive)", weekdays, at(2026, 11, 26, 16, 0), at(2026, 11, 30, 9, 0)},
		{"friday 4 pm waits for monday", weekdays, at(2026, 11, 27, 16, 0), at(2026, 11, 30, 9, 0)},
		{"blackout skips the holidays", weekdays, at(2026, 12, 17, 17, 0), at(2027, 1, 5, 9, 0)},
		{"last blackout day is inclusive", weekdays, at(2027, 1, 4, 10, 0), at(2027, 1, 5, 9, 0)},
		{"no hours means all day", &spec.Window{Days: []string{"sat"}}, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)},
		{"utc by default", &spec.Window{Hours: "22:00-23:00"}, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nextWindowOpen(tt.w, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNextWindowOpenErrors(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, w := range []*spec.Window{
		{Timezone: "Mars/Olympus"},
		{Hours: "16:00-09:00"},
		{Hours: "9am-5pm"},
		{Blackout: []string{"2026-13-01/2026-12-31"}},
		{Days: []string{"mon"}, Blackout: []string{"2026-01-01/2028-01-01"}}, // never opens
	} {
		if _, err := nextWindowOpen(w, now); err == nil {
			t.Errorf("window %+v: got no error", w)
		}
	}
}

// The window follows the wall clock across a DST change: Berlin moves to summer time on 2027-03-28.
func TestNextWindowOpenAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	w := &spec.Window{Hours: "09:00-16:00", Timezone: "Europe/Berlin"}
	got, err := nextWindowOpen(w, time.Date(2027, 3, 28, 1, 0, 0, 0, berlin))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2027, 3, 28, 9, 0, 0, 0, berlin); !got.Equal(want) || got.In(berlin).Hour() != 9 {
		t.Errorf("got %v, want %v", got.In(berlin), want)
	}
}
