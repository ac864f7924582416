package activities

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// testVars is a realistic set of template variables.
var testVars = TemplateVars{
	Service:        "checkout",
	Env:            "staging",
	Version:        "1.4.0",
	GitSHA:         "0a1b2c3",
	Image:          "registry.test/checkout:1.4.0",
	Track:          "canary",
	Weight:         10,
	Replicas:       2,
	Strategy:       "canary",
	MaxUnavailable: 1,
	MaxSurge:       2,
	StableVersion:  "1.3.9",
	StableImage:    "registry.test/checkout@sha256:def",
	Config:         map[string]string{"region": "eu-1", "log-level": "debug", "db.pool_size": "10"},
}

// newActivityEnv returns a test activity environment with acts registered.
func newActivityEnv(acts ...any) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	for _, a := range acts {
		env.RegisterActivity(a)
	}
	return env
}

// assertFailure checks that err carries an ApplicationError of type typ, retryable or not as wanted, whose
// message contains msg.
func assertFailure(t *testing.T, err error, typ string, retryable bool, msg string) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("got error %v, want an ApplicationError of type %s", err, typ)
	}
	if appErr.Type() != typ || appErr.NonRetryable() == retryable {
		t.Errorf("got type %q retryable %v, want type %q retryable %v (%v)",
			appErr.Type(), !appErr.NonRetryable(), typ, retryable, err)
	}
	if !strings.Contains(appErr.Message(), msg) {
		t.Errorf("got message %q, want it to contain %q", appErr.Message(), msg)
	}
	return appErr
}

// assertRetryable checks that err is a failure Temporal would retry.
func assertRetryable(t *testing.T, err error) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.NonRetryable() {
		t.Errorf("got error %v, want a retryable ApplicationError", err)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		text    string
		want    string
		wantErr bool
	}{
		{text: "plain", want: "plain"},
		{text: "{{.Image}}", want: "registry.test/checkout:1.4.0"},
		{text: "--weight={{.Weight}} --replicas={{.Replicas}}", want: "--weight=10 --replicas=2"},
		{text: "{{.Service}}-{{.Env}}-{{.Track}}", want: "checkout-staging-canary"},
		{text: "{{.Config.region}}", want: "eu-1"},
		{text: `{{index .Config "log-level"}}`, want: "debug"},
		{text: "{{.Config.missing}}", wantErr: true},
		{text: "{{.NoSuchField}}", wantErr: true},
		{text: "{{.Image", wantErr: true},
	}
	for _, tt := range tests {
		got, err := render("arg", tt.text, testVars)
		if (err != nil) != tt.wantErr {
			t.Errorf("render(%q): got error %v, want error %v", tt.text, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("render(%q): got %q, want %q", tt.text, got, tt.want)
		}
	}
}

// testVarsEnv is the environment commandEnv builds from testVars for op.
func testVarsEnv(op string) []string {
	return []string{
		"FERRY_OP=" + op,
		"FERRY_SERVICE=checkout",
		"FERRY_ENV=staging",
		"FERRY_VERSION=1.4.0",
		"FERRY_GIT_SHA=0a1b2c3",
		"FERRY_IMAGE=registry.test/checkout:1.4.0",
		"FERRY_IMAGE_TAG=",
		"FERRY_DIGEST=",
		"FERRY_TRACK=canary",
		"FERRY_WEIGHT=10",
		"FERRY_REPLICAS=2",
		"FERRY_STRATEGY=canary",
		"FERRY_MAX_UNAVAILABLE=1",
		"FERRY_MAX_SURGE=2",
		"FERRY_STABLE_VERSION=1.3.9",
		"FERRY_STABLE_IMAGE=registry.test/checkout@sha256:def",
		"FERRY_CONFIG_DB_POOL_SIZE=10",
		"FERRY_CONFIG_LOG_LEVEL=debug",
		"FERRY_CONFIG_REGION=eu-1",
	}
}

