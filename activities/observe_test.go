package activities

import (
	"fmt"
	"testing"

	"github.com/ferryhq/ferry/internal/docker"
)

// TestServing splits a route's weights over the versions behind its healthy backends: an unhealthy backend
// takes nothing, a track without a healthy backend serves nothing, and a backend no container publishes is
// no version.
func TestServing(t *testing.T) {
	cts := []docker.Container{
		{Track: "stable", Version: "1.0.0", Digest: "sha256:a", State: "running", Addr: "127.0.0.1:1"},
		{Track: "stable", Version: "2.0.0", Digest: "sha256:b", State: "running", Addr: "127.0.0.1:2"},
		{Track: "canary", Version: "2.0.0", Digest: "sha256:b", State: "running", Addr: "127.0.0.1:3"},
		{Track: "stable", Version: "1.0.0", Digest: "sha256:a", State: "exited", Addr: "127.0.0.1:4"},
	}
	for _, tt := range []struct {
		name   string
		routes Routes
		want   string
	}{
		{"one version", Routes{Tracks: []RouteTrack{{Name: "stable", Weight: 100,
			Backends: []string{"http://127.0.0.1:1"}, Healthy: []string{"http://127.0.0.1:1"}}}},
			"[1.0.0 (sha256:a) at 100 %]"},
		{"stable runs the new version too", Routes{Tracks: []RouteTrack{{Name: "stable", Weight: 100,
			Backends: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}, Healthy: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}}}},
			"[1.0.0 (sha256:a) at 50 % 2.0.0 (sha256:b) at 50 %]"},
		{"canary 10 %", Routes{Tracks: []RouteTrack{
			{Name: "canary", Weight: 10, Backends: []string{"http://127.0.0.1:3"}, Healthy: []string{"http://127.0.0.1:3"}},
			{Name: "stable", Weight: 90, Backends: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}, Healthy: []string{"http://127.0.0.1:1"}}}},
			"[1.0.0 (sha256:a) at 90 % 2.0.0 (sha256:b) at 10 %]"},
		{"no healthy backend", Routes{Tracks: []RouteTrack{{Name: "stable", Weight: 100,
			Backends: []string{"http://127.0.0.1:1"}, Healthy: []string{}}}},
			"[nothing (no healthy backend) at 100 %]"},
		{"a stopped container", Routes{Tracks: []RouteTrack{{Name: "stable", Weight: 100,
			Backends: []string{"http://127.0.0.1:4"}, Healthy: []string{"http://127.0.0.1:4"}}}},
			"[nothing (no healthy backend) at 100 %]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(serving(tt.routes, cts)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
