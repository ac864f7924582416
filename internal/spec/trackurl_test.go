package spec

import (
	"strings"
	"testing"
)

// {{.TrackURL}} is known in http checks on the Docker platform only: elsewhere it would render empty and
// the check would reach nothing, so validation refuses it.
func TestTrackURLOnlyInDockerChecks(t *testing.T) {
	const docker = "platform: {docker: {port: 8080}}\n"
	const exec = "platform: {exec: {deploy: [deploy, '{{.TrackURL}}']}}\n"
	tests := []struct {
		name, platform, check, want string
	}{
		{"docker url", docker, `{http: {url: "{{.TrackURL}}/version"}}`, ""},
		{"exec url", "platform: {exec: {deploy: [deploy]}}\n", `{http: {url: "{{.TrackURL}}/version"}}`,
			"environments[0].checks.smoke[0].http: {{.TrackURL}} needs a platform whose checks reach a track's replicas (docker)"},
		{"exec command", exec, `{http: {url: "http://app.local/"}}`, "platform.exec.deploy[1]: {{.TrackURL}} is known only in http checks"},
		{"docker exec check", docker, `{exec: [probe, "{{.TrackURL}}"]}`, "environments[0].checks.smoke[0].exec[1]: {{.TrackURL}} is known only in http checks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := "service: app\nimage: {repository: reg.local/app}\n" + tt.platform +
				"environments:\n  - name: staging\n    replicas: 1\n    strategy: {type: recreate}\n    checks:\n      smoke: [" + tt.check + "]\n"
			_, err := Parse([]byte(y), "ferry.yaml")
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want a valid spec", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
