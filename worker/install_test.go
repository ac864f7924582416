package worker

import (
	"log/slog"
	"testing"
)

// TestDockerInstall checks the install the worker's engine clients are scoped to: Options.Install, or else the
// task queue, on every configured engine.
func TestDockerInstall(t *testing.T) {
	hosts := map[string]DockerHost{"local": {Address: "unix:///var/run/docker.sock"}, "remote": {Address: "tcp://127.0.0.1:2375"}}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"the task queue by default", Options{TaskQueue: "ferry-eu"}, "ferry-eu"},
		{"Install over the task queue", Options{TaskQueue: "ferry-eu", Install: "shop"}, "shop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = slog.New(slog.DiscardHandler)
			tc.opts.Config.Docker.Hosts = hosts
			_, clients := dockerDriver(tc.opts)
			if len(clients) != len(hosts) {
				t.Fatalf("got %d engine clients, want %d", len(clients), len(hosts))
			}
			for name, c := range clients {
				if got := c.Install(); got != tc.want {
					t.Errorf("engine %s: got install %q, want %q", name, got, tc.want)
				}
				c.Close()
			}
		})
	}
}