// assertLines compares two lists of lines and shows both in full when they differ.
func assertLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got %s\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCommandEnv(t *testing.T) {
	assertLines(t, "env", commandEnv("deploy", testVars), testVarsEnv("deploy"))
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"region":       "REGION",
		"log-level":    "LOG_LEVEL",
		"db.pool_size": "DB_POOL_SIZE",
		"Mixed9Case":   "MIXED9CASE",
		"grüße":        "GR__E",
	}
	for key, want := range tests {
		if got := envName(key); got != want {
			t.Errorf("envName(%q): got %q, want %q", key, got, want)
		}
	}
}

func TestCommandInvalidSpec(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		dir  string
		msg  string
	}{
		{"empty argv", nil, "", "platform.exec.deploy is empty"},
		{"bad template", []string{"deploy", "{{.Image"}, "", "platform.exec.deploy[1]: invalid template"},
		{"missing config key", []string{"deploy", "{{.Config.nope}}"}, "", "platform.exec.deploy[1]: invalid template"},
		{"empty program", []string{"{{.GitSHA}}"}, "", "platform.exec.deploy[0]: the program name is empty"},
		{"dir leaves the root", []string{"deploy"}, "ops/../../etc", `platform.exec.deploy: working directory "ops/../../etc" leaves the worker's exec root /srv/app`},
		{"absolute dir outside the root", []string{"deploy"}, "/ci/workspace", `working directory "/ci/workspace" leaves the worker's exec root /srv/app`},
		{"program not allowed", []string{"/bin/sh", "-c", "id"}, "", `platform.exec.deploy[0]: program /bin/sh is not allowed: it matches none of the worker's --exec-allow patterns /srv/app/**, kubectl`},
	}
	vars := testVars
	vars.GitSHA = ""
	policy := &ExecPolicy{Root: "/srv/app", Allow: []string{"/srv/app/**", "kubectl"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := command(policy, "platform.exec.deploy", tt.argv, tt.dir, 0, "deploy", vars)
			assertFailure(t, err, ErrTypeInvalidSpec, false, tt.msg)
		})
	}
}

func TestWithOutput(t *testing.T) {
	tests := []struct {
		output string
		n      int
		want   string
	}{
		{"", 5, "exit status 1"},
		{"\n  \n", 5, "exit status 1"},
		{"only\n", 5, "exit status 1: only"},
		{"a\nb\n\nc\r\n", 2, "exit status 1: b; c"},
		{"no newline at end", 1, "exit status 1: no newline at end"},
		{"1\n2\n3\n4\n5\n6\n7\n", 5, "exit status 1: 3; 4; 5; 6; 7"},
	}
	for _, tt := range tests {
		if got := withOutput("exit status 1", tt.output, tt.n); got != tt.want {
			t.Errorf("withOutput(%q, %d): got %q, want %q", tt.output, tt.n, got, tt.want)
		}
	}
}

// A release started straight through the Temporal API skips `ferry start`'s checks: the worker refuses hostile
// coordinates before they reach a command line.
func TestCommandRefusesBadCoordinates(t *testing.T) {
	tests := []struct {
		name string
		edit func(*TemplateVars)
		msg  string
	}{
		{"version", func(v *TemplateVars) { v.Version = "$(id)" }, `platform.exec.deploy: version "$(id)": must be an OCI tag`},
		{"git sha", func(v *TemplateVars) { v.GitSHA = "1.0/evil" }, `platform.exec.deploy: git sha "1.0/evil": must be 7 to 40 hexadecimal characters`},
		{"image", func(v *TemplateVars) { v.Image = "reg.test/x y:1" }, `platform.exec.deploy: image "reg.test/x y:1": must be a valid OCI image reference`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := testVars
			tt.edit(&vars)
			_, err := command(testPolicy, "platform.exec.deploy", []string{"./deploy.sh", "{{.Version}}"}, "", 0, "deploy", vars)
			assertFailure(t, err, ErrTypeInvalidSpec, false, tt.msg)
		})
	}
}

// testPolicy lets tests run any program, anywhere, with the test's own PATH.
var testPolicy = &ExecPolicy{Root: "/", Allow: []string{"/**", "*"}, Env: []string{"PATH=" + os.Getenv("PATH")}}
