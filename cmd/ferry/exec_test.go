package main

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestExecPolicyFromFlags(t *testing.T) {
	root := t.TempDir()
	t.Setenv("PATH", "/usr/bin:/bin")
	t.Setenv("HOME", "/home/ferry")
	t.Setenv("KUBECONFIG", "/etc/kube/config")
	t.Setenv("WORKER_ONLY", "not for commands")

	// ferry worker: nothing allowed unless said so; PATH, HOME and the named variables only.
	o := ExecOptions{Root: root, Env: *cli.NewStringSlice("KUBECONFIG", "UNSET_VAR")}
	p, err := o.policy("worker", false)
	if err != nil {
		t.Fatal(err)
	}
	if p.Root != root || len(p.Allow) != 0 {
		t.Errorf("worker: got root %q allow %q, want %q and nothing", p.Root, p.Allow, root)
	}
	if want := []string{"PATH=/usr/bin:/bin", "HOME=/home/ferry", "KUBECONFIG=/etc/kube/config"}; !slices.Equal(p.Env, want) {
		t.Errorf("worker: got env %q, want %q", p.Env, want)
	}

	// ferry dev: everything below the root, unless --exec-allow says otherwise.
	if p, err = (ExecOptions{Root: root}).policy("dev", true); err != nil || !slices.Equal(p.Allow, []string{filepath.Join(root, "**")}) {
		t.Errorf("dev: got allow %q (%v), want everything below %s", p.Allow, err, root)
	}
	if p, err = (ExecOptions{Root: root, Allow: *cli.NewStringSlice("kubectl")}).policy("dev", true); err != nil || !slices.Equal(p.Allow, []string{"kubectl"}) {
		t.Errorf("dev with --exec-allow: got allow %q (%v), want [kubectl]", p.Allow, err)
	}

	for name, o := range map[string]ExecOptions{
		"missing root":  {Root: filepath.Join(root, "nope")},
		"bad pattern":   {Root: root, Allow: *cli.NewStringSlice("/srv/[")},
		"bad env name":  {Root: root, Env: *cli.NewStringSlice("NOT=A NAME")},
		"empty pattern": {Root: root, Allow: *cli.NewStringSlice(" ")},
		"relative path": {Root: root, Allow: *cli.NewStringSlice("bin/*")},
	} {
		_, err := o.policy("worker", false)
		var usage *usageError
		if !errors.As(err, &usage) {
			t.Errorf("%s: got %v, want a usage error", name, err)
		}
	}
}

// A spec whose platform.exec.dir leaves its directory is refused before anything is sent: no worker could
// resolve it against its exec root.
func TestStartRefusesDirOutsideSpec(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "ferry.yaml", strings.Replace(goodSpec, "  exec:\n", "  exec:\n    dir: ../elsewhere\n", 1))
	_, stderr, code := ferry(t, "start", "--spec", path, "--version", "1.0.0", "--git-sha", "abc1234", "--address", "127.0.0.1:1")
	if code != exitRejected || !strings.Contains(stderr, "platform.exec.dir: ") || !strings.Contains(stderr, "/elsewhere\" is outside the spec's directory") {
		t.Errorf("got %d %q, want %d and the problem with platform.exec.dir", code, stderr, exitRejected)
	}
}
