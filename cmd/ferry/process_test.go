package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runMainEnv makes the test binary run main() instead of the tests, so that a test can run ferry as a process
// of its own: for signals and for resource usage.
const runMainEnv = "FERRY_TEST_RUN_MAIN"

// peakRSSEnv names a file where the process run with runMainEnv writes its peak RSS in KB (VmHWM) before it
// exits. The rusage of a child is no use here: Linux carries the parent's peak into a child started with vfork.
const peakRSSEnv = "FERRY_TEST_PEAK_RSS_FILE"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Args = append([]string{"ferry"}, os.Args[1:]...)
		code := mainCode()
		if file := os.Getenv(peakRSSEnv); file != "" {
			status, _ := os.ReadFile("/proc/self/status")
			for _, line := range strings.Split(string(status), "\n") {
				if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					_ = os.WriteFile(file, []byte(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB"))), 0o644)
				}
			}
		}
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// ferryCommand returns ferry args as a process.
func ferryCommand(t *testing.T, ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

// TestValidateStopsOnSignal reads the spec from a pipe that never closes: the process must stop on the first
// SIGINT or SIGTERM.
func TestValidateStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := ferryCommand(t, ctx, "validate", "/dev/stdin")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond) // let it install its signal handler and block on the read
			sent := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			took := time.Since(sent)
			if ctx.Err() != nil {
				t.Fatalf("ferry validate did not stop on %s", sig)
			}
			if code := cmd.ProcessState.ExitCode(); code != exitError || !strings.Contains(stderr.String(), "ferry: interrupted\n") {
				t.Errorf("got exit %d (%v) stderr %q, want %d and interrupted", code, err, stderr.String(), exitError)
			}
			if took > 2*time.Second {
				t.Errorf("took %s to stop, want under 2s", took)
			}
		})
	}
}

// TestValidateHostileProcess runs `ferry validate` as a process on every hostile spec, and on a few too large
// for testdata, and bounds its wall time and maximum RSS.
func TestValidateHostileProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs a process per spec")
	}
	const (
		maxWall = 2 * time.Second // process start included; the parse itself is bounded at 1s in internal/spec
		maxRSS  = 200 << 20
	)
	files, err := filepath.Glob("../../testdata/specs/hostile/*.yaml")
	if err != nil || len(files) < 20 {
		t.Fatalf("got %d hostile specs (%v), want at least 20", len(files), err)
	}
	dir := t.TempDir()
	big := map[string]string{
		"5mb-name.yaml":   "service: " + strings.Repeat("x", 5<<20) + "\n",
		"900kb-name.yaml": "service: " + strings.Repeat("x", 900<<10) + "\n",
		"2000-aliases.yaml": "environments:\n  - &big {name: a, config: {" + flowKeys(1000) + "}}\n" +
			strings.Repeat("  - *big\n", 2000),
	}
	for name, content := range big {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	files = append(files, "/dev/zero")
	var worstWall time.Duration
	var worstRSS int64
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := ferryCommand(t, ctx, "validate", file)
			rssFile := filepath.Join(t.TempDir(), "rss")
			cmd.Env = append(cmd.Env, peakRSSEnv+"="+rssFile)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			_ = cmd.Run()
			wall := time.Since(start)
			code := cmd.ProcessState.ExitCode()
			if code != exitOK && code != exitRejected {
				t.Errorf("got exit %d, want 0 or 2; stderr:\n%.2000s", code, stderr.String())
			}
			if strings.Contains(stderr.String(), "panic") || stderr.Len() > 20000 {
				t.Errorf("got %d bytes of stderr, want a short verdict without panic:\n%.2000s", stderr.Len(), stderr.String())
			}
			kb, err := os.ReadFile(rssFile)
			if err != nil {
				t.Fatalf("no peak RSS reported: %v", err)
			}
			rss, err := strconv.ParseInt(string(kb), 10, 64)
			if err != nil {
				t.Fatalf("peak RSS %q: %v", kb, err)
			}
			rss <<= 10
			worstWall, worstRSS = max(worstWall, wall), max(worstRSS, rss)
			t.Logf("%s, %d MB max RSS, exit %d", wall.Round(time.Millisecond), rss>>20, code)
			if wall > maxWall || rss > maxRSS {
				t.Errorf("took %s and %d MB RSS, want under %s and %d MB", wall, rss>>20, maxWall, maxRSS>>20)
			}
		})
	}
	t.Logf("worst of %d specs: %s wall, %d MB max RSS", len(files), worstWall, worstRSS>>20)
}

func flowKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "k%d: v, ", i)
	}
	return b.String()
}
