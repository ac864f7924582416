package spec

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckCoordinates(t *testing.T) {
	long := strings.Repeat("1", 300)
	tests := []struct {
		name                  string
		version, sha, image   string
		wantField, wantRule   string
		wantValueInMessageLen int // the message must not quote more than this many bytes of the value
	}{
		{name: "good", version: "1.4.2", sha: "0a1b2c3", image: "registry.example.com/checkout:1.4.2"},
		{name: "good full sha and digest", version: "v1_2-rc.3", sha: strings.Repeat("ab", 20),
			image: "registry.example.com:5000/team/checkout@sha256:" + strings.Repeat("a", 64)},
		{name: "good short image", version: "_", sha: "ABCDEF0", image: "nginx"},
		{name: "slash", version: "1.0/evil", sha: "0a1b2c3", wantField: FieldVersion, wantRule: RuleVersion},
		{name: "space", version: "v1 2", sha: "0a1b2c3", wantField: FieldVersion, wantRule: RuleVersion},
		{name: "dot dot", version: "../x", sha: "0a1b2c3", wantField: FieldVersion, wantRule: RuleVersion},
		{name: "shell", version: "$(id)", sha: "0a1b2c3", wantField: FieldVersion, wantRule: RuleVersion},
		{name: "leading dash", version: "-1", sha: "0a1b2c3", wantField: FieldVersion, wantRule: RuleVersion},
		{name: "leading dot", version: ".1", sha: "0a1b2c3", wantField: FieldVersion, wantRule: RuleVersion},
		{name: "300 chars", version: long, sha: "0a1b2c3", wantField: FieldVersion, wantRule: RuleVersion, wantValueInMessageLen: 140},
		{name: "129 chars", version: strings.Repeat("a", 129), sha: "0a1b2c3", wantField: FieldVersion, wantRule: RuleVersion},
		{name: "unicode", version: "über-1", sha: "0a1b2c3", wantField: FieldVersion, wantRule: RuleVersion},
		{name: "empty version", version: "", sha: "0a1b2c3", wantField: FieldVersion, wantRule: RuleVersion},
		{name: "short sha", version: "1.0", sha: "abc123", wantField: FieldGitSHA, wantRule: RuleGitSHA},
		{name: "long sha", version: "1.0", sha: strings.Repeat("a", 41), wantField: FieldGitSHA, wantRule: RuleGitSHA},
		{name: "non-hex sha", version: "1.0", sha: "0a1b2cz", wantField: FieldGitSHA, wantRule: RuleGitSHA},
		{name: "shell sha", version: "1.0", sha: "$(id)abc", wantField: FieldGitSHA, wantRule: RuleGitSHA},
		{name: "image with space", version: "1.0", sha: "0a1b2c3", image: "reg.example.com/a b:1", wantField: FieldImage, wantRule: RuleImage},
		{name: "image upper case repo", version: "1.0", sha: "0a1b2c3", image: "reg.example.com/Checkout:1", wantField: FieldImage, wantRule: RuleImage},
		{name: "image bad tag", version: "1.0", sha: "0a1b2c3", image: "reg.example.com/checkout:1.0/evil", wantField: FieldImage, wantRule: RuleImage},
		{name: "image short digest", version: "1.0", sha: "0a1b2c3", image: "reg.example.com/checkout@sha256:abc", wantField: FieldImage, wantRule: RuleImage},
		{name: "image shell", version: "1.0", sha: "0a1b2c3", image: "$(id)", wantField: FieldImage, wantRule: RuleImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCoordinates(tt.version, tt.sha, tt.image)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var ce *CoordinateError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *CoordinateError", err)
			}
			if ce.Field != tt.wantField || ce.Rule != tt.wantRule {
				t.Errorf("got field %q rule %q, want %q and %q", ce.Field, ce.Rule, tt.wantField, tt.wantRule)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantField+" ") || !strings.Contains(msg, tt.wantRule) {
				t.Errorf("got message %q, want it to name %q and state %q", msg, tt.wantField, tt.wantRule)
			}
			if tt.wantValueInMessageLen > 0 && len(msg) > len(tt.wantRule)+len(tt.wantField)+tt.wantValueInMessageLen {
				t.Errorf("got a %d-byte message, want the value truncated: %q", len(msg), msg)
			}
		})
	}
}

func TestCheckCoordinatesReportsEveryField(t *testing.T) {
	err := CheckCoordinates("1.0/evil", "xyz", "a b")
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *CoordinateError
		if errors.As(e, &ce) {
			fields = append(fields, ce.Field)
		}
	}
	if got, want := strings.Join(fields, ","), FieldVersion+","+FieldGitSHA+","+FieldImage; got != want {
		t.Errorf("got fields %s, want %s", got, want)
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("short", 10); got != "short" {
		t.Errorf("got %q, want it unchanged", got)
	}
	if got, want := Truncate(strings.Repeat("x", 100), 10), "xxxxxxxxxx... (100 bytes)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Never cut a rune in half.
	if got, want := Truncate("üüüüüü", 3), "ü... (12 bytes)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := QuoteValue(strings.Repeat("x", 5<<20)), `"`+strings.Repeat("x", maxValueLen)+`"... (5242880 bytes)`; got != want {
		t.Errorf("got %.100q, want %.100q", got, want)
	}
}
