package main

import (
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/spec"
)

// TestStartCoordinates runs `ferry start` against an address where nothing listens: bad coordinates must be
// refused with exit 2 before any dial, good ones get as far as the dial (exit 3).
func TestStartCoordinates(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "ferry.yaml", goodSpec)
	const sha = "0a1b2c3"
	tests := []struct {
		name, version, sha, image string
		want                      []string // substrings of stderr
	}{
		{"slash", "1.0/evil", sha, "", []string{`version "1.0/evil"`, spec.RuleVersion}},
		{"space", "v1 2", sha, "", []string{`version "v1 2"`, spec.RuleVersion}},
		{"dot dot", "../x", sha, "", []string{`version "../x"`, spec.RuleVersion}},
		{"shell", "$(id)", sha, "", []string{`version "$(id)"`, spec.RuleVersion}},
		{"dash", "-1", sha, "", []string{`version "-1"`, spec.RuleVersion}},
		{"300 chars", strings.Repeat("9", 300), sha, "", []string{"version \"999", "(300 bytes)", spec.RuleVersion}},
		{"unicode", "über-1", sha, "", []string{`version "über-1"`, spec.RuleVersion}},
		{"short sha", "1.0", "abc", "", []string{`git sha "abc"`, spec.RuleGitSHA}},
		{"bad image", "1.0", sha, "registry.example.com/a b:1", []string{`image "registry.example.com/a b:1"`, spec.RuleImage}},
		{"all three", "1.0/evil", "xyz", "$(id)", []string{"3 release coordinates break their rules", spec.RuleVersion, spec.RuleGitSHA, spec.RuleImage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"start", "--address", "127.0.0.1:1", "--spec", path, "--version", tt.version, "--git-sha", tt.sha}
			if tt.image != "" {
				args = append(args, "--image", tt.image)
			}
			_, stderr, code := ferry(t, args...)
			if code != exitRejected {
				t.Errorf("got exit %d, want %d; stderr:\n%s", code, exitRejected, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("got stderr:\n%s\nwant it to contain %q", stderr, w)
				}
			}
			if len(stderr) > 2000 {
				t.Errorf("got %d bytes of stderr, want long values truncated", len(stderr))
			}
		})
	}
	t.Run("good coordinates reach the dial", func(t *testing.T) {
		_, stderr, code := ferry(t, "start", "--address", "127.0.0.1:1", "--spec", path, "--version", "1.4.2", "--git-sha", sha,
			"--image", "registry.example.com/hello@sha256:"+strings.Repeat("0", 64))
		if code != exitUnreachable {
			t.Errorf("got exit %d, want %d; stderr:\n%s", code, exitUnreachable, stderr)
		}
	})
}
