package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

func TestVersion(t *testing.T) {
	clearEnv(t)
	want := buildVersion()
	line := "ferry " + want.Version + " (commit " + want.Commit + ", " + runtime.Version() + ")\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		stdout, stderr, code := ferry(t, args...)
		if code != exitOK || stdout != line || stderr != "" {
			t.Errorf("%v: got %d %q %q, want 0 %q", args, code, stdout, stderr, line)
		}
	}
	stdout, _, code := ferry(t, "version", "-o", "json")
	var doc versionDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != exitOK || doc.GoVersion != runtime.Version() || doc.Version == "" || doc.Commit == "" {
		t.Errorf("version -o json: got %d %+v (%v), want version, commit and %s", code, doc, err, runtime.Version())
	}
	// --version of a command still selects a release.
	_, stderr, code := ferry(t, "status", "hello", "--version", "1.0.0", "--address", "127.0.0.1:1")
	if code != exitUnreachable {
		t.Errorf("status --version: got %d %q, want %d", code, stderr, exitUnreachable)
	}
}

func TestCompletion(t *testing.T) {
	clearEnv(t)
	for shell, want := range map[string]string{
		"bash": "complete -o bashdefault -o default -F _ferry_complete ferry\n",
		"zsh":  "compdef _ferry ferry\n",
		"fish": "complete -c ferry -n '__fish_ferry_no_subcommand' -f -l address",
	} {
		stdout, stderr, code := ferry(t, "completion", shell)
		if code != exitOK || !strings.Contains(stdout, want) || stderr != "" {
			t.Errorf("completion %s: got %d %q, want 0 and a script with %q:\n%s", shell, code, stderr, want, stdout)
		}
	}
	if _, stderr, code := ferry(t, "completion", "powershell"); code != exitRejected || !strings.HasPrefix(stderr, `ferry: unknown shell "powershell", want bash, zsh or fish`) {
		t.Errorf("completion powershell: got %d %q, want a usage error", code, stderr)
	}
	// What the scripts ask for. urfave/cli reads the words being completed from os.Args.
	complete := func(args ...string) string {
		saved := os.Args
		defer func() { os.Args = saved }()
		os.Args = append([]string{"ferry"}, args...)
		stdout, _, _ := ferry(t, args...)
		return stdout
	}
	stdout := complete(completionFlag)
	for _, want := range []string{"start\n", "status\n", "completion\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("commands: got %q, want it to list %q", stdout, want)
		}
	}
	stdout = complete("list", "--", completionFlag)
	if stdout != "" {
		t.Errorf("after --: got %q, want no candidates", stdout)
	}
	stdout = complete("list", "-", completionFlag)
	if !strings.Contains(stdout, "--limit\n") {
		t.Errorf("list flags: got %q, want --limit", stdout)
	}
}

// TestBashCompletion sources the bash script and completes "ferry sta" with this binary as ferry.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("bash is required under CI")
		}
		t.Skip("no bash (under CI this fails instead)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	wrapper := "#!/bin/sh\n" + runMainEnv + "=1 exec '" + self + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "ferry"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `source <(ferry completion bash)
COMP_WORDS=(ferry sta); COMP_CWORD=1; _ferry_complete; echo "${COMPREPLY[*]}"
COMP_WORDS=(ferry list --li); COMP_CWORD=2; _ferry_complete; echo "${COMPREPLY[*]}"`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if want := "start status\n--limit\n"; err != nil || string(out) != want {
		t.Errorf("got %q (%v), want %q", out, err, want)
	}
}

func TestJSONError(t *testing.T) {
	clearEnv(t)
	stdout, stderr, code := ferry(t, "validate", "nope/ferry.yaml", "-o", "json")
	var doc errorDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != exitRejected || doc.Error.ExitCode != exitRejected ||
		doc.Error.Message != "nope/ferry.yaml: no such file" || doc.Error.Hint == "" {
		t.Errorf("got %d %+v (%v) from %q, want exit 2 and an error document", code, doc, err, stdout)
	}
	if !strings.HasPrefix(stderr, "ferry: nope/ferry.yaml: no such file\nhint: ") {
		t.Errorf("got stderr %q, want the error line as in text mode", stderr)
	}
	// A usage error, before any command ran.
	stdout, _, code = ferry(t, "-o", "json", "nosuch")
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != exitRejected || doc.Error.Message != `unknown command "nosuch"` {
		t.Errorf("unknown command: got %d %q (%v), want an error document", code, stdout, err)
	}
	// A command that wrote its document (validate's problems) writes no second one.
	path := writeFile(t, "ferry.yaml", badSpec)
	stdout, _, _ = ferry(t, "validate", path, "-o", "json")
	var v validateDoc
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.OK {
		t.Errorf("bad spec: got %q (%v), want one validate document", stdout, err)
	}
	// Text mode keeps stdout empty.
	if stdout, _, _ := ferry(t, "validate", "nope/ferry.yaml"); stdout != "" {
		t.Errorf("text mode: got stdout %q, want nothing", stdout)
	}
}

// Status and list name their times alike, and leave out the ones that are not set.
func TestJSONTimes(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	row, err := json.Marshal(starter.Row{Service: "a", StartTime: start})
	if err != nil {
		t.Fatal(err)
	}
	status, err := json.Marshal(workflows.Status{Service: "a", StartedAt: start, Environments: []workflows.EnvStatus{{Name: "staging"}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{"list row": string(row), "status": string(status)} {
		if !strings.Contains(doc, `"startedAt":"2026-03-01T10:00:00Z"`) {
			t.Errorf("%s: got %s, want startedAt", name, doc)
		}
		if strings.Contains(doc, "0001-01-01") {
			t.Errorf("%s: got %s, want zero times left out", name, doc)
		}
	}
}
