package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// parsed runs the app with a probe command and returns the global options and --as as the probe saw them.
func parsed(t *testing.T, env map[string]string, args ...string) (GlobalOptions, string) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	g := &GlobalOptions{stdout: io.Discard, stderr: io.Discard}
	app := newApp(g)
	var got GlobalOptions
	var as string
	app.Commands = append(app.Commands, &cli.Command{
		Name:   "probe",
		Flags:  []cli.Flag{identityFlag(&as)},
		Action: func(*cli.Context) error { got = *g; return nil },
	})
	if err := app.RunContext(context.Background(), reorderArgs(app, append([]string{"ferry"}, args...))); err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return got, as
}

func TestGlobalFlagPrecedence(t *testing.T) {
	env := map[string]string{
		"TEMPORAL_ADDRESS": "temporal.env:7233", "TEMPORAL_NAMESPACE": "env-ns", "FERRY_TASK_QUEUE": "env-queue",
		"FERRY_OUTPUT": "json", "FERRY_LOG_LEVEL": "debug", "FERRY_UI_URL": "http://ui.env",
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want GlobalOptions
	}{
		{"defaults", nil, []string{"probe"},
			GlobalOptions{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "ferry", Output: "text", LogLevel: "warn"}},
		{"env over defaults", env, []string{"probe"},
			GlobalOptions{Address: "temporal.env:7233", Namespace: "env-ns", TaskQueue: "env-queue", Output: "json", LogLevel: "debug", UIURL: "http://ui.env"}},
		{"flags over env", env, []string{"--address", "flag:1", "--namespace=flag-ns", "--task-queue", "flag-queue", "-o", "text", "--log-level", "error", "--ui-url", "http://ui.flag", "probe"},
			GlobalOptions{Address: "flag:1", Namespace: "flag-ns", TaskQueue: "flag-queue", Output: "text", LogLevel: "error", UIURL: "http://ui.flag"}},
		{"global flags after the command", env, []string{"probe", "--address", "late:1", "--output=text"},
			GlobalOptions{Address: "late:1", Namespace: "env-ns", TaskQueue: "env-queue", Output: "text", LogLevel: "debug", UIURL: "http://ui.env"}},
		{"empty env means default", map[string]string{"TEMPORAL_ADDRESS": "", "FERRY_OUTPUT": ""}, []string{"probe"},
			GlobalOptions{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "ferry", Output: "text", LogLevel: "warn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := parsed(t, tt.env, tt.args...)
			got.stdout, got.stderr, got.logger = nil, nil, nil
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestIdentityPrecedence(t *testing.T) {
	if _, as := parsed(t, map[string]string{"FERRY_IDENTITY": "env-bot"}, "probe", "--as", "alice"); identityOr(as) != "alice" {
		t.Errorf("flag: got %q, want alice", identityOr(as))
	}
	if _, as := parsed(t, map[string]string{"FERRY_IDENTITY": "env-bot"}, "probe"); identityOr(as) != "env-bot" {
		t.Errorf("env: got %q, want env-bot", identityOr(as))
	}
	_, as := parsed(t, map[string]string{"USER": "carol"}, "probe")
	host, _ := os.Hostname()
	if got := identityOr(as); got != "carol@"+host {
		t.Errorf("default: got %q, want carol@%s", got, host)
	}
}

// TestCommandFlagPrecedence checks a command's own flags through what `ferry start` reports before it dials.
func TestCommandFlagPrecedence(t *testing.T) {
	clearEnv(t)
	t.Setenv("FERRY_SPEC", "env/ferry.yaml")
	t.Setenv("FERRY_VERSION", "1.0.0")
	t.Setenv("FERRY_GIT_SHA", "abc1234")
	_, stderr, code := ferry(t, "start")
	if code != exitRejected || !strings.HasPrefix(stderr, "ferry: env/ferry.yaml: no such file\n") {
		t.Errorf("env: got %d %q, want the env's spec path", code, stderr)
	}
	_, stderr, _ = ferry(t, "start", "--spec", "flag/ferry.yaml")
	if !strings.HasPrefix(stderr, "ferry: flag/ferry.yaml: no such file\n") {
		t.Errorf("flag: got %q, want the flag's spec path", stderr)
	}
	t.Setenv("FERRY_GIT_SHA", "")
	_, stderr, code = ferry(t, "start")
	if code != exitRejected || !strings.HasPrefix(stderr, "ferry: missing --git-sha\nhint: run `ferry start --help`") {
		t.Errorf("missing flag: got %d %q, want a usage error naming --git-sha", code, stderr)
	}
	_, stderr, code = ferry(t, "start", "--git-sha", "abc", "--commit-time", "yesterday")
	if code != exitRejected || !strings.Contains(stderr, "--commit-time \"yesterday\" is not an RFC 3339 time") {
		t.Errorf("bad time: got %d %q, want a usage error", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		args    []string
		message string
		hint    string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, "run `ferry help` for the commands"},
		{[]string{"--output", "yaml", "list"}, `--output is "yaml", want text or json`, "run `ferry help` for the commands"},
		{[]string{"list", "--bogus"}, "flag provided but not defined: -bogus", "run `ferry list --help` for its usage"},
		{[]string{"list", "--limit", "many"}, `invalid value "many" for flag -limit: parse error`, "run `ferry list --help` for its usage"},
		{[]string{"list", "--state", "sideways"}, `--state is "sideways", want one of running, succeeded, failed, aborted, rolled_back, superseded`, "run `ferry list --help` for its usage"},
		{[]string{"approve", "checkout"}, "missing --env", "run `ferry approve --help` for its usage"},
		{[]string{"abort", "checkout"}, "missing --reason: say why the release stops", "run `ferry abort --help` for its usage"},
		{[]string{"status"}, "missing SERVICE", "run `ferry status --help` for its usage"},
		{[]string{"status", "checkout", "--watch", "--timeout=-1m"}, "--timeout is -1m0s, want 0 (no limit) or more", "run `ferry status --help` for its usage"},
		{[]string{"status", "checkout", "--watch", "--reconnect-timeout", "0s"}, "--reconnect-timeout is 0s, want more than 0", "run `ferry status --help` for its usage"},
		{[]string{"start", "--spec", "x.yaml", "--version", "1.0.0", "--git-sha", "abc1234", "--reconnect-timeout=-5s"}, "--reconnect-timeout is -5s, want more than 0", "run `ferry start --help` for its usage"},
		{[]string{"promote", "a", "b"}, `unexpected argument "b"`, "run `ferry promote --help` for its usage"},
		{[]string{"adopt", "checkout", "--version", "1.4.1"}, "missing --env", "run `ferry adopt --help` for its usage"},
		{[]string{"adopt", "checkout", "--env", "production"}, "missing --version: the version that serves production now", "run `ferry adopt --help` for its usage"},
		{[]string{"adopt", "checkout", "--env", "production", "--version", "1.4.1"}, "missing --image: the image that serves production now, by digest (REPOSITORY@sha256:DIGEST)", "run `ferry adopt --help` for its usage"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := ferry(t, tt.args...)
			want := "ferry: " + tt.message + "\nhint: " + tt.hint + "\n"
			if code != exitRejected || stderr != want || stdout != "" {
				t.Errorf("got code %d stderr %q stdout %q, want %d and %q", code, stderr, stdout, exitRejected, want)
			}
		})
	}
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	clearEnv(t)
	stdout, _, code := ferry(t, "help")
	if code != exitOK {
		t.Fatalf("got code %d, want 0", code)
	}
	for _, e := range exitCodes {
		if !strings.Contains(stdout, e.meaning) {
			t.Errorf("help lacks exit code %d (%s)", e.code, e.meaning)
		}
	}
	for code := exitOK; code <= exitStillRunning; code++ {
		if exitCodes[code].code != code {
			t.Errorf("exitCodes[%d] documents code %d, want them in order", code, exitCodes[code].code)
		}
	}
	for _, env := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "FERRY_TASK_QUEUE", "FERRY_OUTPUT", "FERRY_LOG_LEVEL"} {
		if !strings.Contains(stdout, "$"+env) {
			t.Errorf("help does not show %s", env)
		}
	}
}

func TestEveryFlagHasEnv(t *testing.T) {
	app := newApp(&GlobalOptions{})
	check := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			if d, ok := f.(cli.DocGenerationFlag); !ok || len(d.GetEnvVars()) == 0 {
				t.Errorf("%s: flag --%s has no environment variable", where, f.Names()[0])
			}
		}
	}
	check("global", app.Flags)
	for _, c := range app.Commands {
		check(c.Name, c.Flags)
	}
}
