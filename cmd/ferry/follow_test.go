package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/ferryhq/ferry/starter"
)

func TestOutageText(t *testing.T) {
	refused := fmt.Errorf("describe: %w", serviceerror.NewUnavailable(`connection error: desc = "transport: dial tcp 127.0.0.1:7233: connect: connection refused"`))
	got := outageText(starter.Outage{Since: time.Now(), Attempt: 3, Retry: 2 * time.Second, Left: 93*time.Second + 400*time.Millisecond, Err: refused})
	if want := "lost Temporal (connection refused); reconnecting in 2s (attempt 3, giving up in 1m33s)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got = outageText(starter.Outage{Attempt: 1, Retry: 500 * time.Millisecond, Left: time.Minute, Err: serviceerror.NewDeadlineExceeded("context deadline exceeded")})
	if want := "lost Temporal (no answer); reconnecting in 500ms (attempt 1, giving up in 1m)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got = outageText(starter.Outage{Since: time.Now().Add(-9 * time.Second)})
	if !strings.HasPrefix(got, "reconnected to Temporal after ") {
		t.Errorf("got %q, want the reconnection", got)
	}
}
