package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// listen holds a loopback TCP port for the test and returns it.
func listen(t *testing.T, port int) (int, bool) {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return 0, false
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port, true
}

// ferryCtx is ferry with a deadline, for commands that would otherwise run until interrupted.
func ferryCtx(t *testing.T, timeout time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out, errOut syncBuffer
	code = run(ctx, append([]string{"ferry"}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestDevPortInUse(t *testing.T) {
	clearEnv(t)
	frontend, _ := listen(t, 0)
	_, stderr, code := ferryCtx(t, 30*time.Second, "dev", "--port", fmt.Sprint(frontend), "--ui-port", "-1", "--no-worker")
	want := fmt.Sprintf("ferry: port %d (Temporal frontend) is already in use\nhint: pass --port", frontend)
	if code != exitRejected || !strings.HasPrefix(stderr, want) {
		t.Errorf("frontend: got exit %d stderr %q, want %d and %q", code, stderr, exitRejected, want)
	}

	ui, _ := listen(t, 0)
	_, stderr, code = ferryCtx(t, 30*time.Second, "dev", "--port", "0", "--ui-port", fmt.Sprint(ui), "--no-worker")
	want = fmt.Sprintf("ferry: port %d (Web UI) is already in use\nhint: pass --port", ui)
	if code != exitRejected || !strings.HasPrefix(stderr, want) {
		t.Errorf("ui: got exit %d stderr %q, want %d and %q", code, stderr, exitRejected, want)
	}
}

// Without --ui-port, the Web UI listens at --port + 1000: holding that port makes `ferry dev --port P` fail on
// it, where a fixed default would have tried 8233.
func TestDevUIPortFollowsPort(t *testing.T) {
	clearEnv(t)
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close() // free for the server
		if port+1000 > 65535 {
			continue
		}
		if _, ok := listen(t, port+1000); !ok {
			continue
		}
		_, stderr, code := ferryCtx(t, 30*time.Second, "dev", "--port", fmt.Sprint(port), "--no-worker")
		want := fmt.Sprintf("ferry: port %d (Web UI) is already in use\n", port+1000)
		if code != exitRejected || !strings.HasPrefix(stderr, want) {
			t.Errorf("got exit %d stderr %q, want %d and %q", code, stderr, exitRejected, want)
		}
		return
	}
	t.Fatal("found no free pair of ports P and P+1000")
}
