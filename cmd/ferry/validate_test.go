package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateGood(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "ferry.yaml", goodSpec)
	writeProgram(t, filepath.Join(filepath.Dir(path), "platform.sh"))
	stdout, stderr, code := ferry(t, "validate", path)
	if code != exitOK || stdout != path+": ok\n" || stderr != "" {
		t.Errorf("got code %d stdout %q stderr %q, want 0, %q and nothing", code, stdout, path+": ok\n", stderr)
	}
}

func TestValidateBad(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "ferry.yaml", badSpec)
	stdout, stderr, code := ferry(t, "validate", path)
	if code != exitRejected {
		t.Errorf("got code %d, want %d", code, exitRejected)
	}
	if stdout != "" {
		t.Errorf("got stdout %q, want nothing: problems are errors", stdout)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	wantPrefixes := []string{
		path + ":1: service: ",
		path + ":5: platform.exec.deploy[2]: unknown template variable .Verison",
	}
	for _, want := range wantPrefixes {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, want)
		}
		if !found {
			t.Errorf("stderr lacks a line starting %q; got:\n%s", want, stderr)
		}
	}
	if n := len(lines); n < 5 || !strings.HasPrefix(lines[n-2], "ferry: "+path+" has ") || !strings.HasPrefix(lines[n-1], "hint: ") {
		t.Errorf("stderr does not end in the ferry:/hint: pair; got:\n%s", stderr)
	}
}

func TestValidateJSON(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "ferry.yaml", badSpec)
	// Flags may follow the argument.
	stdout, _, code := ferry(t, "validate", path, "--output", "json")
	if code != exitRejected {
		t.Errorf("got code %d, want %d", code, exitRejected)
	}
	var doc validateDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
	}
	if doc.OK || doc.File != path || len(doc.Problems) < 3 || doc.Problems[0].Line == 0 || doc.Problems[0].Path == "" {
		t.Errorf("got %+v, want not ok with located problems", doc)
	}

	good := writeFile(t, "ferry.yaml", goodSpec)
	stdout, _, code = ferry(t, "-o", "json", "validate", good)
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != exitOK || !doc.OK || doc.Problems == nil || len(doc.Problems) != 0 {
		t.Errorf("good spec: got code %d doc %+v (%v), want ok with an empty problem list", code, doc, err)
	}
}

func TestValidateUsage(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name    string
		args    []string
		message string
	}{
		{"no file", []string{"validate"}, "ferry: missing FILE\n"},
		{"two files", []string{"validate", "a.yaml", "b.yaml"}, "ferry: unexpected argument \"b.yaml\"\n"},
		{"missing file", []string{"validate", "nope/ferry.yaml"}, "ferry: nope/ferry.yaml: no such file\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := ferry(t, tt.args...)
			if code != exitRejected || !strings.HasPrefix(stderr, tt.message) || !strings.Contains(stderr, "\nhint: ") {
				t.Errorf("got code %d stderr %q, want %d and %q with a hint", code, stderr, exitRejected, tt.message)
			}
		})
	}
}

// writeProgram writes an executable script at path.
func writeProgram(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestValidateWarnsMissingProgram(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "ferry.yaml", goodSpec+"    checks:\n      smoke: [{exec: [scripts/smoke.sh]}, {exec: [curl, -f, x]}]\n")
	dir := filepath.Dir(path)
	stdout, stderr, code := ferry(t, "validate", path)
	want := []string{
		"warning: " + path + `: platform.exec.deploy[0]: program "./platform.sh" does not exist in ` + dir + "\n",
		"warning: " + path + `: platform.exec.rollback[0]: program "./platform.sh" does not exist in ` + dir + "\n",
		"warning: " + path + `: platform.exec.remove[0]: program "./platform.sh" does not exist in ` + dir + "\n",
		"warning: " + path + `: environments[0].checks.smoke[0].exec[0]: program "scripts/smoke.sh" does not exist in ` + dir + "\n",
	}
	if code != exitOK || stdout != path+": ok\n" || stderr != strings.Join(want, "") {
		t.Errorf("got code %d stdout %q stderr:\n%s\nwant 0, ok and stderr:\n%s", code, stdout, stderr, strings.Join(want, ""))
	}
	stdout, _, code = ferry(t, "validate", path, "-o", "json")
	var doc validateDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != exitOK || !doc.OK || len(doc.Warnings) != 4 {
		t.Errorf("json: got code %d doc %+v (%v), want ok with 4 warnings", code, doc, err)
	}
	writeProgram(t, filepath.Join(dir, "platform.sh"))
	if err := os.Mkdir(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeProgram(t, filepath.Join(dir, "scripts", "smoke.sh"))
	if _, stderr, code := ferry(t, "validate", path); code != exitOK || stderr != "" {
		t.Errorf("programs present: got code %d stderr %q, want 0 and no warning", code, stderr)
	}
}

// An initialDelay as long as the bake would skip every measurement: validate refuses it, naming the bake.
func TestValidateInitialDelayLongerThanBake(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "ferry.yaml", `service: checkout
image: {repository: registry.local/checkout}
platform:
  exec: {deploy: [./platform.sh], setWeight: [./platform.sh], rollback: [./platform.sh], remove: [./platform.sh]}
environments:
  - name: production
    strategy:
      type: canary
      steps: [{weight: 10, bake: 1m}]
      analysis: {interval: 30s, initialDelay: 2m, metrics: [error-rate]}
metrics:
  error-rate: {query: 'sum(rate(errors[1m]))', max: 0.01}
`)
	writeProgram(t, filepath.Join(filepath.Dir(path), "platform.sh"))
	stdout, stderr, code := ferry(t, "validate", path)
	want := path + ":9: environments[0].strategy.steps[0].bake: must be at least analysis.initialDelay + analysis.interval (2m + 30s)"
	if code != exitRejected || stdout != "" || !strings.Contains(stderr, want) {
		t.Errorf("got code %d stdout %q stderr %q, want %d and %q", code, stdout, stderr, exitRejected, want)
	}
}
