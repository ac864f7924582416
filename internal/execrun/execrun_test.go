package execrun

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/execrun/exectest"
)

func TestRunExitCodeAndOutput(t *testing.T) {
	res, err := Runner{}.Run(context.Background(), Command{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if err != nil {
		t.Fatalf("got error %v, want nil for a command that ran", err)
	}
	want := Result{ExitCode: 3, Status: "exit status 3", Output: "out\nerr\n"}
	if res != want {
		t.Errorf("got %+v, want %+v", res, want)
	}
}

func TestRunEnvAndDir(t *testing.T) {
	t.Setenv("FERRY_TEST_INHERITED", "inherited")
	t.Setenv("FERRY_TEST_OVERRIDDEN", "old")
	dir := t.TempDir()
	res, err := Runner{}.Run(context.Background(), Command{
		Argv: []string{"sh", "-c", `echo "$PWD $FERRY_TEST_INHERITED $FERRY_TEST_OVERRIDDEN $FERRY_TEST_ADDED"`},
		Dir:  dir,
		Env:  []string{"FERRY_TEST_OVERRIDDEN=new", "FERRY_TEST_ADDED=added"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := dir + " inherited new added\n"; res.Output != want {
		t.Errorf("got output %q, want %q", res.Output, want)
	}
}

// With CleanEnv the command gets Env and nothing else, and its bare program name is looked up in Env's PATH.
func TestRunCleanEnv(t *testing.T) {
	t.Setenv("FERRY_TEST_INHERITED", "inherited")
	bin := t.TempDir()
	exectest.Script(t, bin, "show-env", `echo "passed=$PASSED inherited=${FERRY_TEST_INHERITED-unset}"`)
	cmd := Command{Argv: []string{"show-env"}, Env: []string{"PATH=" + bin + ":/usr/bin:/bin", "PASSED=yes"}, CleanEnv: true}
	res, err := Runner{}.Run(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	if want := "passed=yes inherited=unset\n"; res.Output != want {
		t.Errorf("got output %q, want %q", res.Output, want)
	}
	// The process's own PATH does not find programs for a command with its own environment.
	cmd = Command{Argv: []string{"sh", "-c", "true"}, Env: []string{"PATH=" + bin}, CleanEnv: true}
	if _, err := (Runner{}).Run(context.Background(), cmd); !errors.Is(err, ErrNotRunnable) {
		t.Errorf("got %v, want ErrNotRunnable for a program not in the command's PATH", err)
	}
}

func TestRunRelativeProgramResolvesAgainstDir(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "bin/tool.sh", "echo tool \"$@\"\n")
	res, err := Runner{}.Run(context.Background(), Command{Argv: []string{"./bin/tool.sh", "a"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.Output != "tool a\n" {
		t.Errorf("got %+v, want exit 0 and output %q", res, "tool a\n")
	}
}

func TestRunNotRunnable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plain.txt"), []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	exectest.Script(t, dir, "ok.sh", "exit 0\n")
	tests := []struct {
		name string
		cmd  Command
	}{
		{"empty argv", Command{}},
		{"not in PATH", Command{Argv: []string{"ferry-no-such-program"}}},
		{"missing relative path", Command{Argv: []string{"./missing.sh"}, Dir: dir}},
		{"missing absolute path", Command{Argv: []string{filepath.Join(dir, "missing.sh")}}},
		{"not executable", Command{Argv: []string{"./plain.txt"}, Dir: dir}},
		{"missing directory", Command{Argv: []string{"./ok.sh"}, Dir: filepath.Join(dir, "gone")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Runner{}.Run(context.Background(), tt.cmd)
			if !errors.Is(err, ErrNotRunnable) {
				t.Errorf("got error %v, want ErrNotRunnable", err)
			}
		})
	}
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "group.sh", exectest.GroupScript)
	start := time.Now()
	res, err := Runner{}.Run(context.Background(), Command{Argv: []string{"./group.sh"}, Dir: dir, Timeout: 500 * time.Millisecond})
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s, want the timeout to end the run at once", elapsed)
	}
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got error %v, want ErrTimeout", err)
	}
	if got, want := err.Error(), "command timed out after 500ms"; got != want {
		t.Errorf("got error %q, want %q", got, want)
	}
	if res.Output != "started\n" {
		t.Errorf("got output %q, want the output before the kill", res.Output)
	}
	exectest.AssertGone(t, exectest.WaitForPid(t, filepath.Join(dir, "child.pid")))
}

func TestRunCancelKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "group.sh", exectest.GroupScript)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Runner{}.Run(ctx, Command{Argv: []string{"./group.sh"}, Dir: dir})
		done <- err
	}()
	child := exectest.WaitForPid(t, filepath.Join(dir, "child.pid"))
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within 5s of the cancellation")
	}
	exectest.AssertGone(t, child)
}

