package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/urfave/cli/v2"
)

// ferry runs the CLI in-process, as a user would, and returns what it printed and its exit code.
func ferry(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"ferry"}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

// clearEnv unsets every environment variable a ferry flag reads, for the duration of the test, so that the
// machine's environment cannot leak into flag defaults.
func clearEnv(t *testing.T) {
	t.Helper()
	// The key set itself may come from the environment without a flag.
	t.Setenv(codecKeysEnv, "")
	os.Unsetenv(codecKeysEnv)
	app := newApp(&GlobalOptions{})
	flags := app.Flags
	for _, c := range app.Commands {
		flags = append(flags, c.Flags...)
	}
	for _, f := range flags {
		if d, ok := f.(cli.DocGenerationFlag); ok {
			for _, name := range d.GetEnvVars() {
				t.Setenv(name, "")
				os.Unsetenv(name)
			}
		}
	}
}

const goodSpec = `service: hello
image: {repository: registry.example.com/hello}
platform:
  exec:
    deploy: [./platform.sh, deploy, "{{.Env}}", "{{.Track}}", "{{.Version}}"]
    rollback: [./platform.sh, rollback, "{{.Env}}", "{{.StableVersion}}"]
    remove: [./platform.sh, remove, "{{.Env}}", "{{.Track}}", "{{.Version}}"]
environments:
  - name: staging
`

const badSpec = `service: Hello
image: {repository: registry.example.com/hello}
platform:
  exec:
    deploy: [./platform.sh, deploy, "{{.Verison}}"]
environments:
  - name: staging
    strategy: {type: sideways}
`

// writeFile writes content to name in a fresh directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a bytes.Buffer a command running in another goroutine can write while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
