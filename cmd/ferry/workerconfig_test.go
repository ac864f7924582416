package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/worker"
)

// workerPolicy parses args and env with the flags of `ferry worker` and returns the policy and configuration
// the worker would get.
func workerPolicy(t *testing.T, env map[string]string, args ...string) (activities.ExecPolicy, worker.Config) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var o WorkerOptions
	var policy activities.ExecPolicy
	var cfg worker.Config
	app := &cli.App{
		Writer: io.Discard, ErrWriter: io.Discard,
		Flags: append([]cli.Flag{configFlag(&o.Config)}, execFlags(&o.Exec, "")...),
		Action: func(*cli.Context) error {
			var err error
			policy, cfg, err = workerSetup("worker", configPath(o.Config), o.Exec, RouterAccess{}, false)
			return err
		},
	}
	if err := app.RunContext(context.Background(), append([]string{"ferry"}, args...)); err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return policy, cfg
}

func TestWorkerConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	fileRoot, envRoot, flagRoot := filepath.Join(dir, "file"), filepath.Join(dir, "env"), filepath.Join(dir, "flag")
	for _, d := range []string{fileRoot, envRoot, flagRoot} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "w.yaml")
	data := "exec:\n  root: file\n  allow: [fileprog]\n  env: [FILE_VAR]\nrouter:\n  admin: http://127.0.0.1:9090\n  token: tok-abc\n"
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"FILE_VAR": "f", "ENV_VAR": "e", "FLAG_VAR": "g", "PATH": "/bin", "HOME": "/home/ferry"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range vars {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	envOver := map[string]string{"FERRY_EXEC_ROOT": envRoot, "FERRY_EXEC_ALLOW": "envprog", "FERRY_EXEC_ENV": "ENV_VAR"}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		root     string
		allow    string
		lastEnv  string
		fromFile bool
	}{
		{"file", with(nil), []string{"--config", file}, fileRoot, "fileprog", "FILE_VAR=f", true},
		{"file named by env", with(map[string]string{"FERRY_WORKER_CONFIG": file}), nil, fileRoot, "fileprog", "FILE_VAR=f", true},
		{"env over file", with(envOver), []string{"--config", file}, envRoot, "envprog", "ENV_VAR=e", true},
		{"flags over env", with(envOver), []string{"--config", file, "--exec-root", flagRoot, "--exec-allow", "flagprog", "--exec-env", "FLAG_VAR"},
			flagRoot, "flagprog", "FLAG_VAR=g", true},
		{"no file", with(map[string]string{"FERRY_EXEC_ROOT": envRoot}), nil, envRoot, "", "HOME=/home/ferry", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(dir) // no ferry-worker.yaml here
			p, cfg := workerPolicy(t, tt.env, tt.args...)
			if p.Root != tt.root {
				t.Errorf("got root %q, want %q", p.Root, tt.root)
			}
			if want := []string{tt.allow}; tt.allow == "" && len(p.Allow) != 0 || tt.allow != "" && !slices.Equal(p.Allow, want) {
				t.Errorf("got allow %q, want %q", p.Allow, tt.allow)
			}
			if len(p.Env) == 0 || p.Env[len(p.Env)-1] != tt.lastEnv {
				t.Errorf("got env %q, want it to end with %q", p.Env, tt.lastEnv)
			}
			if got := cfg.Router.Admin != ""; got != tt.fromFile {
				t.Errorf("got router %q, want it from the file: %v", cfg.Router.Admin, tt.fromFile)
			}
		})
	}

	// Without --config, ./ferry-worker.yaml is read when it exists.
	t.Run("default file", func(t *testing.T) {
		wd := t.TempDir()
		if err := os.WriteFile(filepath.Join(wd, worker.DefaultConfigFile), []byte("exec:\n  root: .\n  allow: [defaultprog]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Chdir(wd)
		p, _ := workerPolicy(t, with(nil))
		if !slices.Equal(p.Allow, []string{"defaultprog"}) {
			t.Errorf("got allow %q, want [defaultprog] from ./%s", p.Allow, worker.DefaultConfigFile)
		}
	})
}

// A configuration file that cannot be used stops `ferry worker` before it dials, with the line at fault, and
// never with a secret from the file.
func TestWorkerConfigErrors(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("router:\n  token: tok-secret-123\n  admn: http://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := ferry(t, "worker", "--config", bad, "--exec-root", dir)
	if code != exitRejected || !strings.Contains(stderr, bad+" has 1 problem") || !strings.Contains(stderr, bad+`: line 3: unknown key "admn"`) {
		t.Errorf("got %d %q, want the unknown key and its line", code, stderr)
	}
	if strings.Contains(stderr, "tok-secret-123") {
		t.Errorf("got %q, want it without the token", stderr)
	}
	missing := filepath.Join(dir, "missing.yaml")
	_, stderr, code = ferry(t, "worker", "--config", missing)
	if code != exitRejected || !strings.HasPrefix(stderr, "ferry: --config "+missing+": no such file\n") {
		t.Errorf("got %d %q, want a usage error naming the file", code, stderr)
	}
}