// A cancelled command gets SIGTERM and time to wind down, and Run returns only once it has: whoever cancelled it
// may rely on it being over.
func TestRunCancelLetsCommandWindDown(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "graceful.sh", "trap 'sleep 0.5; echo cleaned up; exit 143' TERM\necho $$ > leader.pid\n"+
		"while :; do sleep 0.1; done\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Runner{StopGrace: 10 * time.Second}.Run(ctx, Command{Argv: []string{"./graceful.sh"}, Dir: dir})
		done <- outcome{res, err}
	}()
	leader := exectest.WaitForPid(t, filepath.Join(dir, "leader.pid"))
	cancel()
	select {
	case o := <-done:
		if !errors.Is(o.err, context.Canceled) {
			t.Errorf("got error %v, want context.Canceled", o.err)
		}
		if !strings.HasSuffix(o.res.Output, "cleaned up\n") || o.res.ExitCode != 143 {
			t.Errorf("got %+v, want exit 143 and the output of the TERM trap", o.res)
		}
		if exectest.Alive(leader) {
			t.Error("Run returned while the command still ran")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within 5s of the cancellation")
	}
}

// A command that ignores SIGTERM is killed once the grace period is over.
func TestRunCancelKillsAfterGrace(t *testing.T) {
	dir := t.TempDir()
	exectest.Script(t, dir, "stubborn.sh", "trap '' TERM\necho $$ > leader.pid\nwhile :; do sleep 0.1; done\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Runner{StopGrace: 500 * time.Millisecond}.Run(ctx, Command{Argv: []string{"./stubborn.sh"}, Dir: dir})
		done <- err
	}()
	leader := exectest.WaitForPid(t, filepath.Join(dir, "leader.pid"))
	time.Sleep(100 * time.Millisecond) // let the trap be set
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v, want context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed < 400*time.Millisecond {
			t.Errorf("returned %s after the cancellation, want the 500ms grace period first", elapsed)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within 5s of the cancellation")
	}
	exectest.AssertGone(t, leader)
}

// TestRunCommandDiesWithCaller kills, as a crash would, a process that runs a command: the command must not
// outlive it. The test runs itself as that process.
func TestRunCommandDiesWithCaller(t *testing.T) {
	if dir := os.Getenv("EXECRUN_TEST_CALLER_DIR"); dir != "" {
		_, _ = Runner{}.Run(context.Background(), Command{Argv: []string{"./leader.sh"}, Dir: dir})
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("only Linux ties a command's life to its parent's")
	}
	dir := t.TempDir()
	exectest.Script(t, dir, "leader.sh", "echo $$ > leader.pid\nwhile :; do sleep 0.1; done\n")
	caller := exec.Command(os.Args[0], "-test.run=^TestRunCommandDiesWithCaller$")
	caller.Env = append(os.Environ(), "EXECRUN_TEST_CALLER_DIR="+dir)
	if err := caller.Start(); err != nil {
		t.Fatal(err)
	}
	leader := exectest.WaitForPid(t, filepath.Join(dir, "leader.pid"))
	defer syscall.Kill(leader, syscall.SIGKILL)
	_ = caller.Process.Kill()
	_ = caller.Wait()
	exectest.AssertGone(t, leader)
}

func TestRunBackgroundChildHoldingOutput(t *testing.T) {
	dir := t.TempDir()
	// The child inherits stdout and outlives the script, as a carelessly started daemon would.
	exectest.Script(t, dir, "daemon.sh", "sleep 30 &\necho $! > child.pid\necho launched\n")
	start := time.Now()
	res, err := Runner{}.Run(context.Background(), Command{Argv: []string{"./daemon.sh"}, Dir: dir})
	child := exectest.WaitForPid(t, filepath.Join(dir, "child.pid"))
	defer syscall.Kill(child, syscall.SIGKILL)
	if err != nil {
		t.Fatalf("got error %v, want nil: the script itself exited 0", err)
	}
	if elapsed := time.Since(start); elapsed > pipeGrace+3*time.Second {
		t.Errorf("took %s, want at most about pipeGrace (%s)", elapsed, pipeGrace)
	}
	if res.ExitCode != 0 || res.Output != "launched\n" {
		t.Errorf("got %+v, want exit 0 and output %q", res, "launched\n")
	}
	if !exectest.Alive(child) {
		t.Error("the background child was killed, want it left running after a normal exit")
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"short", 16, []string{"a\n", "b\n"}, "a\nb\n"},
		{"exactly full", 4, []string{"a\nb\n"}, "a\nb\n"},
		{"cut at the next line", 6, []string{"first\nsecond\nthird\n"}, "third\n"},
		{"many small writes", 4, []string{"1\n", "2\n", "3\n", "4\n", "5\n", "6\n", "7\n"}, "6\n7\n"},
		{"one long line keeps its end", 4, []string{"abcdefgh"}, "efgh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &tail{max: tt.max}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write returned %d, %v; want %d, nil", n, err, len(s))
				}
			}
			if got := w.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRunKeepsOutputTail(t *testing.T) {
	// 2000 numbered lines are far more than OutputTail; the tail must end with the last one.
	res, err := Runner{}.Run(context.Background(), Command{Argv: []string{"sh", "-c", "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo line $i; done"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) > OutputTail {
		t.Errorf("got %d bytes of output, want at most %d", len(res.Output), OutputTail)
	}
	if !strings.HasSuffix(res.Output, "line 1999\nline 2000\n") || !strings.HasPrefix(res.Output, "line ") {
		t.Errorf("got output starting %q and ending %q, want whole lines ending with line 2000",
			res.Output[:12], res.Output[len(res.Output)-12:])
	}
}
